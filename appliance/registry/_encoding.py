"""JSON columns of the registry: strict encoding (no NaN, no silent str()) and decoding."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from appliance.errors import SchemaError

__all__ = ["decode", "encode"]


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays (anything with ``tolist``) as plain values, dates as ISO-8601."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def encode(field: str, value: Any) -> str:
    """``value`` as canonical JSON; SchemaError naming ``field`` if it cannot be stored."""
    try:
        return json.dumps(
            value, sort_keys=True, ensure_ascii=False, allow_nan=False, default=_plain
        )
    except ValueError as exc:
        raise SchemaError(
            f"{field} holds NaN or infinity ({exc}); store undefined numbers as null"
        ) from exc
    except TypeError as exc:
        raise SchemaError(f"{field} cannot be stored as JSON: {exc}") from exc


def decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)
