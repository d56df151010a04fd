"""XGBoost training: a bounded, seeded search with early stopping on validation.

Each trial draws parameters from a fixed small space with the spec's seed, trains
with the ``hist`` tree method and stops early on the validation part; the best trial
by the validation metric wins. Threads are fixed so that the same data and seed give
the same model bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.usecase.spec import TrainingSpec

if TYPE_CHECKING:
    import xgboost as xgb

__all__ = [
    "EVAL_METRIC",
    "REGRESSION_METRICS",
    "TrainedBooster",
    "Trial",
    "continue_training",
    "contributions",
    "predict",
    "train_booster",
]

# our metric name -> XGBoost's evaluation metric, and whether higher is better
EVAL_METRIC = {
    "roc_auc": ("auc", True),
    "pr_auc": ("aucpr", True),
    "ks": ("auc", True),
    "log_loss": ("logloss", False),
    "brier": ("rmse", False),
    "rmse": ("rmse", False),
    "mae": ("mae", False),
    "r2": ("rmse", False),  # R² ranks trials exactly as RMSE does on one validation set
}
REGRESSION_METRICS = ("rmse", "mae", "r2")
_THREADS = 2


@dataclass(frozen=True)
class Trial:
    params: dict[str, Any]
    best_round: int
    score: float


@dataclass(frozen=True)
class TrainedBooster:
    booster: xgb.Booster
    params: dict[str, Any]
    best_round: int
    trials: tuple[Trial, ...]


def _matrix(x: np.ndarray, y: np.ndarray | None, types: list[str], names: list[str]) -> Any:
    import xgboost as xgb

    return xgb.DMatrix(
        x, label=y, feature_names=names, feature_types=types, enable_categorical=True,
        nthread=_THREADS,
    )  # fmt: skip


def _objective(metric: str, y: np.ndarray) -> dict[str, Any]:
    """The loss and the starting point: log loss from the positive rate, or squared
    error from the mean amount."""
    if metric in REGRESSION_METRICS:
        return {"objective": "reg:squarederror", "base_score": float(y.mean())}
    rate = float(y.mean())
    return {"objective": "binary:logistic", "base_score": float(min(max(rate, 1e-4), 1 - 1e-4))}


def _space(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "max_depth": int(rng.choice([1, 2, 3, 4, 5])),
        "eta": float(rng.choice([0.02, 0.05, 0.1])),
        "min_child_weight": float(rng.choice([1, 5, 10, 20])),
        "subsample": float(rng.choice([0.7, 0.85, 1.0])),
        "colsample_bytree": float(rng.choice([0.7, 0.85, 1.0])),
        "lambda": float(rng.choice([1.0, 3.0, 10.0])),
        "max_cat_to_onehot": 8,
    }


def train_booster(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    types: list[str],
    names: list[str],
    spec: TrainingSpec,
    progress: Any = None,
) -> TrainedBooster:
    """Search ``spec.trials`` parameter sets; returns the best booster, refitted never."""
    import xgboost as xgb

    metric, higher = EVAL_METRIC[spec.metric]
    train = _matrix(x_train, y_train, types, names)
    valid = _matrix(x_valid, y_valid, types, names)
    rng = np.random.default_rng(spec.seed)
    trials: list[Trial] = []
    best: tuple[float, xgb.Booster, Trial] | None = None
    for i in range(spec.trials):
        params = {
            **_objective(spec.metric, y_train), "eval_metric": metric, "tree_method": "hist",
            "seed": spec.seed + i, "nthread": _THREADS, **_space(rng),
        }  # fmt: skip
        if i == 0:  # always try a sensible default first
            params.update(max_depth=2, eta=0.05, min_child_weight=5, subsample=0.85,
                          colsample_bytree=0.85)  # fmt: skip
        booster = xgb.train(
            params, train, num_boost_round=spec.max_rounds, evals=[(valid, "validation")],
            early_stopping_rounds=spec.early_stopping, verbose_eval=False,
        )  # fmt: skip
        score = float(booster.best_score)
        trial = Trial(params, int(booster.best_iteration) + 1, score)
        trials.append(trial)
        if progress is not None:
            progress(f"trial {i + 1}/{spec.trials}: validation {metric} {score:.4f}")
        if best is None or (score > best[0] if higher else score < best[0]):
            best = (score, booster, trial)
    if best is None:
        raise ValueError("training.trials must be at least 1")
    _, booster, trial = best
    trimmed = booster[: trial.best_round]
    return TrainedBooster(trimmed, trial.params, trial.best_round, tuple(trials))


def continue_training(
    base: xgb.Booster,
    x: np.ndarray,
    y: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    types: list[str],
    names: list[str],
    params: dict[str, Any],
    spec: TrainingSpec,
) -> xgb.Booster:
    """Add trees to the production booster on new data (incremental training)."""
    import xgboost as xgb

    booster: xgb.Booster = xgb.train(
        params, _matrix(x, y, types, names), num_boost_round=spec.max_rounds,
        evals=[(_matrix(x_valid, y_valid, types, names), "validation")],
        early_stopping_rounds=spec.early_stopping, verbose_eval=False, xgb_model=base,
    )  # fmt: skip
    return booster[: int(booster.best_iteration) + 1]


def predict(booster: xgb.Booster, x: np.ndarray, types: list[str], names: list[str]) -> np.ndarray:
    return np.asarray(booster.predict(_matrix(x, None, types, names)), dtype=np.float64)


def contributions(
    booster: xgb.Booster, x: np.ndarray, types: list[str], names: list[str]
) -> np.ndarray:
    """Exact TreeSHAP contributions (log-odds, or the amount for a regression), one column
    per feature plus the bias last."""
    return np.asarray(booster.predict(_matrix(x, None, types, names), pred_contribs=True))
