"""The installer's parts, without building a real bundle: manifests, archives, targets,
the wheelhouse cache, templates, the prefix layout, and the refusals that come before
anything is installed. The full build-and-install runs are in test_installer_bundle.py."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from installer import manifest
from installer.appwheel import SOURCE_DATE_EPOCH, source_files
from installer.archive import Entry, extract_archive, write_archive
from installer.bundle import BundleInfo
from installer.errors import (
    BuildFailed,
    BundleMismatch,
    BundleTampered,
    InstallFailed,
)
from installer.install import InstallOptions, install_bundle
from installer.layout import Prefix
from installer.progress import quiet
from installer.service import render_template
from installer.target import Target
from installer.uninstall import uninstall
from installer.wheelhouse import (
    KEEP_CACHED,
    cache_key,
    fetch_wheelhouse,
    read_project,
    requirement_name,
)

REPO = Path(__file__).resolve().parents[1]
HERE_PY = f"{sys.version_info.major}.{sys.version_info.minor}"


# --- manifests --------------------------------------------------------------------------

_part = st.text(alphabet="abcXYZ019_-.", min_size=1, max_size=10).filter(
    lambda s: s not in {".", ".."}
)


@given(
    st.dictionaries(
        st.lists(_part, min_size=1, max_size=3).map("/".join),
        st.binary(max_size=16).map(lambda b: hashlib.sha256(b).hexdigest()),
    )
)
def test_a_manifest_round_trips_in_sha256sum_format(hashes: dict[str, str]) -> None:
    text = manifest.render(hashes)
    assert manifest.parse(text) == hashes
    assert all(len(line.split("  ", 1)[0]) == 64 for line in text.splitlines())


@pytest.mark.parametrize(
    "line", ["nothex  a.whl", "0" * 64 + " a.whl", "0" * 64 + "  /etc/x", "0" * 64 + "  ../x"]
)
def test_a_malformed_manifest_line_is_named(line: str) -> None:
    with pytest.raises(BundleTampered, match="line 2 is malformed"):
        manifest.parse("0" * 64 + "  ok.whl\n" + line + "\n")


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / manifest.MANIFEST).write_text(manifest.render(manifest.hash_tree(root)))
    return root


def test_verify_tree_names_a_changed_missing_unlisted_or_linked_file(tmp_path: Path) -> None:
    root = _tree(tmp_path / "b", {"wheelhouse/a.whl": b"A" * 1000, "install.sh": b"#!/bin/sh\n"})
    assert manifest.verify_tree(root) == 2
    (root / "installer" / "__pycache__").mkdir(parents=True)
    (root / "installer" / "__pycache__" / "x.pyc").write_bytes(b"cache")  # Python's, ignored
    assert manifest.verify_tree(root) == 2

    data = bytearray((root / "wheelhouse/a.whl").read_bytes())
    data[500] ^= 0x20
    (root / "wheelhouse/a.whl").write_bytes(bytes(data))
    with pytest.raises(BundleTampered, match=r"^wheelhouse/a\.whl has SHA-256 .*nothing was"):
        manifest.verify_tree(root)
    (root / "wheelhouse/a.whl").write_bytes(b"A" * 1000)

    (root / "wheelhouse/evil-9.9-py3-none-any.whl").write_bytes(b"planted")
    with pytest.raises(BundleTampered, match=r"evil-9\.9-py3-none-any\.whl is in the bundle but"):
        manifest.verify_tree(root)
    (root / "wheelhouse/evil-9.9-py3-none-any.whl").unlink()

    (root / "install.sh").unlink()
    with pytest.raises(BundleTampered, match=r"install\.sh is listed in MANIFEST\.sha256 but miss"):
        manifest.verify_tree(root)
    os.symlink("/etc/hostname", root / "install.sh")
    with pytest.raises(BundleTampered, match=r"install\.sh is a symbolic link"):
        manifest.verify_tree(root)


# --- archives -----------------------------------------------------------------------------


def _entries(tmp: Path) -> list[Entry]:
    (tmp / "w.whl").write_bytes(os.urandom(50_000))
    return [
        Entry("wheelhouse/w.whl", source=tmp / "w.whl"),
        Entry("install.sh", data=b"#!/bin/sh\necho hi\n", executable=True),
        Entry("a/b/c.txt", data=b"deep"),
    ]


def test_the_same_entries_give_the_same_archive_bytes(tmp_path: Path) -> None:
    entries = _entries(tmp_path)
    write_archive(entries, "top", tmp_path / "one.tar.gz")
    os.utime(tmp_path / "w.whl", (1e9, 1e9))  # file times must not leak into the archive
    time.sleep(1.1)  # nor the clock (gzip header, tar mtimes)
    write_archive(list(reversed(entries)), "top", tmp_path / "two.tar.gz")
    one, two = ((tmp_path / n).read_bytes() for n in ("one.tar.gz", "two.tar.gz"))
    assert one == two
    with tarfile.open(tmp_path / "one.tar.gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == ["top", "top/a", "top/a/b", "top/wheelhouse", "top/a/b/c.txt",
                     "top/install.sh", "top/wheelhouse/w.whl"]  # fmt: skip
    assert {m.mtime for m in members} == {SOURCE_DATE_EPOCH}
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    modes = {m.name: m.mode for m in members}
    assert modes["top/install.sh"] == 0o755 and modes["top/a/b/c.txt"] == 0o644
    assert one[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME field


def test_an_archive_unpacks_to_its_one_top_folder(tmp_path: Path) -> None:
    write_archive(_entries(tmp_path), "top", tmp_path / "b.tar.gz")
    top = extract_archive(tmp_path / "b.tar.gz", tmp_path / "out")
    assert top == tmp_path / "out" / "top"
    assert (top / "a" / "b" / "c.txt").read_bytes() == b"deep"
    assert os.access(top / "install.sh", os.X_OK)


def test_an_archive_with_a_link_or_two_tops_is_refused(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "link.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("top/install.sh")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(BundleTampered, match="is a link or device"):
        extract_archive(tmp_path / "link.tar.gz", tmp_path / "o1")
    with tarfile.open(tmp_path / "two.tar.gz", "w:gz") as tar:
        for name in ("a/x", "b/y"):
            tar.addfile(tarfile.TarInfo(name))
    with pytest.raises(BundleTampered, match="one top folder"):
        extract_archive(tmp_path / "two.tar.gz", tmp_path / "o2")
    (tmp_path / "junk.tar.gz").write_bytes(b"not gzip at all")
    with pytest.raises(BundleTampered, match="not a readable bundle"):
        extract_archive(tmp_path / "junk.tar.gz", tmp_path / "o3")


@pytest.mark.parametrize("path", ["/etc/x", "../x", "a/../../x", ""])
def test_an_entry_cannot_leave_the_bundle(path: str) -> None:
    with pytest.raises(ValueError, match="must be relative"):
        Entry(path, data=b"")


# --- targets and the wheelhouse ---------------------------------------------------------------


def test_a_target_names_the_bundle_and_sets_pip_flags() -> None:
    here = Target("3.11", (), "linux_x86_64")
    assert (here.py_tag, here.platform_name) == ("py311", "linux_x86_64")
    assert here.pip_flags("3.11") == ["--only-binary=:all:"]
    other = Target("3.12", ("manylinux_2_28_aarch64", "manylinux2014_aarch64"), "linux_x86_64")
    assert other.platform_name == "manylinux_2_28_aarch64"
    assert other.pip_flags("3.11") == [
        "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
        "--platform", "manylinux_2_28_aarch64", "--platform", "manylinux2014_aarch64",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("python", "platforms", "message"),
    [("3", (), "major.minor"), ("2.7", (), "major.minor"), ("3.11", ("linux x86",), "pip tag")],
)
def test_a_bad_target_is_refused(python: str, platforms: tuple[str, ...], message: str) -> None:
    with pytest.raises(BuildFailed, match=message):
        Target(python, platforms, "linux_x86_64")


@pytest.mark.parametrize(
    ("bundle", "running", "message"),
    [
        (Target("3.12", (), "linux_x86_64"), ("3.11", "x86_64", "linux"), "for Python 3.12"),
        (Target("3.11", ("manylinux_2_28_aarch64",), "x"), ("3.11", "x86_64", "linux"), "aarch64"),
        (Target("3.11", (), "macosx_14_0_arm64"), ("3.11", "arm64", "linux"), "runs linux"),
    ],
)
def test_a_bundle_for_another_machine_is_refused(
    bundle: Target, running: tuple[str, str, str], message: str
) -> None:
    with pytest.raises(BundleMismatch, match=message):
        bundle.check_runs_on(*running)
    Target("3.11", ("manylinux_2_28_x86_64",), "x").check_runs_on("3.11", "x86_64", "linux")


def test_the_runtime_requirements_are_the_projects_and_never_tensorflow(tmp_path: Path) -> None:
    project = read_project(REPO / "pyproject.toml")
    names = {requirement_name(r) for r in project["dependencies"]}
    assert {"xgboost-cpu", "pyarrow", "click"} <= names
    # scikit-learn is a runtime dependency on purpose: customer segments train on site
    assert not names & {"tensorflow-cpu", "pytest", "hypothesis", "pandas", "onnx"}
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[project]\nname = "x"\nversion = "1"\ndependencies = ["tensorflow>=2"]\n')
    with pytest.raises(BuildFailed, match="'tensorflow>=2' is training-only"):
        read_project(bad)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("xgboost-cpu>=3.0", "xgboost-cpu"),
        ("Jinja2 >= 3.1", "jinja2"),
        ("ai_edge.litert", "ai-edge-litert"),
    ],
)
def test_requirement_names_are_normalised(text: str, name: str) -> None:
    assert requirement_name(text) == name


def test_the_cache_key_follows_requirements_and_target_not_their_order() -> None:
    here = Target("3.11", (), "linux_x86_64")
    assert cache_key(["a>=1", "b"], here) == cache_key(["b", "a>=1"], here)
    assert cache_key(["a>=1", "b"], here) != cache_key(["a>=2", "b"], here)
    assert cache_key(["a"], here) != cache_key(["a"], Target("3.12", (), "linux_x86_64"))


class FakePip:
    """Stands in for `pip download` (which needs the package mirror): writes fake wheels."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, requirements: Sequence[str], target: Target, folder: Path) -> None:
        self.calls += 1
        for r in requirements:
            (folder / f"{requirement_name(r).replace('-', '_')}-1.0-py3-none-any.whl").write_bytes(
                r.encode() * 100
            )


def test_the_wheelhouse_is_downloaded_once_then_reused_and_checked(tmp_path: Path) -> None:
    pip, target, lines = FakePip(), Target("3.11", (), "linux_x86_64"), []
    first = fetch_wheelhouse(["alpha>=1", "beta"], target, tmp_path, lines.append, download=pip)
    again = fetch_wheelhouse(["beta", "alpha>=1"], target, tmp_path, lines.append, download=pip)
    assert first == again and pip.calls == 1
    assert sorted(p.name for p in first.glob("*.whl")) == [
        "alpha-1.0-py3-none-any.whl", "beta-1.0-py3-none-any.whl"]  # fmt: skip
    assert any("from the cache" in line for line in lines)
    (first / "beta-1.0-py3-none-any.whl").write_bytes(b"truncated")  # a damaged cache
    fetch_wheelhouse(["alpha>=1", "beta"], target, tmp_path, lines.append, download=pip)
    assert pip.calls == 2 and "beta-1.0-py3-none-any.whl changed" in lines[-2]
    assert (first / "beta-1.0-py3-none-any.whl").read_bytes() == b"beta" * 100
    fetch_wheelhouse(["alpha>=1", "beta"], target, tmp_path, quiet, download=pip, refresh=True)
    assert pip.calls == 3
    assert not list(tmp_path.glob(".*"))  # no partial folders left behind


def test_only_the_most_recently_used_wheelhouses_are_kept(tmp_path: Path) -> None:
    pip, target = FakePip(), Target("3.11", (), "linux_x86_64")
    folders = []
    for n in range(KEEP_CACHED + 2):
        folders.append(fetch_wheelhouse([f"pkg{n}"], target, tmp_path, quiet, download=pip))
        os.utime(folders[-1], (1e9 + n, 1e9 + n))  # distinct, increasing use times
    fetch_wheelhouse(["pkg0"], target, tmp_path, quiet, download=pip)  # pkg0 used again
    assert pip.calls == KEEP_CACHED + 3  # pkg0's had been pruned: downloaded again
    kept = {p.name for p in tmp_path.glob("wheelhouse-*")}
    assert len(kept) == KEEP_CACHED and folders[0].name in kept and folders[-1].name in kept


def test_a_tensorflow_wheel_pulled_in_is_refused(tmp_path: Path) -> None:
    def pip(_r: Sequence[str], _t: Target, folder: Path) -> None:
        (folder / "tensorflow_cpu-2.16.1-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"x")

    with pytest.raises(BuildFailed, match="TensorFlow never goes into the bundle"):
        fetch_wheelhouse(["x"], Target("3.11", (), "linux_x86_64"), tmp_path, quiet, download=pip)


def test_the_wheel_source_skips_caches_and_build_leftovers(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools.packages.find]\ninclude = ["pkg*"]\n'
    )
    for rel in ("pkg/__init__.py", "pkg/data.json", "pkg/__pycache__/m.cpython-311.pyc",
                "pkg/sub/__init__.py", "other/__init__.py", "build/lib/pkg/stale.py",
                "pkg/x.egg-info/PKG-INFO", "README.md"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    found = sorted(p.relative_to(tmp_path).as_posix() for p in source_files(tmp_path))
    assert found == [
        "README.md",
        "pkg/__init__.py",
        "pkg/data.json",
        "pkg/sub/__init__.py",
        "pyproject.toml",
    ]


# --- templates and the prefix ---------------------------------------------------------------


def test_the_unit_template_is_filled_and_nothing_is_left_over() -> None:
    template = (REPO / "installer" / "appliance.service.in").read_text()
    unit = render_template(template, {"PREFIX": "/opt/a", "HOME": "/var/lib/a", "USER": "svc"})
    assert "ExecStart=/opt/a/current/bin/appliance up" in unit
    assert "EnvironmentFile=/opt/a/etc/appliance.env" in unit and "User=svc" in unit
    assert "ReadWritePaths=/var/lib/a" in unit and "@" not in unit
    with pytest.raises(InstallFailed, match="placeholder: @HOME@"):
        render_template(template, {"PREFIX": "/opt/a", "USER": "svc"})
    with pytest.raises(InstallFailed, match="one non-empty line"):
        render_template(template, {"PREFIX": "/opt/a\nExecStartPre=/bin/evil", "HOME": "h"})


def test_versions_sit_side_by_side_and_current_switches_in_one_step(tmp_path: Path) -> None:
    prefix = Prefix(tmp_path / "p")
    first = prefix.free_version_dir("1.0.0")
    first.mkdir(parents=True)
    (first / "bin").mkdir()
    (first / "bin" / "appliance").write_text("#!/bin/sh\necho one\n")
    prefix.switch(first)
    assert prefix.current_name() == "1.0.0"
    assert (prefix.root / "bin" / "appliance").resolve() == (first / "bin" / "appliance")
    again = prefix.free_version_dir("1.0.0")
    assert again.name == "1.0.0-2"
    again.mkdir()
    prefix.switch(again)
    assert os.readlink(prefix.current) == "versions/1.0.0-2"
    assert not list(prefix.root.glob(".current.*"))
    with pytest.raises(InstallFailed, match="cannot name a folder"):
        prefix.free_version_dir("../../etc")


# --- refusals before anything is installed ----------------------------------------------------


def _fake_bundle(root: Path, python: str = HERE_PY) -> Path:
    info = BundleInfo(
        name="scoring-appliance", version="9.9.9", python=python,
        platform=Target.here().local_platform, platforms=(),
        app_wheel="wheelhouse/app-9.9.9-py3-none-any.whl", requirements=(),
        wheels=("app-9.9.9-py3-none-any.whl",),
    )  # fmt: skip
    return _tree(root, {
        "bundle.json": info.to_json(), "wheelhouse/app-9.9.9-py3-none-any.whl": b"PK" * 500,
    })  # fmt: skip


def _options(bundle: Path, tmp: Path) -> InstallOptions:
    return InstallOptions(bundle, tmp / "prefix", tmp / "home", service_user="svc")


def test_a_tampered_bundle_touches_nothing(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "b")
    victim = bundle / "wheelhouse" / "app-9.9.9-py3-none-any.whl"
    victim.write_bytes(b"PK" * 499 + b"PJ")
    with pytest.raises(BundleTampered, match=r"wheelhouse/app-9\.9\.9-py3-none-any\.whl has"):
        install_bundle(_options(bundle, tmp_path), quiet)
    assert not (tmp_path / "prefix").exists() and not (tmp_path / "home").exists()


def test_a_bundle_for_another_python_touches_nothing(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "b", python="3.99")
    with pytest.raises(BundleMismatch, match=r"for Python 3\.99"):
        install_bundle(_options(bundle, tmp_path), quiet)
    assert not (tmp_path / "prefix").exists()


def test_a_foreign_prefix_or_home_is_refused(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "b")
    (tmp_path / "prefix").mkdir()
    (tmp_path / "prefix" / "someone-elses.txt").write_text("x")
    with pytest.raises(InstallFailed, match="holds no appliance install"):
        install_bundle(_options(bundle, tmp_path), quiet)
    (tmp_path / "prefix" / "someone-elses.txt").unlink()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "photos").mkdir()
    with pytest.raises(InstallFailed, match="is no data home"):
        install_bundle(_options(bundle, tmp_path), quiet)
    inner = InstallOptions(bundle, tmp_path / "prefix", tmp_path / "prefix" / "home", "svc")
    with pytest.raises(InstallFailed, match="must not contain each other"):
        install_bundle(inner, quiet)


def _installed_prefix(tmp: Path) -> tuple[Path, Path]:
    prefix, home = Prefix(tmp / "prefix"), tmp / "home"
    (prefix.versions / "1.0").mkdir(parents=True)
    prefix.write_marker(home=str(home))
    prefix.switch(prefix.versions / "1.0")
    (home / "lake").mkdir(parents=True, exist_ok=True)
    (home / "appliance.db").write_bytes(b"")
    return prefix.root, home


def test_uninstall_keeps_the_home_unless_purged(tmp_path: Path) -> None:
    prefix, home = _installed_prefix(tmp_path)
    report = uninstall(prefix, quiet)
    assert not prefix.exists() and (home / "lake").is_dir()
    assert report.home == home and not report.home_purged
    prefix, home = _installed_prefix(tmp_path)
    with pytest.raises(InstallFailed, match="needs --home"):
        uninstall(prefix, quiet, purge_home=True)
    with pytest.raises(InstallFailed, match="is not a data home"):
        uninstall(prefix, quiet, purge_home=True, home=tmp_path)
    assert prefix.exists()
    uninstall(prefix, quiet, purge_home=True, home=home)
    assert not prefix.exists() and not home.exists()


def test_uninstall_removes_only_what_the_installer_made(tmp_path: Path) -> None:
    (tmp_path / "opt").mkdir()
    with pytest.raises(InstallFailed, match="did not make it"):
        uninstall(tmp_path / "opt", quiet)
    with pytest.raises(InstallFailed, match="nothing is installed"):
        uninstall(tmp_path / "nowhere", quiet)
    assert (tmp_path / "opt").is_dir()


def test_the_command_prints_one_line_and_an_exit_code(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "b")
    (bundle / "bundle.json").write_text("{}")
    out = subprocess.run(
        [sys.executable, "-m", "installer", "install", str(bundle), "--prefix",
         str(tmp_path / "p"), "--home", str(tmp_path / "h")],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 21
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: bundle.json has SHA-256") and "nothing was installed" in last
    assert "Traceback" not in out.stderr and not (tmp_path / "p").exists()
    missing = subprocess.run(
        [sys.executable, "-m", "installer", "verify", str(tmp_path / "nope.tar.gz")],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert missing.returncode == 22 and "no such bundle" in missing.stderr


def test_an_unknown_service_user_is_refused_before_installing(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "b")
    options = InstallOptions(bundle, tmp_path / "prefix", tmp_path / "home", "no-such-user-x1")
    with pytest.raises(InstallFailed, match=r"'no-such-user-x1' does not exist; create it"):
        install_bundle(options, quiet)
    assert not (tmp_path / "prefix").exists()
