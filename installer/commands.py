"""What each ``python -m installer`` action does with its arguments, and what it prints."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from installer.errors import BuildFailed
from installer.progress import Progress

__all__ = ["default_source", "run_build", "run_install", "run_uninstall"]


def default_source() -> Path:
    """The checkout this installer lives in, else the current folder."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def run_build(args: argparse.Namespace, progress: Progress) -> None:
    from installer.build import BuildOptions, build_bundle
    from installer.target import Target
    from installer.wheelhouse import default_cache_dir

    source = (args.source or default_source()).absolute()
    if not (source / "pyproject.toml").is_file():
        raise BuildFailed(f"{source} holds no pyproject.toml; pass --source")
    options = BuildOptions(
        source=source,
        out_dir=(args.out or source / "dist").absolute(),
        target=Target.here(args.python, tuple(args.platforms)),
        cache_dir=args.cache_dir or default_cache_dir(os.environ),
        libraries=args.libraries,
        refresh=args.refresh,
    )
    report = build_bundle(options, progress)
    print(f"{report.path}  ({report.size / 1e6:,.1f} MB, {report.files} files, "
          f"{report.seconds:.0f}s)")  # fmt: skip
    print(f"  manifest SHA-256 {report.manifest_sha256}")
    print("  largest parts:")
    for path, size in report.largest:
        print(f"    {size / 1e6:8.1f} MB  {path}")


def run_install(args: argparse.Namespace, user: str, progress: Progress) -> None:
    from installer.install import InstallOptions, install_bundle

    options = InstallOptions(
        bundle=args.bundle.absolute(), prefix=args.prefix, home=args.home,
        service_user=args.service_user or user, enable_service=args.enable_service,
        unit_dir=args.unit_dir, allow_downgrade=args.allow_downgrade,
    )  # fmt: skip
    report = install_bundle(options, progress)
    was = f" (upgraded from {report.previous})" if report.previous else ""
    print(f"appliance {report.version} installed in {report.version_dir}{was}; "
          f"{options.prefix.absolute() / 'bin' / 'appliance'} runs it")  # fmt: skip
    print(f"  data home: {report.home}")
    print(f"  self-test: {report.smoke.hazard_model}; xgboost {report.smoke.libraries['xgboost']},"
          f" pyarrow {report.smoke.libraries['pyarrow']}; doctor "
          + ("passed" if report.doctor is not None else "not in this version"))  # fmt: skip
    if report.smoke.compiler is None:
        print(f"  warning: {report.smoke.compiler_problem}")
    else:
        print(f"  C compiler: {report.smoke.compiler}")
    if report.snapshot is not None:
        print(f"  the store before migration is kept at {report.snapshot}")
    print(f"  service unit: {report.enabled_unit or report.unit_file}"
          + ("" if report.enabled_unit else " (not enabled: --enable-service)"))  # fmt: skip


def run_uninstall(args: argparse.Namespace, progress: Progress) -> None:
    from installer.uninstall import uninstall

    report = uninstall(args.prefix, progress, purge_home=args.purge_home, home=args.home)
    print(f"removed {report.prefix}")
    if report.home is not None:
        print(f"  data home {'deleted' if report.home_purged else 'kept'}: {report.home}")
