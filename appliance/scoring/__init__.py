"""Scoring registered models: compiling them to native libraries and loading the scorer
that serves them (the compiled library where it matches XGBoost, XGBoost otherwise)."""

from appliance.scoring.compile import PARITY_FILES, compile_version
from appliance.scoring.loader import LoadedModel, load_scorer

__all__ = ["PARITY_FILES", "LoadedModel", "compile_version", "load_scorer"]
