"""Warnings a data scientist should read before modelling, derived from a profile's values."""

from __future__ import annotations

from appliance.profile.results import CATEGORICAL, Alert, ColumnProfile, Matrix, ProfileConfig

__all__ = ["find_alerts", "high_cardinality"]

_SEVERITY = (
    "leakage",
    "empty",
    "constant",
    "duplicates",
    "missing",
    "cardinality",
    "correlated",
    "skewed",
)


def find_alerts(
    columns: list[ColumnProfile],
    matrices: tuple[Matrix, ...],
    target: str | None,
    duplicates: int | None,
    rows: int,
    cfg: ProfileConfig,
) -> tuple[Alert, ...]:
    """Everything a data scientist should look at before modelling, most serious first."""
    # a skewed 0/1 target is just a rare outcome, not a transform to consider
    alerts = [
        a
        for c in columns
        for a in _column_alerts(c, cfg)
        if not (a.kind == "skewed" and c.name == target)
    ]
    if duplicates:
        alerts.append(
            Alert(
                "duplicates",
                None,
                f"{duplicates:,} duplicate rows ({duplicates / rows:.1%} of all rows)",
            )
        )
    by_name = {m.name: m for m in matrices}
    if target is not None:
        alerts.extend(_leakage_alerts(by_name, target, cfg))
    if "pearson" in by_name:
        alerts.extend(_collinear_alerts(by_name["pearson"], target, cfg))
    return tuple(sorted(alerts, key=lambda alert: _SEVERITY.index(alert.kind)))


def _column_alerts(c: ColumnProfile, cfg: ProfileConfig) -> list[Alert]:
    present = c.rows - c.missing
    if c.rows and not present:
        return [Alert("empty", c.name, "every value is missing")]
    alerts = []
    if c.distinct == 1:
        alerts.append(Alert("constant", c.name, "one value only: carries no information"))
    if c.missing_rate >= cfg.missing_rate:
        alerts.append(
            Alert("missing", c.name, f"{c.missing_rate:.1%} missing ({c.missing:,} rows)")
        )
    if high_cardinality(c, cfg):
        what = (
            "every value is distinct: an identifier? do not use it as a feature"
            if c.distinct == present
            else f"{c.distinct:,} distinct values in {present:,} rows: group rare levels"
        )
        alerts.append(Alert("cardinality", c.name, what))
    if c.numeric and abs(c.numeric.skew) >= cfg.skew:
        alerts.append(
            Alert(
                "skewed",
                c.name,
                f"skewness {c.numeric.skew:+.1f}: consider a log or rank transform",
            )
        )
    return alerts


def _collinear_alerts(m: Matrix, target: str | None, cfg: ProfileConfig) -> list[Alert]:
    alerts = []
    for i, a in enumerate(m.rows):
        for j in range(i + 1, len(m.columns)):
            r, b = m.values[i][j], m.columns[j]
            if target not in (a, b) and abs(r) >= cfg.collinear:
                message = f"Pearson r {r:+.2f} with {b!r}: nearly redundant features"
                alerts.append(Alert("correlated", a, message))
    return alerts


def _leakage_alerts(by_name: dict[str, Matrix], target: str, cfg: ProfileConfig) -> list[Alert]:
    strongest: dict[str, tuple[float, str]] = {}
    for key in ("pearson", "spearman", "correlation_ratio"):
        m = by_name.get(key)
        if m is None or target not in m.rows:
            continue
        for column in m.columns:
            value = abs(m.get(target, column))
            if column != target and value >= strongest.get(column, (0.0, ""))[0]:
                strongest[column] = (value, m.method)
    return [
        Alert(
            "leakage",
            column,
            f"{method} {value:.2f} with the target {target!r}: "
            "too good to be true? check it is known at decision time",
        )
        for column, (value, method) in strongest.items()
        if value >= cfg.leakage
    ]


def high_cardinality(column: ColumnProfile, cfg: ProfileConfig) -> bool:
    """A categorical column with many distinct values, most of them rare."""
    present = column.rows - column.missing
    return column.kind == CATEGORICAL and cfg.many_levels(column.distinct or 0, present)
