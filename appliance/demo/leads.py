"""The bancassurance answer in one table: who to call (conversion propensity), which
segment they are in, and the premium to offer (the regression), for the top leads.

Scores go through the serving engine, so every lead's propensity and premium is logged
and explained like any live request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.serving.engine import Engine

__all__ = ["LEAD_COLUMNS", "top_leads"]

LEAD_COLUMNS = ("customer_id", "propensity", "segment", "premium", "reasons")


def top_leads(
    engine: Engine, db: Database, offers: pa.Table, *, propensity: str, premium: str,
    segments: str, share: float = 0.05,
) -> pa.Table:  # fmt: skip
    """The top ``share`` of ``offers`` (population rows as the lake holds them, outcome
    columns left out) by propensity, with each one's production segment (None where the
    customer has none) and suggested premium."""
    scored = [r for r in engine.score_clean(propensity, offers, (), key_id="demo")
              if "error" not in r]  # fmt: skip
    scored.sort(key=lambda r: -float(r["probability"]))
    top = scored[: max(1, round(len(scored) * share))]
    ids = [r["customer_id"] for r in top]
    chosen = offers.filter(pc.is_in(offers.column("customer_id"), pa.array(ids)))
    amounts = {r["customer_id"]: r.get("prediction")
               for r in engine.score_clean(premium, chosen, (), key_id="demo")}  # fmt: skip
    segment_of = _segments(db, segments, ids)
    rows: list[dict[str, Any]] = [{
        "customer_id": r["customer_id"], "propensity": r["probability"],
        "segment": segment_of.get(r["customer_id"]), "premium": amounts.get(r["customer_id"]),
        "reasons": "; ".join(reason["text"] for reason in r["reasons"][:2]),
    } for r in top]  # fmt: skip
    schema = pa.schema([("customer_id", pa.string()), ("propensity", pa.float64()),
                        ("segment", pa.int64()), ("premium", pa.float64()),
                        ("reasons", pa.string())])  # fmt: skip
    return pa.Table.from_pylist(rows, schema=schema)


def _segments(db: Database, usecase: str, ids: list[str]) -> dict[str, int]:
    if "production_customer_segments" not in db.view_names() or not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = db.execute(
        "SELECT entity_id, segment FROM production_customer_segments"
        f" WHERE usecase = ? AND entity_id IN ({marks})", [usecase, *ids],
    ).fetchall()  # fmt: skip
    return {str(entity): int(segment) for entity, segment in rows}
