"""The model registry: versions with their lineage, aliases, promotion gates, rollback.

A trainer writes a run's artifacts into ``make_staging(home, model)`` and calls
``register``; people then ``promote`` a version (production passes the gates in
``gates``), ``rollback`` or ``reject``. Boosters load only through ``load_booster``,
which checks their hash. xgboost is imported only when a booster is loaded.
"""

from appliance.registry.artifacts import booster_bytes, card_file, load_booster
from appliance.registry.compare import Comparison, MetricRow, ParamRow, compare_versions
from appliance.registry.gates import Gate, GateReport, evaluate_gates
from appliance.registry.promotion import (
    GatesFailed,
    previous_production,
    promote,
    reject,
    rollback,
)
from appliance.registry.records import (
    ALIASES,
    Model,
    ModelVersion,
    NewModelVersion,
    aliases,
    get_model,
    get_version,
    list_models,
    list_versions,
    make_staging,
    record_compile,
    register,
    resolve,
)

__all__ = [
    "ALIASES",
    "Comparison",
    "Gate",
    "GateReport",
    "GatesFailed",
    "MetricRow",
    "Model",
    "ModelVersion",
    "NewModelVersion",
    "ParamRow",
    "aliases",
    "booster_bytes",
    "card_file",
    "compare_versions",
    "evaluate_gates",
    "get_model",
    "get_version",
    "list_models",
    "list_versions",
    "load_booster",
    "make_staging",
    "previous_production",
    "promote",
    "record_compile",
    "register",
    "reject",
    "resolve",
    "rollback",
]
