"""One-pass input kernels (numba): pixels to a network's input, scaled, clipped and, for
int8 networks, quantised, in a single sweep over memory instead of five numpy passes.

Compiled with ``cache=True`` (kept in ``__pycache__`` or numba's user-wide cache, so
later processes skip compilation); where no cache is writable they compile per process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

__all__ = ["affine_clip", "affine_clip_int"]


def _jit(function: Callable[..., Any]) -> Any:
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(nogil=True)(function)


@_jit
def affine_clip(
    src: np.ndarray, gain: float, offset: float, low: float, high: float, out: np.ndarray
) -> None:
    """out = clip(src * gain + offset, low, high), float32."""
    for i in range(src.size):
        out[i] = min(max(np.float32(src[i]) * gain + offset, low), high)  # branch-free


@_jit
def affine_clip_int(
    src: np.ndarray, gain: float, offset: float, low: float, high: float, bias: int, out: np.ndarray
) -> None:
    """out = trunc(clip(src * gain + offset, low, high)) - bias, into int8 or uint8 ``out``;
    with 0 <= low and high <= 255 the truncation is a floor, and bias 128 maps 0..255 onto
    int8's -128..127. NaN becomes ``low``."""
    for i in range(src.size):
        value = min(max(np.float32(src[i]) * gain + offset, low), high)
        out[i] = np.int32(value) - bias  # type: ignore[arg-type]
