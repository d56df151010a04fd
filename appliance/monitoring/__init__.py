"""Monitoring: drift, training-serving skew, realised performance, fairness and alerts.

Pure measurements (``drift``, ``samples``, ``performance``, ``fairness``, ``bands``) are
apart from the I/O (``predictions``, ``labels``, ``groups``, ``store``, ``alerts``,
``delivery``); ``run`` puts them together for the CLI (`appliance drift`, `appliance
monitor`) and the scheduler's ``drift`` and ``performance`` jobs; ``report`` writes the
HTML page. See docs/monitoring.md.
"""

from appliance.monitoring.alerts import (
    Alert,
    claim_retrain_requests,
    list_alerts,
    pending_retrains,
)
from appliance.monitoring.bands import DEFAULT_BANDS, Band
from appliance.monitoring.config import MonitoringConfig, SmtpConfig
from appliance.monitoring.errors import MonitoringError, NoPredictions
from appliance.monitoring.run import MonitorRun, measure_drift, measure_performance
from appliance.monitoring.samples import SampleDrift, compare_columns, compare_samples
from appliance.monitoring.windows import Window, window_of

__all__ = [
    "DEFAULT_BANDS",
    "Alert",
    "Band",
    "MonitorRun",
    "MonitoringConfig",
    "MonitoringError",
    "NoPredictions",
    "SampleDrift",
    "SmtpConfig",
    "Window",
    "claim_retrain_requests",
    "compare_columns",
    "compare_samples",
    "list_alerts",
    "measure_drift",
    "measure_performance",
    "pending_retrains",
    "window_of",
]
