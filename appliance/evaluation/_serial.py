"""Turning the frozen result dataclasses into plain JSON values."""

from __future__ import annotations

from typing import Any

__all__ = ["json_dict"]


def json_dict(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """A ``dataclasses.asdict`` factory that turns tuples into lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in items}
