"""Accuracy and confusion matrices (pure numpy)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["confusion", "score"]


def confusion(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def score(truth: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
    predicted = probabilities.argmax(axis=1)
    matrix = confusion(truth, predicted, len(classes))
    return {
        "accuracy": round(float((predicted == truth).mean()), 4),
        "tiles": len(truth),
        "confusion": matrix.tolist(),
        "confusion_axes": "rows: true class, columns: predicted class, in `classes` order",
    }
