from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlite_utils import Database

from appliance.home import DataHome
from appliance.store.db import connect


@pytest.fixture
def home(tmp_path: Path) -> DataHome:
    home = DataHome(tmp_path / "home")
    home.layout()
    connect(home.db_path).close()  # what `appliance init` does
    return home


@pytest.fixture
def db(home: DataHome) -> Iterator[Database]:
    database = connect(home.db_path)
    yield database
    database.close()


@dataclass(frozen=True)
class CliOutcome:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(home: DataHome, capsys: pytest.CaptureFixture[str]) -> Callable[..., CliOutcome]:
    """Run `appliance --home HOME ARGS...` in-process through the real entry point."""
    from appliance.cli.main import main

    def run(*args: str) -> CliOutcome:
        capsys.readouterr()
        try:
            main(["--home", str(home.root), *args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliOutcome(code, captured.out, captured.err)

    return run


def write_schema(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
