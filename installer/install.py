"""``install.sh`` / ``python -m installer install``: a verified bundle into a prefix.

Nothing is touched before every file matches the manifest. The new version goes
into its own folder beside the others; ``current`` moves to it only after it passed
its self-test against the data home, so a failed install or upgrade leaves the
previous version current and runnable. The data home is kept; an upgrade snapshots
the store first, then migrates it (``appliance init``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from installer.archive import extract_archive
from installer.bundle import BUNDLE_INFO, BundleInfo
from installer.environment import make_environment
from installer.errors import BundleMismatch, InstallFailed
from installer.layout import Prefix
from installer.manifest import verify_tree
from installer.progress import Progress
from installer.selftest import SmokeResult, child_env, has_command, run_checked, smoke
from installer.service import enable_service, render_template
from installer.target import Target

__all__ = ["InstallOptions", "InstallReport", "install_bundle", "open_bundle"]


@dataclass(frozen=True)
class InstallOptions:
    bundle: Path
    """The ``.tar.gz`` or its unpacked folder."""
    prefix: Path
    home: Path
    service_user: str
    enable_service: bool = False
    unit_dir: Path = Path("/etc/systemd/system")
    python: Path = field(default_factory=lambda: Path(sys.executable))
    """The interpreter the virtual environment is made from."""
    allow_downgrade: bool = False


@dataclass(frozen=True)
class InstallReport:
    version: str
    version_dir: Path
    previous: str | None
    home: Path
    unit_file: Path
    env_file: Path
    smoke: SmokeResult
    doctor: str | None
    """``appliance doctor``'s output, or None where this version has no doctor."""
    snapshot: Path | None
    enabled_unit: Path | None
    seconds: float


@contextlib.contextmanager
def open_bundle(bundle: Path, progress: Progress) -> Iterator[tuple[Path, BundleInfo]]:
    """The bundle's verified folder and description (a tarball is unpacked to a temp dir)."""
    with contextlib.ExitStack() as stack:
        if bundle.is_file():
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="appliance-")))
            progress(f"unpacking {bundle.name}")
            root = extract_archive(bundle, tmp)
        elif bundle.is_dir():
            root = bundle
        else:
            raise BundleMismatch(f"{bundle}: no such bundle file or folder")
        progress(f"checking every file of {root.name} against MANIFEST.sha256")
        count = verify_tree(root)
        progress(f"{count} files match the manifest")
        info = BundleInfo.from_json(
            (root / BUNDLE_INFO).read_text(encoding="utf-8"), str(root / BUNDLE_INFO)
        )
        yield root, info


def install_bundle(options: InstallOptions, progress: Progress) -> InstallReport:
    started = time.monotonic()
    with open_bundle(options.bundle, progress) as (root, info):
        Target(info.python, info.platforms, info.platform).check_runs_on(*Target.running())
        prefix = Prefix(options.prefix.absolute())
        home = options.home.absolute()
        _check_places(prefix, home)
        owner = _service_owner(options.service_user)
        previous = prefix.current_name()
        _check_downgrade(prefix, previous, info.version, options.allow_downgrade)
        prefix.root.mkdir(parents=True, exist_ok=True)
        prefix.write_marker(home=str(home))
        new_dir = prefix.free_version_dir(info.version)
        env = child_env(os.environ)
        progress(f"installing {info.name} {info.version} into {new_dir}"
                 + (f" beside {previous}" if previous else ""))  # fmt: skip
        try:
            result = _install_version(root, info, prefix, new_dir, home, options, env, progress)
            _hand_over(home, owner, progress)
        except BaseException:
            progress(
                f"removing the unfinished {new_dir.name}; "
                + (f"{previous} stays current" if previous else "nothing is current")
            )
            shutil.rmtree(new_dir, ignore_errors=True)
            raise
        _write_service_files(root, prefix, home, options.service_user)
        prefix.switch(new_dir)
        progress(f"current -> versions/{new_dir.name}")
        enabled = None
        if options.enable_service:
            try:
                enabled = enable_service(prefix.unit_file, options.unit_dir, restart=bool(previous))
            except InstallFailed as exc:
                raise InstallFailed(f"{info.version} is installed and current, but the service "
                                    f"was not enabled: {exc}") from exc  # fmt: skip
            prefix.write_marker(service_unit=str(enabled))
            progress(f"service enabled: {enabled}")
        _prune(prefix, keep={new_dir.name, previous or ""}, progress=progress)
    smoke_result, doctor, snapshot = result
    return InstallReport(
        info.version, new_dir, previous, home, prefix.unit_file, prefix.env_file, smoke_result,
        doctor, snapshot, enabled, round(time.monotonic() - started, 1),
    )  # fmt: skip


def _install_version(
    root: Path, info: BundleInfo, prefix: Prefix, new_dir: Path, home: Path,
    options: InstallOptions,
    env: Mapping[str, str], progress: Progress,
) -> tuple[SmokeResult, str | None, Path | None]:  # fmt: skip
    python = make_environment(
        options.python, new_dir, root / "wheelhouse", root / info.app_wheel, env, progress
    )
    appliance = new_dir / "bin" / "appliance"
    shutil.copyfile(root / BUNDLE_INFO, new_dir / BUNDLE_INFO)
    if info.libraries:
        shutil.copytree(root / "libraries", new_dir / "libraries")
        progress(f"{len(info.libraries)} precompiled model libraries in {new_dir / 'libraries'}")
    progress("self-test: appliance --version")
    shown = run_checked([str(appliance), "--version"], env, "appliance --version")
    if info.version not in shown:
        raise InstallFailed(f"self-test: appliance --version says {shown.strip()!r}, "
                            f"not {info.version}")  # fmt: skip
    progress("self-test: pyarrow, XGBoost, the hazard model, the C compiler")
    result = smoke(python, env)
    if result.compiler is None:
        progress(f"warning: {result.compiler_problem}")
    else:
        progress(f"C compiler: {result.compiler}")
    snapshot = _snapshot_store(home, prefix, new_dir.name, progress)
    _prepare_home(root, home, appliance, env, progress)
    doctor = None
    if has_command(appliance, "doctor", env):
        progress("self-test: appliance doctor")
        doctor = run_checked([str(appliance), "--home", str(home), "doctor"], env,
                             "appliance doctor")  # fmt: skip
    else:
        progress("this version has no `appliance doctor`; the smoke test stands in for it")
    return result, doctor, snapshot


def _check_places(prefix: Prefix, home: Path) -> None:
    root = prefix.root
    if root.exists() and any(root.iterdir()) and not prefix.is_ours():
        raise InstallFailed(f"{root} is not empty and holds no appliance install; "
                            "choose an empty or new folder for --prefix")  # fmt: skip
    if home.exists() and any(home.iterdir()) and not (home / "appliance.db").exists():
        raise InstallFailed(f"{home} is not empty and is no data home; choose an empty or new "
                            "folder, or an existing data home, for --home")  # fmt: skip
    if home.is_relative_to(root) or root.is_relative_to(home):
        raise InstallFailed(f"--home {home} and --prefix {root} must not contain each other: "
                            "uninstalling must be able to keep the home")  # fmt: skip


def _service_owner(user: str) -> tuple[int, int] | None:
    """(uid, gid) to hand the home to when root installs for another user, else None."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise InstallFailed(f"--service-user {user!r} does not exist; create it first "
                            f"(useradd --system {user})") from None  # fmt: skip
    if os.geteuid() != 0 or entry.pw_uid == os.geteuid():
        return None
    return entry.pw_uid, entry.pw_gid


def _hand_over(home: Path, owner: tuple[int, int] | None, progress: Progress) -> None:
    """Give the service user the data home that root has just laid out or migrated."""
    if owner is None:
        return
    progress(f"handing {home} to uid {owner[0]}")
    for folder, dirs, names in os.walk(home):
        os.chown(folder, *owner, follow_symlinks=False)
        for name in dirs + names:
            os.chown(os.path.join(folder, name), *owner, follow_symlinks=False)


def _version_key(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(c for c in piece if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def _check_downgrade(prefix: Prefix, previous: str | None, version: str, allowed: bool) -> None:
    if previous is None or allowed:
        return
    try:
        installed = BundleInfo.from_json(
            (prefix.versions / previous / BUNDLE_INFO).read_text(encoding="utf-8"), previous
        ).version
    except (OSError, BundleMismatch):
        return
    if _version_key(version) < _version_key(installed):
        raise InstallFailed(f"{installed} is installed and this bundle holds the older "
                            f"{version}; pass --allow-downgrade if that is meant (the store "
                            "may already be migrated past it)")  # fmt: skip


def _snapshot_store(home: Path, prefix: Prefix, name: str, progress: Progress) -> Path | None:
    """Before an upgrade migrates the store: a copy of it (online backup), the last one kept."""
    store = home / "appliance.db"
    if not store.exists():
        return None
    prefix.snapshots.mkdir(parents=True, exist_ok=True)
    target = prefix.snapshots / f"appliance-before-{name}.db"
    temp = target.with_name(f".{target.name}.tmp")
    try:
        source, copy = sqlite3.connect(str(store)), sqlite3.connect(str(temp))
        try:
            source.execute("PRAGMA busy_timeout = 10000")
            source.backup(copy)
        finally:
            copy.close()
            source.close()
    except sqlite3.Error as exc:
        temp.unlink(missing_ok=True)
        raise InstallFailed(
            f"cannot snapshot the store {store} before migrating it: {exc}"
        ) from exc
    os.replace(temp, target)
    for old in prefix.snapshots.glob("appliance-before-*.db"):
        if old != target:
            old.unlink()
    progress(f"store snapshot before migrating: {target}")
    return target


def _prepare_home(
    root: Path, home: Path, appliance: Path, env: Mapping[str, str], progress: Progress
) -> None:
    """Default config where the home has none, then ``appliance init`` (layout, migrations)."""
    home.mkdir(parents=True, exist_ok=True)
    shipped = root / "config" / "appliance.toml"
    if shipped.is_file() and not (home / "appliance.toml").exists():
        shutil.copyfile(shipped, home / "appliance.toml")
        progress(f"default configuration written to {home / 'appliance.toml'}")
    progress(f"appliance init: laying out and migrating the data home {home}")
    run_checked([str(appliance), "--home", str(home), "init"], env, "appliance init")


def _write_service_files(root: Path, prefix: Prefix, home: Path, user: str) -> None:
    values = {"PREFIX": str(prefix.root), "HOME": str(home), "USER": user}
    unit = render_template(
        (root / "systemd" / "appliance.service.in").read_text(encoding="utf-8"), values
    )
    prefix.unit_file.parent.mkdir(parents=True, exist_ok=True)
    prefix.unit_file.write_text(unit, encoding="utf-8")
    if not prefix.env_file.exists():  # written once: the administrator may have edited it
        env = render_template(
            (root / "config" / "appliance.env.in").read_text(encoding="utf-8"), values
        )
        prefix.env_file.parent.mkdir(parents=True, exist_ok=True)
        prefix.env_file.write_text(env, encoding="utf-8")


def _prune(prefix: Prefix, keep: set[str], progress: Progress) -> None:
    """Remove versions other than the current and the one it replaced."""
    for folder in sorted(prefix.versions.iterdir()):
        if folder.name not in keep and folder.is_dir() and not folder.is_symlink():
            progress(f"removing the old version {folder.name}")
            shutil.rmtree(folder, ignore_errors=True)
