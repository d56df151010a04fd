"""Exploratory data profiles: statistics of a table, their plots, and one HTML page.

``profile_table`` computes (pure), ``render_figures`` draws, ``render_html`` lays out,
``write_report`` writes atomically. matplotlib loads only when a plot is drawn.
"""

from appliance.profile.plots import Figures, render_figures
from appliance.profile.report import ReportError, render_html, write_report
from appliance.profile.results import (
    Alert,
    ColumnProfile,
    DatasetProfile,
    DateSummary,
    Distribution,
    Matrix,
    NumericSummary,
    ProfileConfig,
    TargetBin,
    TargetRates,
    ValueCount,
)
from appliance.profile.stats import binary_target, profile_table

__all__ = [
    "Alert",
    "ColumnProfile",
    "DatasetProfile",
    "DateSummary",
    "Distribution",
    "Figures",
    "Matrix",
    "NumericSummary",
    "ProfileConfig",
    "ReportError",
    "TargetBin",
    "TargetRates",
    "ValueCount",
    "binary_target",
    "profile_table",
    "render_figures",
    "render_html",
    "write_report",
]
