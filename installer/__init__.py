"""The offline bundle: wheelhouse, checksums, service units, install, self-test.

``python -m installer build`` makes the bundle on a machine with the package mirror;
``install.sh`` (``python -m installer install``) puts it on a machine with no network.
Everything here is standard library only: on the target it runs before the appliance
(or any of its dependencies) exists. See docs/install.md.
"""

from installer.build import BuildOptions, BuildReport, build_bundle
from installer.errors import (
    BuildFailed,
    BundleMismatch,
    BundleTampered,
    InstallerError,
    InstallFailed,
    SelfTestFailed,
)
from installer.install import InstallOptions, InstallReport, install_bundle, open_bundle
from installer.manifest import verify_tree
from installer.target import Target
from installer.uninstall import UninstallReport, uninstall

__all__ = [
    "BuildFailed",
    "BuildOptions",
    "BuildReport",
    "BundleMismatch",
    "BundleTampered",
    "InstallFailed",
    "InstallOptions",
    "InstallReport",
    "InstallerError",
    "SelfTestFailed",
    "Target",
    "UninstallReport",
    "build_bundle",
    "install_bundle",
    "open_bundle",
    "uninstall",
    "verify_tree",
]
