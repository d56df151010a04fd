"""The scoring engine: raw records in, decisions with reasons out, for every served model.

For each model with a production version the engine holds a ``Host``: the use case's
request schema and serving file, and one ``Slot`` per alias in use (production,
challenger, shadow), each a loaded version: its feature pipeline, its scorer
(compiled library or XGBoost) and its TreeSHAP explainer. Features are built by the
very pipeline training used, over the lake (histories indexed once, kept in memory)
and any joined record sent inline.

Hot swap: ``refresh()`` compares the store's aliases with what is loaded, loads what
changed, and swaps the whole map in one assignment; a request holds the map it
started with, so it finishes on the version it began with, and every response names
that version.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from appliance.errors import ApplianceError, NotFound, SchemaError
from appliance.features.sources import FeatureSources, LakeSources
from appliance.home import DataHome
from appliance.serving.decisions import (
    ServingConfig,
    load_serving_config,
    points,
    top_contributions,
    top_reasons,
)
from appliance.serving.records import FieldProblem, RecordSchema, typed_rows

if TYPE_CHECKING:
    from sqlite_utils import Database

    from appliance.features.builders import RawColumn
    from appliance.scoring import LoadedModel
    from appliance.usecase.spec import UseCaseSpec

log = logging.getLogger("appliance.serving")

__all__ = ["Engine", "Host", "Scored", "Slot"]

ROLES = ("production", "challenger", "shadow")
Sink = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class Slot:
    """One loaded version, ready to score."""

    role: str
    loaded: LoadedModel
    explainer: Any
    threshold: float | None
    """The decision threshold of a classifier; None for a regression (no decision)."""

    @property
    def version(self) -> int:
        return self.loaded.version.version

    @property
    def names(self) -> list[str]:
        return self.loaded.pipeline.names


@dataclass(frozen=True)
class Host:
    """Everything one model name serves with."""

    model: str
    spec: UseCaseSpec
    schema: RecordSchema
    config: ServingConfig
    slots: Mapping[str, Slot]
    segments: Any = None
    """The use case's production segmentation artifact, when it has one: every answer
    then carries the customer's segment."""
    segments_version: int | None = None

    @property
    def aliases(self) -> dict[str, int]:
        return {role: slot.version for role, slot in self.slots.items()}

    @property
    def unfavourable_is_positive(self) -> bool:
        return self.spec.population.favourable != "flagged"


@dataclass(frozen=True)
class Scored:
    """One record's result (as returned to the caller) and what the log keeps of it."""

    response: dict[str, Any]
    features: dict[str, Any]
    entity: str | None = None
    record_id: str | None = None


@dataclass
class Engine:
    """Scores records for every model that has a production version in ``db``."""

    home: DataHome
    db: Database
    sink: Sink = lambda _record: None
    today: Callable[[], date] = date.today
    reference_only: bool = False
    """Serve through XGBoost itself (predictions and pred_contribs reasons), whatever was
    compiled: for troubleshooting, and the peer in the serving benchmark."""
    _hosts: dict[str, Host] = field(default_factory=dict)
    _sources: FeatureSources | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _shadow: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="shadow")
    )
    _datasets: tuple[Any, ...] = ()

    # -- loading and hot swap ------------------------------------------------------------

    def refresh(self) -> list[str]:
        """Load what the store's aliases point at, if anything changed; returns the
        changes in words. New lake data (another ingest) refreshes the feature sources."""
        from appliance.registry import aliases, list_models
        from appliance.segmentation.records import production_version

        datasets = tuple(self.db.execute(
            "SELECT dataset, max(id) FROM dataset_versions GROUP BY dataset ORDER BY dataset"
        ).fetchall())  # fmt: skip
        sources = self._sources
        if sources is None or datasets != self._datasets:
            sources = LakeSources(self.home, self.db)
        changes: list[str] = []
        hosts: dict[str, Host] = {}
        for model in list_models(self.db):
            wanted = {role: v for role, v in aliases(self.db, model.name).items() if role in ROLES}
            if "production" not in wanted:
                continue
            current = self._hosts.get(model.name)
            segmented = production_version(self.db, model.usecase)
            if (current is not None and current.aliases == wanted and sources is self._sources
                    and current.segments_version == segmented):  # fmt: skip
                hosts[model.name] = current
                continue
            hosts[model.name] = self._load_host(model.name, wanted, current, sources, segmented)
            changes.append(f"{model.name}: " + ", ".join(f"{r} v{v}" for r, v in wanted.items()))
        for gone in set(self._hosts) - set(hosts):
            changes.append(f"{gone}: no production version; no longer served")
        self._sources, self._datasets = sources, datasets
        self._hosts = hosts  # one assignment: requests in flight keep the map they hold
        return changes

    def hosts(self) -> dict[str, Host]:
        return self._hosts

    def host(self, model: str) -> Host:
        found = self._hosts.get(model)
        if found is None:
            served = ", ".join(sorted(self._hosts)) or "none yet"
            raise NotFound(f"no model {model!r} is being served (served: {served}); "
                           "a model is served once it has a production version")  # fmt: skip
        return found

    def _load_host(
        self, model: str, wanted: Mapping[str, int], current: Host | None,
        sources: FeatureSources, segmented: int | None = None,
    ) -> Host:  # fmt: skip
        from appliance.scoring import load_scorer

        slots: dict[str, Slot] = {}
        for role, version in wanted.items():
            old = current.slots.get(role) if current is not None else None
            if old is not None and old.version == version:
                slots[role] = old
                continue
            same = next((s for s in (current.slots.values() if current else ())
                         if s.version == version), None)  # fmt: skip
            slots[role] = Slot(role, same.loaded, same.explainer, same.threshold) if same else (
                _slot(role, load_scorer(self.home, self.db, model, str(version)),
                      reference=self.reference_only)
            )  # fmt: skip
        spec = slots["production"].loaded.pipeline.spec
        host = Host(model, spec, _record_schema(self.home, spec),
                    load_serving_config(self.home, spec.name), slots,
                    self._segments(spec.name, segmented), segmented)  # fmt: skip
        _warm(host, sources)
        return host

    def _segments(self, usecase: str, version: int | None) -> Any:
        """The production segmentation's artifact; None (answers without a segment, said in
        the log) when there is none or it cannot be loaded: scoring never waits on it."""
        from appliance.segmentation.records import get_segmentation, load_artifact

        if version is None:
            return None
        try:
            return load_artifact(self.home, get_segmentation(self.db, usecase, version))
        except ApplianceError as exc:
            log.warning("serving %s without segments: %s", usecase, exc)
            return None

    # -- scoring -------------------------------------------------------------------------

    def score(self, model: str, record: Mapping[str, Any], *, key_id: str = "") -> dict[str, Any]:
        """One applicant: the served decision (logged, with any shadow scored aside)."""
        started = time.perf_counter()
        host = self.host(model)
        table, joined, _ = typed_rows(host.schema, [record], today=self.today())
        slot = host.slots[self._route(host, table)]
        request_id = uuid.uuid4().hex
        scored = self._score_rows(host, slot, table, joined)[0]
        response = {"request_id": request_id, **scored.response}
        response["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        self.sink(_log_record(response, record, scored, key_id, served=True))
        shadow = host.slots.get("shadow")
        if shadow is not None and shadow.version != slot.version:
            self._shadow.submit(self._score_shadow, host, shadow, table, joined, record,
                                request_id, key_id)  # fmt: skip
        return response

    def score_batch(
        self, model: str, records: Sequence[Mapping[str, Any]], *, key_id: str = ""
    ) -> list[dict[str, Any]]:
        """Many records, each scored or rejected with its problems; order kept."""
        host = self.host(model)
        table, _, problems = typed_rows(host.schema, records, today=self.today(), strict=False)
        return self._batch(host, table, problems, records, key_id)

    def score_table(self, model: str, table: pa.Table, *, key_id: str = "") -> list[dict[str, Any]]:
        """An Arrow table of raw records (Arrow IPC / Parquet bodies, batch files)."""
        host = self.host(model)
        records = table.to_pylist()
        typed, _, problems = typed_rows(host.schema, records, today=self.today(), strict=False)
        return self._batch(host, typed, problems, records, key_id)

    def score_clean(
        self, model: str, table: pa.Table, problems: Sequence[FieldProblem], *, key_id: str = ""
    ) -> list[dict[str, Any]]:
        """Rows already typed by the population source's schema (a batch file), with
        the problems cleaning found; rows with a problem are rejected, the rest scored."""
        return self._batch(self.host(model), table, problems, table.to_pylist(), key_id)

    def _batch(
        self, host: Host, table: pa.Table, problems: Sequence[FieldProblem],
        records: Sequence[Any], key_id: str,
    ) -> list[dict[str, Any]]:  # fmt: skip
        bad: dict[int, list[FieldProblem]] = {}
        for p in problems:
            bad.setdefault(p.row or 0, []).append(p)
        good = [i for i in range(table.num_rows) if i not in bad]
        out: list[dict[str, Any]] = [
            {"row": i, "error": "; ".join(f"{p.field}: {p.problem}" for p in bad[i]),
             "problems": [p.to_dict() for p in bad[i]]} if i in bad else {"row": i}
            for i in range(table.num_rows)
        ]  # fmt: skip
        if good:
            slot = host.slots["production"]
            chosen = table.take(pa.array(good))
            for i, scored in zip(good, self._score_rows(host, slot, chosen, {}), strict=True):
                response = {"row": i, "request_id": uuid.uuid4().hex, **scored.response}
                out[i] = response
                self.sink(_log_record(response, records[i], scored, key_id, served=True))
        return out

    def _score_shadow(
        self, host: Host, slot: Slot, table: pa.Table, joined: Mapping[str, pa.Table],
        record: Mapping[str, Any], request_id: str, key_id: str,
    ) -> None:  # fmt: skip
        scored = self._score_rows(host, slot, table, joined)[0]
        response = {"request_id": request_id, **scored.response}
        self.sink(_log_record(response, record, scored, key_id, served=False))

    def _route(self, host: Host, table: pa.Table) -> str:
        """production, or challenger for the configured share of entities (sticky)."""
        share = host.config.challenger_share
        if "challenger" not in host.slots or share <= 0:
            return "production"
        entity = host.spec.population.entity or host.spec.population.id
        key = str(table.column(entity)[0].as_py()) if entity in table.column_names else ""
        bucket = zlib.crc32(key.encode()) % 10_000
        return "challenger" if bucket < share * 10_000 else "production"

    def _score_rows(
        self, host: Host, slot: Slot, table: pa.Table, joined: Mapping[str, pa.Table]
    ) -> list[Scored]:
        pipeline = slot.loaded.pipeline
        sources: FeatureSources | None = self._sources
        if sources is None:
            raise NotFound("the scoring engine has not loaded its models yet")
        if joined:
            sources = _Overlay(sources, host.spec, joined)
        with self._lock:  # the lake sources and their indexes are shared
            raw = pipeline.raw(table, sources)
        x = pipeline.encode(raw).astype(np.float64)
        scorer = slot.loaded.scorer
        if x.shape[0] == 1:
            p = np.array([scorer.predict_one(x[0])])
            contributions = slot.explainer.row(x[0])[None, :]
        else:
            p = scorer.predict(x, threads=2)
            contributions = slot.explainer.contributions(x)
        values = _raw_values(raw)
        segments = _assign_segments(host, raw)
        population = host.spec.population
        ids = _column(table, population.id)
        entities = _column(table, population.entity)
        out = []
        for i in range(x.shape[0]):
            row_values = {name: column[i] for name, column in values.items()}
            answer = _amount_response if slot.threshold is None else _decision_response
            response = answer(host, slot, ids[i], float(p[i]), contributions[i], row_values)
            if segments is not None:
                response.update(segment=int(segments[i]),
                                segmentation_version=host.segments_version)  # fmt: skip
            out.append(Scored(response, row_values, entities[i], ids[i]))
        return out


# -- helpers ---------------------------------------------------------------------------


def _assign_segments(host: Host, raw: Sequence[RawColumn]) -> np.ndarray | None:
    """Each row's segment from the raw features just built, or None without segments (or
    when the segmentation's features are not among this model's: said in the log)."""
    if host.segments is None:
        return None
    from appliance.segmentation.artifact import assign

    try:
        return assign(host.segments, {c.name: c.values for c in raw})
    except ApplianceError as exc:
        log.warning("%s: no segment: %s", host.model, exc)
        return None


def _decision_response(
    host: Host, slot: Slot, record_id: Any, p: float, contributions: np.ndarray,
    row_values: Mapping[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """A classifier's answer: probability, points score, the decision at the threshold and
    the reasons that pushed towards the unfavourable outcome."""
    assert slot.threshold is not None  # a classifier's slot always has one
    flagged = bool(p >= slot.threshold)
    towards_positive = host.unfavourable_is_positive
    p_unfavourable = p if towards_positive else 1 - p
    reasons = top_reasons(contributions, slot.names, row_values, host.config,
                          towards_positive=towards_positive)  # fmt: skip
    return {
        "model": host.model, "version": slot.version, "role": slot.role,
        "scorer": slot.loaded.scorer.kind, host.spec.population.id: record_id,
        "probability": round(p, 6),
        "score": points(p_unfavourable, host.config),
        "decision": host.config.flagged if flagged else host.config.not_flagged,
        "flagged": flagged, "threshold": round(slot.threshold, 6),
        "reasons": [r.to_dict() for r in reasons],
        "reason_dictionary_version": host.config.version,
    }  # fmt: skip


def _amount_response(
    host: Host, slot: Slot, record_id: Any, value: float, contributions: np.ndarray,
    row_values: Mapping[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """A regression's answer: the predicted amount and the features that moved it most."""
    reasons = top_contributions(contributions, slot.names, row_values, host.config)
    return {
        "model": host.model, "version": slot.version, "role": slot.role,
        "scorer": slot.loaded.scorer.kind, host.spec.population.id: record_id,
        "kind": "regression", "prediction": round(value, 4), "decision": "predicted",
        "reasons": [r.to_dict() for r in reasons],
        "reason_dictionary_version": host.config.version,
    }  # fmt: skip


def _slot(role: str, loaded: LoadedModel, *, reference: bool = False) -> Slot:
    from compiled_models.forest import Forest
    from compiled_models.reference import XGBoostExplainer, XGBoostScorer
    from compiled_models.scorer import ServingScorer
    from compiled_models.treeshap import TreeExplainer

    threshold: float | None = None
    if loaded.version.metrics.get("task") != "regression":
        value = (loaded.version.metrics.get("threshold") or {}).get("value")
        if not isinstance(value, int | float):
            raise SchemaError(f"{loaded.version.subject} has no decision threshold in its metrics")
        threshold = float(value)
    if reference:
        xgb = XGBoostScorer(loaded.booster)
        loaded = replace(loaded, scorer=ServingScorer(xgb, xgb, "reference_only"))
        return Slot(role, loaded, XGBoostExplainer(loaded.booster), threshold)
    explainer = TreeExplainer(Forest.from_booster(loaded.booster))
    return Slot(role, loaded, explainer, threshold)


def _record_schema(home: DataHome, spec: UseCaseSpec) -> RecordSchema:
    from appliance.ingest.sources import all_sources

    by_name = {s.name: s for s in all_sources(home)}
    population = spec.population

    def schema_of(dataset: str) -> Any:
        if dataset not in by_name:
            raise NotFound(f"no source schema for dataset {dataset!r} in {home.dir('sources')}")
        return by_name[dataset]

    joins = {join.name: schema_of(join.dataset) for join in spec.tables}
    schema = schema_of(population.dataset)
    unused: frozenset[str] = frozenset()
    if not spec.auto_features:
        unused = frozenset(c.name for c in schema.columns) - _population_columns(spec)
    return RecordSchema.build(schema, population.target, population.time, joins,
                              unused=unused)  # fmt: skip


def _population_columns(spec: UseCaseSpec) -> frozenset[str]:
    """The population's own columns that the spec reads: keys, the date, and every column
    a feature names without a table."""
    from dataclasses import fields

    from appliance.usecase.spec import ColumnRef

    p = spec.population
    named = {p.id, p.entity, p.time} - {None}
    named |= {t.on for t in spec.tables} | {h.on for h in spec.histories if h.on}
    for feature in spec.features:
        for item in fields(feature):
            ref = getattr(feature, item.name)
            if isinstance(ref, ColumnRef) and ref.table is None:
                named.add(ref.column)
    return frozenset(str(name) for name in named)


def _warm(host: Host, sources: FeatureSources) -> None:
    """Read the lake tables and build the history indexes now, not on a first request:
    score the newest population row with every slot."""
    try:
        table = sources.table(host.spec.population.dataset)
    except NotFound:
        return
    if table.num_rows:
        sample = table.slice(table.num_rows - 1, 1)
        for slot in host.slots.values():
            slot.loaded.pipeline.raw(sample, sources)


def _raw_values(raw: Sequence[RawColumn]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for column in raw:
        values = column.values
        if column.kind == "numeric":
            floats = np.asarray(values, dtype=np.float64)
            out[column.name] = [None if np.isnan(v) else float(v) for v in floats]
        else:
            out[column.name] = [None if v is None else str(v) for v in values]
    return out


def _column(table: pa.Table, name: str | None) -> list[Any]:
    if not name or name not in table.column_names:
        return [None] * table.num_rows
    return [None if v is None else str(v) for v in table.column(name).to_pylist()]


def _log_record(
    response: Mapping[str, Any], record: Any, scored: Scored, key_id: str, *, served: bool
) -> dict[str, Any]:
    return {**response, "input": dict(record) if isinstance(record, Mapping) else record,
            "features": scored.features, "key_id": key_id, "served": served,
            "entity_id": scored.entity, "application_id": scored.record_id}  # fmt: skip


class _Overlay:
    """Lake sources, except for joined tables whose record came with the request."""

    def __init__(self, base: Any, spec: UseCaseSpec, joined: Mapping[str, pa.Table]) -> None:
        self._base = base
        self._tables = {spec.table(name).dataset: table for name, table in joined.items()}

    def table(self, dataset: str) -> pa.Table:
        inline = self._tables.get(dataset)
        return inline if inline is not None else self._base.table(dataset)

    def events(self, history: Any, values: tuple[str, ...]) -> Any:
        return self._base.events(history, values)

    def lineage(self) -> list[dict[str, Any]]:
        return list(self._base.lineage())
