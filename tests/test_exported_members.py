"""Each package's public API is what its __all__ says, and importing it is cheap."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = [
    "appliance",
    "appliance.ingest",
    "appliance.store",
    "appliance.profile",
    "appliance.demo",
    "appliance.evaluation",
    "appliance.features",
    "appliance.registry",
    "appliance.segmentation",
    "appliance.reports",
    "appliance.training",
    "appliance.usecase",
    "appliance.access",
    "appliance.serving",
    "appliance.scoring",
    "appliance.doctor",
    "appliance.monitoring",
    "compiled_models",
    "connectors",
    "scheduler",
    "imagery_edge",
    "installer",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    assert [n for n in exported if not hasattr(module, n)] == []


@pytest.mark.parametrize("name", ["appliance", "appliance.demo", "compiled_models", "connectors"])
def test_importing_the_package_loads_no_heavy_library(name: str) -> None:
    code = (
        f"import sys, {name}\n"
        "heavy = ('pyarrow', 'numpy', 'matplotlib', 'sqlite_utils', 'jinja2')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
