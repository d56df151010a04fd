"""``python -m installer build|install|verify|uninstall``.

Runs on a bare Python (install.sh calls it before the appliance exists), so it uses
argparse rather than click; errors print one line and exit with their code.
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys
from collections.abc import Sequence
from pathlib import Path

from installer.errors import InstallerError
from installer.progress import stepper

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m installer", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)

    build = sub.add_parser("build", help="Build the offline bundle into dist/.")
    build.add_argument("--source", type=Path, help="the project folder (default: this checkout)")
    build.add_argument("--out", type=Path, help="where the tarball goes (default: SOURCE/dist)")
    build.add_argument("--python", help="target Python major.minor (default: this one)")
    build.add_argument(
        "--platform",
        action="append",
        default=[],
        dest="platforms",
        help="target pip platform tag, repeatable (default: this machine)",
    )
    build.add_argument(
        "--libraries", type=Path, help="a folder of precompiled model libraries to carry along"
    )
    build.add_argument(
        "--cache-dir", type=Path, help="wheelhouse cache (default: ~/.cache/appliance-installer)"
    )
    build.add_argument(
        "--refresh",
        action="store_true",
        help="download the wheelhouse again even when it is cached",
    )

    install = sub.add_parser("install", help="Install (or upgrade to) a bundle, offline.")
    install.add_argument("bundle", type=Path, help="the .tar.gz or its unpacked folder")
    install.add_argument("--prefix", type=Path, default=Path("/opt/appliance"))
    install.add_argument("--home", type=Path, default=Path("/var/lib/appliance"))
    install.add_argument(
        "--enable-service",
        action="store_true",
        help="copy the unit into --unit-dir and enable it (needs root)",
    )
    install.add_argument("--unit-dir", type=Path, default=Path("/etc/systemd/system"))
    install.add_argument(
        "--service-user",
        default=None,
        help="the user the service runs as (default: the one installing)",
    )
    install.add_argument("--allow-downgrade", action="store_true")

    verify = sub.add_parser("verify", help="Check a bundle against its manifest, nothing else.")
    verify.add_argument("bundle", type=Path)

    remove = sub.add_parser("uninstall", help="Remove an install; the data home is kept.")
    remove.add_argument("--prefix", type=Path, default=Path("/opt/appliance"))
    remove.add_argument(
        "--purge-home", action="store_true", help="also delete the data home given with --home"
    )
    remove.add_argument("--home", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return _dispatch(args)
    except InstallerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    progress = stepper()
    if args.action == "build":
        from installer.commands import run_build

        run_build(args, progress)
    elif args.action == "install":
        from installer.commands import run_install

        run_install(args, pwd.getpwuid(os.geteuid()).pw_name, progress)
    elif args.action == "verify":
        from installer.install import open_bundle

        with open_bundle(args.bundle, progress) as (_root, info):
            print(f"{args.bundle}: {info.name} {info.version} for Python {info.python} "
                  f"on {info.platform}; every file matches its manifest")  # fmt: skip
    else:
        from installer.commands import run_uninstall

        run_uninstall(args, progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
