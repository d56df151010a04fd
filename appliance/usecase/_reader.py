"""Reading TOML values with errors that name the spec file and the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appliance.errors import SchemaError

__all__ = ["NAME", "Reader"]

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Reader:
    origin: str

    def error(self, at: str, message: str) -> SchemaError:
        return SchemaError(f"{self.origin}: {at}: {message}")

    def name(self, value: Any, at: str) -> str:
        if not isinstance(value, str) or not NAME.fullmatch(value):
            raise self.error(at, f"{value!r} is not a valid name (letters, digits, '_')")
        return value

    def opt_name(self, raw: Mapping[str, Any], key: str, at: str) -> str | None:
        return self.name(raw[key], f"{at}.{key}") if key in raw else None

    def text(self, raw: Mapping[str, Any], key: str) -> str:
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise self.error(key, "must be a string")
        return value

    def table(self, value: Any, at: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(at, "must be a table")
        return value

    def array(self, raw: Mapping[str, Any], key: str) -> list[Any]:
        value = raw.get(key, [])
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of tables ([[{key}]])")
        return value

    def str_list(self, value: Any, at: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(at, "must be a list of strings")
        return list(value)

    def flag(self, raw: Mapping[str, Any], key: str, at: str) -> bool:
        value = raw.get(key, False)
        if not isinstance(value, bool):
            raise self.error(f"{at}.{key}", "must be true or false")
        return value

    def positive_int(
        self, raw: Mapping[str, Any], key: str, at: str, default: int, allow_zero: bool = False
    ) -> int:
        value = raw.get(key, default)
        low = 0 if allow_zero else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.error(f"{at}.{key}", f"must be an integer >= {low}")
        return value

    def fraction(
        self, raw: Mapping[str, Any], key: str, at: str, default: float | None = None
    ) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise self.error(f"{at}.{key}", "must be a number strictly between 0 and 1")
        return float(value)

    def clip(self, raw: Mapping[str, Any], at: str) -> tuple[float, float] | None:
        value = raw.get("clip")
        if value is None:
            return None
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int | float) for v in value)
            or not 0 <= value[0] < value[1] <= 1
        ):
            raise self.error(f"{at}.clip", "must be two quantiles [low, high] with 0<=low<high<=1")
        return float(value[0]), float(value[1])

    def windows(self, raw: Mapping[str, Any], at: str) -> tuple[int, ...]:
        value = raw.get("windows", [3, 6, 12])
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(w, int) and not isinstance(w, bool) for w in value)
        ):
            raise self.error(f"{at}.windows", "must be a list of whole months, e.g. [3, 6, 12]")
        if any(w <= 0 for w in value):
            raise self.error(
                f"{at}.windows",
                "windows must look back (months > 0): a window reaching past the decision "
                "date would leak data from after it",
            )
        return tuple(sorted(set(value)))

    def opt_date(self, raw: Mapping[str, Any], key: str, at: str) -> str | None:
        if key not in raw:
            return None
        value = raw[key]
        text = value.isoformat() if hasattr(value, "isoformat") else value
        if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise self.error(f"{at}.{key}", "must be a date, e.g. 2025-03-31")
        return text

    def no_unknown(self, raw: Mapping[str, Any], known: set[str], at: str) -> None:
        unknown = sorted(set(raw) - known)
        if unknown:
            raise self.error(at, f"unknown field(s) {', '.join(unknown)}")
