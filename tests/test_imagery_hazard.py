"""The region x month hazard table: counts, the majority rule, cloud is no evidence."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from imagery_edge import region_month_table
from imagery_edge.hazard import HAZARD_COLUMNS


def labels(*rows: tuple[str, str, str]) -> pa.Table:
    return pa.table(
        {
            "region": [r for r, _, _ in rows],
            "acquired": [date.fromisoformat(d) for _, d, _ in rows],
            "label": [label for _, _, label in rows],
            "p_flood": [0.5] * len(rows),  # other columns are ignored
        }
    )


def by_month(table: pa.Table) -> dict[tuple[str, str], dict[str, object]]:
    return {(r["region"], str(r["month"])): r for r in table.to_pylist()}


def test_the_rule() -> None:
    table = region_month_table(
        labels(
            ("a", "2024-01-03", "flood"),  # one flood among one clear: flood
            ("a", "2024-01-19", "cloud"),
            ("a", "2024-02-03", "flood"),  # a tie counts
            ("a", "2024-02-11", "normal"),
            ("a", "2024-03-03", "flood"),  # a minority does not
            ("a", "2024-03-11", "normal"),
            ("a", "2024-03-19", "normal"),
            ("a", "2024-04-03", "cloud"),  # no clear tile: no evidence either way
            ("a", "2024-04-19", "cloud"),
            ("b", "2024-01-31", "drought"),  # both in one month
            ("b", "2024-01-02", "flood"),
            ("b", "2023-12-31", "drought"),
        )
    )
    assert table.column_names == list(HAZARD_COLUMNS)
    assert table.schema.field("month").type == pa.date32()
    rows = by_month(table)
    flags = {key: (row["flood"], row["drought"]) for key, row in rows.items()}
    assert flags == {
        ("a", "2024-01-01"): (True, False),
        ("a", "2024-02-01"): (True, False),
        ("a", "2024-03-01"): (False, False),
        ("a", "2024-04-01"): (False, False),
        ("b", "2023-12-01"): (False, True),
        ("b", "2024-01-01"): (True, True),
    }
    april = rows[("a", "2024-04-01")]
    assert (april["cloud_tiles"], april["normal_tiles"], april["flood_tiles"]) == (2, 0, 0)
    assert rows[("a", "2024-03-01")]["normal_tiles"] == 2
    assert list(rows) == sorted(rows)  # sorted by region, then month


def test_empty_and_missing_columns() -> None:
    empty = region_month_table(labels())
    assert empty.num_rows == 0 and empty.column_names == list(HAZARD_COLUMNS)
    with pytest.raises(ValueError, match="lack column"):
        region_month_table(pa.table({"region": ["a"]}))
