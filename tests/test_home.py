from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.errors import HomeError
from appliance.home import SUBDIRS, DataHome, safe_name
from appliance.settings import Settings


def test_layout_creates_every_directory_and_default_sources(tmp_path: Path) -> None:
    home = DataHome(tmp_path / "h")
    home.layout()
    assert all((home.root / d).is_dir() for d in SUBDIRS)
    assert home.layout() == []  # idempotent


def test_edited_default_sources_are_not_overwritten(home: DataHome) -> None:
    mine = home.dir("sources") / "mine.toml"
    mine.write_text("# edited")
    home.layout()
    assert mine.read_text() == "# edited"


@pytest.mark.parametrize("parts", [("..", "x"), ("lake", "..", "..", "etc"), ("/etc/passwd",)])
def test_paths_cannot_leave_the_home(home: DataHome, parts: tuple[str, ...]) -> None:
    with pytest.raises(HomeError, match="would leave the data home"):
        home.inside(*parts)


def test_symlinks_out_of_the_home_are_refused(home: DataHome, tmp_path: Path) -> None:
    (home.root / "lake" / "escape").symlink_to(tmp_path)
    with pytest.raises(HomeError):
        home.inside("lake", "escape", "x")


@given(st.text(max_size=40))
def test_safe_names_never_contain_path_syntax(name: str) -> None:
    try:
        ok = safe_name(name)
    except HomeError:
        return
    assert "/" not in ok and "\\" not in ok and ".." not in ok and not ok.startswith(".")


def test_settings_prefer_the_flag_then_the_environment(tmp_path: Path) -> None:
    env = {"APPLIANCE_HOME": str(tmp_path / "env")}
    assert Settings.from_environ(tmp_path / "flag", env).home == (tmp_path / "flag").resolve()
    assert Settings.from_environ(None, env).home == (tmp_path / "env").resolve()
