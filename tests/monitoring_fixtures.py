"""A trained demo lake with predictions in its log, for the monitoring tests.

Predictions are made by the real serving engine (``Engine.score_clean`` on population
rows read from the lake, as `appliance score` does) and written by the real prediction
log; each is stamped with its application's date, so the demo's calendar (the shifted
population from 2025-04 on) lands in the matching monitoring windows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from appliance.home import DataHome
from appliance.store.db import connect

__all__ = ["score_rows", "stamped_sink"]


def stamped_sink(prediction_log: Any, time_column: str, on: date | None = None) -> Any:
    """The engine's log records as PredictionRecords dated by the record's own date (or
    all on the day ``on``)."""
    from appliance.serving.predlog import PredictionRecord

    def sink(r: Mapping[str, Any]) -> None:
        day = on or r["input"][time_column]
        if isinstance(day, str):
            day = date.fromisoformat(day[:10])
        at = f"{day.isoformat()}T12:00:00+00:00"
        prediction_log.submit(PredictionRecord(
            request_id=r["request_id"], model=r["model"], version=r["version"], role=r["role"],
            served=r["served"], input=r["input"], features=r["features"],
            probability=r["probability"], decision=r["decision"], score=r.get("score"),
            reasons=r["reasons"], latency_ms=0.0, entity_id=r.get("entity_id"),
            application_id=r.get("application_id"), at=at,
        ))  # fmt: skip

    return sink


def score_rows(
    home: DataHome, *, since: str, until: str, model: str = "credit_default",
    on: date | None = None, sample: int | None = None, seed: int = 0,
) -> int:  # fmt: skip
    """Score the lake's credit applications dated in [since, until] (a random ``sample``
    of them) through the serving engine; log them dated by their application date, or
    all on ``on``. Returns the rows scored."""
    import numpy as np

    from appliance.lake import read_dataset
    from appliance.serving.engine import Engine
    from appliance.serving.predlog import PredictionLog

    db = connect(home.db_path)
    log = PredictionLog(home.db_path).start()
    try:
        table = read_dataset(home, db, "credit_applications")
        day = table.column("application_date")
        keep = pc.and_(pc.greater_equal(day, pa.scalar(date.fromisoformat(since))),
                       pc.less_equal(day, pa.scalar(date.fromisoformat(until))))  # fmt: skip
        rows = table.filter(keep)
        if sample is not None and sample < rows.num_rows:
            pick = np.sort(np.random.default_rng(seed).choice(rows.num_rows, sample, False))
            rows = rows.take(pa.array(pick))
        engine = Engine(home, db, sink=stamped_sink(log, "application_date", on))
        engine.refresh()
        results = engine.score_clean(model, rows, [])
        log.flush()
        return sum("error" not in r for r in results)
    finally:
        log.close()
        db.close()
