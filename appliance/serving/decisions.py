"""From a probability and its TreeSHAP contributions to what a branch reads: a score on a
points scale, a decision, and the reasons behind it in words.

Each use case has a serving file, ``usecases/serving/<usecase>.toml`` in the home (the
shipped one is used where the home has none), with a version that every response
carries, so an adverse-action notice can always be traced to the exact wording used:

```toml
version = 1
[score]            # points to double the odds (good:bad), clamped to [min, max]
base = 600         # the score at base_odds
base_odds = 50
pdo = 20
min = 300
max = 850
[decision]         # words for the two sides of the model's threshold
flagged = "decline"
not_flagged = "approve"
[traffic]
challenger_share = 0.0   # of live requests, sticky by entity id
[reasons]
count = 4                # reasons per decision (adverse-action notices use four)
[reasons.texts]          # feature-name patterns (fnmatch) -> text; {value}, {window}
"pay_missed_*" = "Missed phone-bill payments in the last {window}"
```
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from appliance.errors import SchemaError
from appliance.home import DataHome
from appliance.toml_files import read_toml

__all__ = [
    "Reason",
    "ServingConfig",
    "load_serving_config",
    "points",
    "top_contributions",
    "top_reasons",
]

_WINDOW = re.compile(r"_(\d+)([my])$")
_VALUE_NOTE = re.compile(r"\s*\([^()]*\{value\}[^()]*\)")


@dataclass(frozen=True)
class ServingConfig:
    usecase: str
    version: int = 0
    base: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0
    low: float = 300.0
    high: float = 850.0
    flagged: str = "flagged"
    not_flagged: str = "not_flagged"
    challenger_share: float = 0.0
    reason_count: int = 4
    texts: Mapping[str, str] = field(default_factory=dict)
    origin: str = "(built-in defaults)"

    def text_for(self, feature: str, value: Any) -> str:
        """The dictionary's words for a feature (first matching pattern), or a plain one."""
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        for pattern, template in self.texts.items():
            if fnmatch.fnmatchcase(feature, pattern):
                if missing:  # "(40 days)" has nothing to say: "(no data)" instead
                    template = _VALUE_NOTE.sub("", template) + " (no data)"
                return template.format(value=_show(value), window=_window(feature),
                                       feature=feature)  # fmt: skip
        return f"{feature}: no data" if missing else f"{feature} = {_show(value)}"


@dataclass(frozen=True)
class Reason:
    code: str
    feature: str
    value: Any
    contribution: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "feature": self.feature, "value": self.value,
                "contribution": round(self.contribution, 6), "text": self.text}  # fmt: skip


def load_serving_config(home: DataHome, usecase: str) -> ServingConfig:
    """The home's serving file for ``usecase``, else the shipped one, else defaults."""
    path = home.dir("usecases") / "serving" / f"{usecase}.toml"
    if path.is_file():
        return _parse(usecase, read_toml(path, "serving file")[0], str(path))
    shipped = resources.files("appliance.defaults").joinpath("usecases", "serving",
                                                              f"{usecase}.toml")  # fmt: skip
    if shipped.is_file():
        with resources.as_file(shipped) as src:
            return _parse(usecase, read_toml(Path(src), "serving file")[0], f"shipped {usecase}")
    return ServingConfig(usecase)


def points(p_unfavourable: float, config: ServingConfig) -> float:
    """Points-to-double-odds: higher is better; ``base`` at ``base_odds`` good:bad."""
    p = min(max(p_unfavourable, 1e-9), 1 - 1e-9)
    factor = config.pdo / math.log(2)
    offset = config.base - factor * math.log(config.base_odds)
    score = offset + factor * math.log((1 - p) / p)
    return round(min(max(score, config.low), config.high), 1)


def top_reasons(
    contributions: np.ndarray,
    names: Sequence[str],
    values: Mapping[str, Any],
    config: ServingConfig,
    *,
    towards_positive: bool,
) -> list[Reason]:
    """The features that pushed this decision towards the unfavourable side, largest
    first (exact TreeSHAP contributions on the margin; the bias term excluded)."""
    sign = 1.0 if towards_positive else -1.0
    pushed = sign * np.asarray(contributions[: len(names)], dtype=np.float64)
    order = [int(j) for j in np.argsort(-pushed, kind="stable") if pushed[j] > 0]
    out = []
    for j in order[: config.reason_count]:
        name = names[j]
        value = values.get(name)
        out.append(Reason(f"R{j:03d}", name, value, float(pushed[j]), config.text_for(name, value)))
    return out


def top_contributions(
    contributions: np.ndarray, names: Sequence[str], values: Mapping[str, Any],
    config: ServingConfig,
) -> list[Reason]:  # fmt: skip
    """For a regression: the features that moved the predicted amount most, either way,
    largest first; each reason's ``contribution`` is signed (in the target's units)."""
    moved = np.asarray(contributions[: len(names)], dtype=np.float64)
    order = [int(j) for j in np.argsort(-np.abs(moved), kind="stable") if moved[j] != 0]
    out = []
    for j in order[: config.reason_count]:
        name = names[j]
        value = values.get(name)
        out.append(Reason(f"R{j:03d}", name, value, float(moved[j]), config.text_for(name, value)))
    return out


def _parse(usecase: str, data: Mapping[str, Any], origin: str) -> ServingConfig:
    def table(name: str) -> Mapping[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, Mapping):
            raise SchemaError(f"{origin}: [{name}] must be a table")
        return value

    unknown = set(data) - {"version", "score", "decision", "traffic", "reasons"}
    if unknown:
        raise SchemaError(f"{origin}: unknown section(s) {', '.join(sorted(unknown))}")
    score, decision, traffic, reasons = (table(n) for n in ("score", "decision", "traffic",
                                                             "reasons"))  # fmt: skip
    texts = reasons.get("texts", {})
    if not isinstance(texts, Mapping) or not all(isinstance(v, str) for v in texts.values()):
        raise SchemaError(f"{origin}: [reasons.texts] maps feature patterns to text")
    try:
        config = ServingConfig(
            usecase, int(data.get("version", 0)),
            float(score.get("base", 600)), float(score.get("base_odds", 50)),
            float(score.get("pdo", 20)), float(score.get("min", 300)), float(score.get("max", 850)),
            str(decision.get("flagged", "flagged")),
            str(decision.get("not_flagged", "not_flagged")),
            float(traffic.get("challenger_share", 0.0)), int(reasons.get("count", 4)),
            dict(texts), origin,
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"{origin}: {exc}") from exc
    if not 0 <= config.challenger_share <= 1 or config.pdo <= 0 or config.base_odds <= 0:
        raise SchemaError(f"{origin}: challenger_share must be in [0, 1]; pdo and base_odds > 0")
    if config.low >= config.high or not 1 <= config.reason_count <= 20:
        raise SchemaError(f"{origin}: score min < max, and 1 <= reasons.count <= 20")
    return config


def _window(feature: str) -> str:
    found = _WINDOW.search(feature)
    if not found:
        return ""
    n, unit = int(found.group(1)), found.group(2)
    word = "month" if unit == "m" else "year"
    return f"{n} {word}{'s' if n != 1 else ''}"


def _show(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
