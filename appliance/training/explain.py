"""Global explanations: gain importance and mean |SHAP| per feature.

SHAP values are XGBoost's exact TreeSHAP contributions (``pred_contribs``), computed on
a seeded sample of the test rows so the cost stays bounded on large test sets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.training.booster import contributions

if TYPE_CHECKING:
    import xgboost as xgb

__all__ = ["global_importance", "shap_sample"]


def shap_sample(
    booster: xgb.Booster,
    x: np.ndarray,
    types: list[str],
    names: list[str],
    *,
    rows: int = 2000,
    seed: int = 7,
) -> tuple[np.ndarray, np.ndarray]:
    """(contributions without the bias column, the sampled feature rows)."""
    pick = np.arange(x.shape[0])
    if x.shape[0] > rows:
        pick = np.sort(np.random.default_rng(seed).choice(x.shape[0], rows, replace=False))
    sample = x[pick]
    return contributions(booster, sample, types, names)[:, :-1], sample


def global_importance(
    booster: xgb.Booster, shap: np.ndarray, names: list[str]
) -> list[dict[str, Any]]:
    """Per feature: total gain share and mean |SHAP| (log-odds), by mean |SHAP| descending."""
    gain = {k: float(v) for k, v in booster.get_score(importance_type="total_gain").items()
            if isinstance(v, int | float)}  # fmt: skip
    total = sum(gain.values()) or 1.0
    mean_abs = np.abs(shap).mean(axis=0) if shap.size else np.zeros(len(names))
    rows = [
        {"feature": name, "gain": float(gain.get(name, 0.0) / total),
         "mean_abs_shap": float(mean_abs[j])}
        for j, name in enumerate(names)
    ]  # fmt: skip
    return sorted(rows, key=lambda r: (-r["mean_abs_shap"], r["feature"]))
