"""The offline bundle for real: built from this checkout (runtime wheels from the pip
mirror, cached in ~/.cache/appliance-installer), then installed into fresh prefixes
with pip --no-index, inside a network namespace with no interfaces where the machine
allows it. One bundle is built per test session and shared between xdist workers."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from installer.appwheel import source_files
from installer.archive import extract_archive
from installer.build import BuildOptions, build_bundle
from installer.progress import quiet
from installer.target import Target
from installer.wheelhouse import default_cache_dir, read_project, requirement_name

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
VERSION = read_project(REPO / "pyproject.toml")["version"]
# scikit-learn ships on purpose: customer segmentations train on site
NOT_AT_RUN_TIME = {
    "tensorflow", "tensorflow-cpu", "keras", "onnx", "pytest", "pytest-xdist", "hypothesis",
    "pandas", "ruff", "mypy", "onnxruntime-gpu",
}  # fmt: skip


def _netns_problem() -> str | None:
    """None if `unshare -rn` gives this user a network namespace, else why not."""
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    done = subprocess.run(["unshare", "-rn", "true"], capture_output=True, text=True)
    return None if done.returncode == 0 else f"unshare -rn is not permitted: {done.stderr.strip()}"


NETNS_PROBLEM = _netns_problem()


def offline(cmd: list[str]) -> list[str]:
    """Run ``cmd`` with no network at all where the machine allows it."""
    return ["unshare", "-rn", *cmd] if NETNS_PROBLEM is None else cmd


def run(cmd: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env={**os.environ, **env},
        timeout=600,
    )  # fmt: skip


@dataclass(frozen=True)
class Built:
    tarball: Path
    folder: Path
    """The unpacked bundle."""
    source: Path
    """The copy of the checkout it was built from."""
    manifest_sha256: str
    size: int
    largest: list[tuple[str, int]]


def _snapshot(source: Path, into: Path) -> Path:
    """A copy of the files a wheel is built from."""
    for path in source_files(source):
        target = into / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return into


def _build(source: Path, out: Path, libraries: Path | None = None) -> dict:
    options = BuildOptions(
        source, out, Target.here(), default_cache_dir(os.environ), libraries=libraries
    )
    report = build_bundle(options, quiet)
    return {
        "tarball": str(report.path), "manifest_sha256": report.manifest_sha256,
        "size": report.size, "largest": report.largest,
    }  # fmt: skip


def _once_per_session(
    factory: pytest.TempPathFactory, name: str, make: Callable[[Path], dict]
) -> dict:
    """``make(folder)`` run once per test session, its result shared by every xdist worker:
    the first one makes it under a lock, the others wait and read what it wrote."""
    base = factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    shared.mkdir(exist_ok=True)
    with (shared / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "done.json"
        if not done.exists():
            done.write_text(json.dumps(make(shared)))
        data: dict = json.loads(done.read_text())
    return data


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    def make(folder: Path) -> dict:
        source = _snapshot(REPO, folder / "src")  # others may edit the checkout meanwhile
        data = _build(source, folder / "dist")
        data["source"] = str(source)
        data["folder"] = str(extract_archive(Path(data["tarball"]), folder / "unpacked"))
        return data

    data = _once_per_session(tmp_path_factory, "bundle", make)
    return Built(
        Path(data["tarball"]), Path(data["folder"]), Path(data["source"]),
        data["manifest_sha256"], data["size"], [tuple(x) for x in data["largest"]],
    )  # fmt: skip


@dataclass(frozen=True)
class Installed:
    prefix: Path
    home: Path
    stdout: str
    stderr: str

    @property
    def appliance(self) -> Path:
        return self.prefix / "bin" / "appliance"


@pytest.fixture(scope="session")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """install.sh from the unpacked bundle into a fresh prefix, offline (once per session)."""

    def make(root: Path) -> dict:
        done = run(
            offline([built.folder / "install.sh", "--prefix", root / "opt",
                     "--home", root / "home"]),
            PYTHON=sys.executable,
        )  # fmt: skip
        return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
                "prefix": str(root / "opt"), "home": str(root / "home")}  # fmt: skip

    data = _once_per_session(tmp_path_factory, "installed", make)
    assert data["rc"] == 0, data["stderr"][-3000:]
    return Installed(Path(data["prefix"]), Path(data["home"]), data["stdout"], data["stderr"])


def test_the_bundle_holds_the_runtime_and_nothing_else(built: Built) -> None:
    info = json.loads((built.folder / "bundle.json").read_text())
    wheels = {requirement_name(w.split("-")[0]) for w in info["wheels"]}
    needed = {
        requirement_name(r) for r in read_project(built.source / "pyproject.toml")["dependencies"]
    }
    assert needed <= wheels
    assert not wheels & NOT_AT_RUN_TIME
    assert info["app_wheel"] == f"wheelhouse/scoring_appliance-{VERSION}-py3-none-any.whl"
    assert built.tarball.name == f"appliance-{VERSION}-{Target.here().py_tag}-" + (
        f"{Target.here().platform_name}.tar.gz"
    )
    listed = (built.folder / "MANIFEST.sha256").read_text().splitlines()
    on_disk = sorted(
        p.relative_to(built.folder).as_posix() for p in built.folder.rglob("*") if p.is_file()
    )
    assert sorted(line[66:] for line in listed) == [p for p in on_disk if p != "MANIFEST.sha256"]
    for part in ("install.sh", "systemd/appliance.service.in", "config/appliance.env.in",
                 "installer/install.py", "installer/__main__.py"):  # fmt: skip
        assert part in on_disk, part
    assert os.access(built.folder / "install.sh", os.X_OK)
    sidecar = built.tarball.with_name(built.tarball.name + ".sha256").read_text()
    assert sidecar.split()[0] == hashlib.sha256(built.tarball.read_bytes()).hexdigest()
    print(f"\nbundle {built.size / 1e6:.1f} MB; largest: {built.largest[:5]}")
    assert built.size < 400e6  # lean: ~255 MB today, most of it llvmlite, pyarrow, scipy


def test_two_builds_of_the_same_source_are_byte_identical(built: Built, tmp_path: Path) -> None:
    again = _build(built.source, tmp_path / "dist")
    assert again["manifest_sha256"] == built.manifest_sha256
    assert Path(again["tarball"]).read_bytes() == built.tarball.read_bytes()


def test_the_installed_appliance_runs_offline(installed: Installed) -> None:
    app, home = installed.appliance, installed.home
    assert f"appliance {VERSION} installed" in installed.stdout
    assert "pip install --no-index" in installed.stderr
    version = run(offline([app, "--version"]))
    assert version.returncode == 0 and VERSION in version.stdout
    init = run(offline([app, "--home", home, "init"]))
    assert init.returncode == 0 and "data home ready" in init.stdout
    if run([app, "doctor", "--help"]).returncode == 0:
        doctor = run(offline([app, "--home", home, "doctor"]))
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "self-test: appliance doctor" in installed.stderr
    for step in (["demo-data", "--rows", "300"], ["ingest"]):
        done = run(offline([app, "--home", home, *step]))
        assert done.returncode == 0, done.stderr
    score = (
        "import sys, numpy as np, xgboost as xgb\n"
        "from appliance.home import DataHome\nfrom appliance.lake import read_dataset\n"
        "from appliance.store.db import connect\n"
        "home = DataHome(sys.argv[1])\n"
        "t = read_dataset(home, connect(home.db_path), 'fraud_transactions')\n"
        "x = t['amount'].to_numpy(zero_copy_only=False).reshape(-1, 1)\n"
        "y = t['is_fraud'].to_numpy(zero_copy_only=False).astype(float)\n"
        "b = xgb.train({'objective': 'binary:logistic'}, xgb.DMatrix(x, label=y), 5)\n"
        "p = b.predict(xgb.DMatrix(x))\n"
        "print(t.num_rows, float(p.min()), float(p.max()), xgb.__file__)\n"
    )
    python = installed.prefix / "current" / "bin" / "python"
    out = run(offline([python, "-c", score, home]))
    assert out.returncode == 0, out.stderr
    rows, low, high, where = out.stdout.split()
    assert int(rows) > 2900 and 0 < float(low) < float(high) < 1
    assert Path(where).is_relative_to(installed.prefix)  # the bundle's xgboost, not ours


def test_the_install_ran_with_no_network_at_all(installed: Installed) -> None:
    if NETNS_PROBLEM is not None:
        pytest.skip(f"no network namespace on this machine ({NETNS_PROBLEM}); the install ran "
                    "with pip --no-index and no pip configuration only")  # fmt: skip
    probe = (
        "import socket\nprint([n for _, n in socket.if_nameindex()])\n"
        "s = socket.socket()\ns.settimeout(2)\n"
        "try:\n    s.connect(('1.1.1.1', 443)); print('online')\n"
        "except OSError as e:\n    print('offline', e.errno)\n"
    )
    out = run(offline([sys.executable, "-c", probe]))
    assert out.stdout.splitlines()[0] == "['lo']" and out.stdout.splitlines()[1].startswith("off")


def test_the_service_unit_and_environment_are_written_under_the_prefix(
    installed: Installed,
) -> None:
    unit = (installed.prefix / "systemd" / "appliance.service").read_text()
    assert f"ExecStart={installed.prefix}/current/bin/appliance up" in unit
    assert f"ReadWritePaths={installed.home}" in unit
    env = (installed.prefix / "etc" / "appliance.env").read_text()
    assert f"APPLIANCE_HOME={installed.home}" in env
    assert os.readlink(installed.prefix / "current") == f"versions/{VERSION}"
    assert "service unit:" in installed.stdout and "not enabled" in installed.stdout
    assert ("C compiler:" in installed.stdout) != ("warning: no working C compiler" in (
        installed.stdout))  # fmt: skip


def _tampered_copy(built: Built, where: Path) -> tuple[Path, str]:
    """A hard-linked copy of the bundle with one byte of one wheel flipped."""
    copy = where / built.folder.name
    shutil.copytree(built.folder, copy, copy_function=os.link)
    wheel = sorted((copy / "wheelhouse").glob("numpy-*.whl"))[0]
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0x01
    wheel.unlink()  # break the hard link: the shared bundle stays intact
    wheel.write_bytes(bytes(data))
    return copy, f"wheelhouse/{wheel.name}"


def test_one_changed_byte_in_a_wheel_stops_the_install(built: Built, tmp_path: Path) -> None:
    copy, victim = _tampered_copy(built, tmp_path)
    target = ["--prefix", tmp_path / "opt", "--home", tmp_path / "home"]
    by_script = run([copy / "install.sh", *target], PYTHON=sys.executable)
    assert by_script.returncode == 21
    assert f"{victim}: FAILED" in by_script.stderr and "nothing was installed" in by_script.stderr
    by_module = run([sys.executable, "-m", "installer", "install", copy, *target])
    assert by_module.returncode == 21
    assert f"error: {victim} has SHA-256" in by_module.stderr
    assert not (tmp_path / "opt").exists() and not (tmp_path / "home").exists()


def _release(
    tmp: Path, version: str, *, migration: bool = False, broken: bool = False,
    libraries: Path | None = None,
) -> Path:  # fmt: skip
    """Build a bundle of this checkout renamed to ``version``: with one more store
    migration, or with a package that cannot even be imported."""
    src = _snapshot(REPO, tmp / f"src-{version}")
    pyproject = src / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(f'version = "{VERSION}"', f'version = "{version}"', 1)
    )
    if migration:
        with (src / "appliance" / "store" / "migrations.py").open("a") as f:
            f.write('\nMIGRATIONS = (*MIGRATIONS, Migration(999, "upgrade_probe", '
                    '"CREATE TABLE upgrade_probe (id INTEGER PRIMARY KEY);"))\n')  # fmt: skip
    if broken:
        with (src / "appliance" / "__init__.py").open("a") as f:
            f.write('\nraise ImportError("a release broken on purpose by the installer test")\n')
    return Path(_build(src, tmp / f"dist-{version}", libraries)["tarball"])


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _lake_digest(home: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((home / "lake").rglob("*.parquet")):
        digest.update(path.relative_to(home).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def test_upgrade_keeps_the_home_migrates_it_and_a_failed_one_changes_nothing(
    built: Built, tmp_path: Path
) -> None:
    prefix, home = tmp_path / "opt", tmp_path / "home"
    target = ["--prefix", prefix, "--home", home]

    # systemd cannot run here: a stand-in `systemctl` records what it was asked to do
    fake_bin, calls = tmp_path / "fake-bin", tmp_path / "systemctl-calls"
    fake_bin.mkdir()
    (fake_bin / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (fake_bin / "systemctl").chmod(0o755)
    path = f"{fake_bin}:{os.environ['PATH']}"

    def install(bundle: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "installer", "install", bundle, *target, *extra]
        return run(offline(cmd), PATH=path)  # offline: also keeps the doctor's ports private

    first = install(built.tarball)
    assert first.returncode == 0, first.stderr[-2000:]
    for step in (["demo-data", "--rows", "200"], ["ingest"]):
        assert run([prefix / "bin" / "appliance", "--home", home, *step]).returncode == 0
    lake = _lake_digest(home)

    libraries = tmp_path / "libraries"  # as if compiled on a build box of this platform
    (libraries / "credit_default" / "3").mkdir(parents=True)
    (libraries / "credit_default" / "3" / "model.so").write_bytes(b"\x7fELF" + bytes(300))
    units = tmp_path / "units"
    upgrade = install(
        _release(tmp_path, "99.0.0", migration=True, libraries=libraries),
        "--enable-service", "--unit-dir", units,
    )  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    assert (units / "appliance.service").read_text() == (
        prefix / "systemd" / "appliance.service").read_text()  # fmt: skip
    assert calls.read_text().splitlines() == [
        "daemon-reload", "enable appliance.service", "restart appliance.service"]  # fmt: skip
    assert f"upgraded from {VERSION}" in upgrade.stdout
    assert os.readlink(prefix / "current") == "versions/99.0.0"
    assert "upgrade_probe" in _tables(home / "appliance.db")  # the new migration ran
    carried = prefix / "current" / "libraries" / "credit_default" / "3" / "model.so"
    assert carried.read_bytes() == b"\x7fELF" + bytes(300)
    snapshot = prefix / "snapshots" / "appliance-before-99.0.0.db"
    assert "upgrade_probe" not in _tables(snapshot) and "audit_log" in _tables(snapshot)
    assert _lake_digest(home) == lake
    datasets = run([prefix / "bin" / "appliance", "--home", home, "datasets"])
    assert "credit_applications" in datasets.stdout
    old = run([prefix / "versions" / VERSION / "bin" / "appliance", "--version"])
    assert VERSION in old.stdout  # the previous version stays runnable beside the new one

    failed = install(_release(tmp_path, "99.1.0", broken=True))
    assert failed.returncode == 24
    assert "self-test: appliance --version failed" in failed.stderr
    assert "broken on purpose" in failed.stderr and "99.0.0 stays current" in failed.stderr
    assert os.readlink(prefix / "current") == "versions/99.0.0"
    assert not (prefix / "versions" / "99.1.0").exists()
    still = run([prefix / "bin" / "appliance", "--home", home, "--version"])
    assert still.returncode == 0 and "99.0.0" in still.stdout
    assert _lake_digest(home) == lake

    removed = run([sys.executable, "-m", "installer", "uninstall", "--prefix", prefix], PATH=path)
    assert removed.returncode == 0 and f"data home kept: {home}" in removed.stdout
    assert not prefix.exists() and _lake_digest(home) == lake
    assert not (units / "appliance.service").exists()
    assert calls.read_text().splitlines()[-2:] == [
        "disable --now appliance.service",
        "daemon-reload",
    ]
