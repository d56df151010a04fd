"""From pixels as read to what the network takes: checks, then reflectance in [0, 1].

A tile is refused (``BadTile``, with the reason that goes into quarantine) when it has
the wrong number of bands, the wrong size, NaN or infinite values, no-data pixels, or a
pixel type that is not surface reflectance.
"""

from __future__ import annotations

import numpy as np

from imagery_edge.errors import BadTile
from imagery_edge.model_info import InputScaling, ModelInfo

__all__ = ["InputScaling", "check_tile", "dn_to_reflectance", "fill_input", "to_reflectance"]


def check_tile(pixels: np.ndarray, info: ModelInfo, nodata: float | None = None) -> None:
    """Raise BadTile if ``pixels`` (height, width, bands) cannot go to the model."""
    if pixels.ndim != 3:
        raise BadTile(f"expected an image of (height, width, bands), got shape {pixels.shape}")
    height, width, bands = pixels.shape
    if bands != len(info.bands):
        raise BadTile(
            f"{bands} band(s), but the hazard model needs {len(info.bands)} "
            f"({', '.join(info.bands)}, Landsat 8/9 OLI order)"
        )
    if (height, width) != (info.tile_size, info.tile_size):
        raise BadTile(
            f"{height}x{width} pixels, but the hazard model takes "
            f"{info.tile_size}x{info.tile_size} tiles"
        )
    kind = pixels.dtype.kind
    if kind == "f":
        bad = ~np.isfinite(pixels)
        if bad.any():
            raise BadTile(f"{int(bad.any(axis=2).sum())} pixel(s) are NaN or infinite")
    elif pixels.dtype != np.uint16:
        raise BadTile(
            f"pixel type {pixels.dtype} is not surface reflectance: the model reads Landsat "
            "Collection 2 Level-2 uint16 numbers or float reflectance"
        )
    fill = 0 if nodata is None and pixels.dtype == np.uint16 else nodata
    if fill is not None:
        empty = int((pixels == fill).all(axis=2).sum())
        if empty:
            raise BadTile(f"{empty} no-data pixel(s) (value {fill:g} in every band)")


def to_reflectance(pixels: np.ndarray, info: ModelInfo) -> np.ndarray:
    """Surface reflectance as float32, clipped to the model's range; uint16 is C2 L2 DN."""
    low, high = info.reflectance_range
    if pixels.dtype == np.uint16:
        return dn_to_reflectance(pixels, info.dn_scale, info.dn_offset, low, high)
    values = pixels.astype(np.float32)
    return np.clip(values, low, high, out=values)


def dn_to_reflectance(
    dn: np.ndarray, scale: float, offset: float, low: float, high: float
) -> np.ndarray:
    """Landsat C2 L2 numbers to reflectance (DN * scale + offset), clipped to [low, high]."""
    values = dn.astype(np.float32) * np.float32(scale) + np.float32(offset)
    return np.clip(values, low, high, out=values)


def fill_input(
    tiles: np.ndarray,
    scaling: InputScaling,
    quantization: tuple[float, int] | None,
    target: np.ndarray,
) -> None:
    """Write a network's input into ``target`` (e.g. its tensor's memory) in one pass.

    ``tiles`` are uint16 Landsat C2 L2 numbers or float reflectance. A float network gets
    reflectance clipped to the model's range. An int8 (or uint8) network gets
    round(reflectance / scale) + zero_point, saturated, from the same affine step: shift
    into 0..255 (+0.5 rounds half up), clip (which also applies the reflectance range),
    truncate, and for int8 subtract 128. The kernels are in ``_kernels`` (numba)."""
    from imagery_edge import _kernels

    gain, offset = scaling.affine(tiles.dtype)
    source = np.ascontiguousarray(tiles, np.uint16 if tiles.dtype == np.uint16 else np.float32)
    flat_in, flat_out = source.reshape(-1), target.reshape(-1)
    if flat_in.size != flat_out.size:
        raise ValueError(f"{tiles.shape} tiles do not fit an input of shape {target.shape}")
    f32 = np.float32
    if quantization is None:
        low, high = f32(scaling.low), f32(scaling.high)
        _kernels.affine_clip(flat_in, f32(gain), f32(offset), low, high, flat_out)
        return
    scale, zero_point = quantization
    signed = target.dtype == np.int8
    if not signed and target.dtype != np.uint8:
        raise ValueError(f"only int8 and uint8 inputs are supported, not {target.dtype}")
    shift = zero_point + (128 if signed else 0) + 0.5
    low = f32(max(0.0, scaling.low / scale + shift))
    high = f32(min(255.0, scaling.high / scale + shift))
    _kernels.affine_clip_int(
        flat_in, f32(gain / scale), f32(offset / scale + shift), low, high,
        np.int32(128 if signed else 0), flat_out,
    )  # fmt: skip
