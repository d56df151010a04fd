"""Use cases: what to predict, from which data, and how to judge it (``docs/usecases.md``)."""

from appliance.usecase.locate import list_specs, locate_spec
from appliance.usecase.parse import load_spec, parse_spec
from appliance.usecase.spec import UseCaseSpec

__all__ = ["UseCaseSpec", "list_specs", "load_spec", "locate_spec", "parse_spec"]
