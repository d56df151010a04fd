"""Reading the TOML files analysts write (source schemas, use-case specs)."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

from appliance.errors import SchemaError

__all__ = ["read_toml"]


def read_toml(path: Path, what: str) -> tuple[dict[str, Any], str]:
    """The parsed file and the SHA-256 of its bytes; SchemaError naming the file if unreadable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SchemaError(f"cannot read {what} {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SchemaError(f"{path} is not valid TOML: {exc}") from exc
    return data, hashlib.sha256(raw).hexdigest()
