"""XGBoost itself behind the scorer interface: the reference for parity and the fallback
wherever no compiled library can serve (no compiler, a failed build, a failed parity check)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import xgboost

__all__ = ["XGBoostExplainer", "XGBoostScorer"]


class XGBoostScorer:
    """Scores with ``Booster.inplace_predict`` (thread-safe; NaN = missing)."""

    kind = "xgboost"

    def __init__(self, booster: xgboost.Booster, *, threads: int = 1) -> None:
        self._booster = booster
        self.n_features = int(booster.num_features())
        booster.set_param({"nthread": max(1, threads)})
        self._threads = max(1, threads)

    @classmethod
    def from_bytes(cls, model: bytes | bytearray, *, threads: int = 1) -> XGBoostScorer:
        """From XGBoost JSON or UBJ bytes (never a pickle)."""
        import xgboost

        return cls(xgboost.Booster(model_file=bytearray(model)), threads=threads)

    @property
    def booster(self) -> xgboost.Booster:
        return self._booster

    def predict_one(self, row: np.ndarray, *, margin: bool = False) -> float:
        x = np.asarray(row, dtype=np.float64).reshape(1, -1)
        return float(self.predict(x, margin=margin)[0])

    def predict(self, rows: np.ndarray, *, threads: int = 1, margin: bool = False) -> np.ndarray:
        x = np.asarray(rows)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"rows have shape {x.shape}; the model takes (n, {self.n_features})")
        if max(1, threads) != self._threads:  # set_param is not thread-safe: only when it changes
            self._booster.set_param({"nthread": max(1, threads)})
            self._threads = max(1, threads)
        kind = "margin" if margin else "value"
        out = self._booster.inplace_predict(x, predict_type=kind, missing=np.nan,
                                            validate_features=False)  # fmt: skip
        return np.asarray(out, dtype=np.float64).reshape(-1)


class XGBoostExplainer:
    """TreeSHAP through XGBoost's own ``pred_contribs``: the reference for our explainer,
    and the plain way to get reasons (milliseconds per row on large forests)."""

    def __init__(self, booster: xgboost.Booster) -> None:
        self._booster = booster
        self.n_features = int(booster.num_features())

    def contributions(self, rows: np.ndarray) -> np.ndarray:
        import xgboost

        matrix = xgboost.DMatrix(np.asarray(rows, dtype=np.float32), missing=np.nan)
        out = self._booster.predict(matrix, pred_contribs=True, validate_features=False)
        return np.asarray(out, dtype=np.float64)

    def row(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        values = self.contributions(np.asarray(x).reshape(1, -1))[0]
        if out is not None:
            out[:] = values
            return out
        return values
