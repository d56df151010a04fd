"""Moving aliases: promote (through the gates), assign, roll back, reject.

Every change to an alias writes an ``alias_events`` row and an audit entry in the same
transaction. A refused promotion changes nothing but is itself audited, in a transaction
of its own that commits before the error is raised, so call these outside any
transaction of your own. A version whose booster does not load (changed after
registration, missing, or not a model XGBoost can parse) never takes an alias.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from appliance import audit
from appliance.errors import ApplianceError, PromotionRefused
from appliance.home import DataHome
from appliance.registry.gates import GateReport, evaluate_gates
from appliance.registry.records import ALIASES, ModelVersion, aliases, get_model, get_version
from appliance.store.db import now_iso

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["GatesFailed", "previous_production", "promote", "reject", "rollback"]

PRODUCTION = "production"


class GatesFailed(PromotionRefused):
    """A promotion to production failed one or more gates; ``report`` says which."""

    def __init__(self, message: str, report: GateReport) -> None:
        super().__init__(message)
        self.report = report


def promote(
    db: Database,
    model: str,
    version: int,
    *,
    alias: str = PRODUCTION,
    actor: str,
    reason: str,
    override_fairness: str | None = None,
) -> GateReport:
    """Point ``alias`` at ``version``. Production goes through the gates; challenger and
    shadow do not. Raises GatesFailed (audited) when a gate fails, and PromotionRefused
    (audited) when the version's booster does not load."""
    _require_reason(reason)
    if alias not in ALIASES:
        raise PromotionRefused(f"alias {alias!r} is not one of {', '.join(ALIASES)}")
    _check_booster_loads(db, get_version(db, model, version), alias, actor, reason)
    with db.atomic():
        candidate = get_version(db, model, version)
        current = aliases(db, model).get(alias)
        _check_candidate(candidate, alias, current)
        if alias == PRODUCTION:
            production = get_version(db, model, current) if current is not None else None
            report = evaluate_gates(candidate, production, override_fairness=override_fairness)
        else:
            report = GateReport(version, current, ())
        if report.passed:
            _apply(db, candidate, alias, current, actor, reason, report)
            return report
    # nothing was written above; the refusal is recorded in a transaction of its own
    failed = "; ".join(f"{g.name}: {g.detail}" for g in report.failed)
    audit.record(db, actor, "model.promotion_refused", candidate.subject, {
        "alias": alias, "reason": reason, "override_fairness": override_fairness,
        **report.as_dict(),
    })  # fmt: skip
    raise GatesFailed(f"promotion of {model} v{version} to {alias} refused: {failed}", report)


def _check_booster_loads(
    db: Database, candidate: ModelVersion, alias: str, actor: str, reason: str
) -> None:
    """Load the candidate's booster as serving would (hash checked, then parsed), before
    the promotion's transaction; a failure is audited and refuses the promotion."""
    from appliance.registry.artifacts import load_booster

    if candidate.status == "rejected":
        return  # refused below, with its own reason
    try:
        load_booster(_home_of(db), candidate)
    except ApplianceError as exc:
        audit.record(db, actor, "model.promotion_refused", candidate.subject,
                     {"alias": alias, "reason": reason, "artifact": str(exc)})  # fmt: skip
        raise PromotionRefused(
            f"promotion of {candidate.model} v{candidate.version} to {alias} refused: {exc}"
        ) from exc


def _home_of(db: Database) -> DataHome:
    """The data home whose store ``db`` is (the store lives at the home's root)."""
    for _seq, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main" and file:
            return DataHome(Path(file).parent)
    raise PromotionRefused("the store is not a file of a data home; cannot check the booster")


def _check_candidate(candidate: ModelVersion, alias: str, current: int | None) -> None:
    if candidate.status == "rejected":
        raise PromotionRefused(
            f"{candidate.model} v{candidate.version} was rejected and cannot take an alias; "
            "train a new version"
        )
    if current == candidate.version:
        raise PromotionRefused(
            f"{candidate.model} v{candidate.version} already is {alias}; nothing changed"
        )


def _apply(
    db: Database,
    candidate: ModelVersion,
    alias: str,
    current: int | None,
    actor: str,
    reason: str,
    report: GateReport,
) -> None:
    action = "promote" if alias == PRODUCTION else "assign"
    _set_alias(db, candidate.model, alias, candidate.version, current, action, actor, reason)
    details = {
        "alias": alias,
        "version": candidate.version,
        "previous_version": current,
        "reason": reason,
        **({"gates": report.as_dict()["gates"]} if report.gates else {}),
    }
    audit.record(db, actor, f"model.{action}", candidate.subject, details)
    if report.fairness_override:
        audit.record(db, actor, "model.fairness_override", candidate.subject, {
            "alias": alias, "override": report.fairness_override,
            "fairness": candidate.metrics.get("fairness"),
        })  # fmt: skip


def rollback(db: Database, model: str, *, actor: str, reason: str) -> tuple[int, int]:
    """Restore the production version that preceded the current one; returns
    ``(from_version, to_version)``. Rejected versions are skipped."""
    _require_reason(reason)
    with db.atomic():
        get_model(db, model)
        current = aliases(db, model).get(PRODUCTION)
        if current is None:
            raise PromotionRefused(f"model {model!r} has no production version to roll back")
        target = previous_production(db, model)
        if target is None:
            raise PromotionRefused(
                f"{model} v{current} is the first production version: there is no earlier "
                "one to roll back to; promote another version instead"
            )
        _set_alias(db, model, PRODUCTION, target, current, "rollback", actor, reason)
        audit.record(db, actor, "model.rollback", model, {
            "alias": PRODUCTION, "from_version": current, "to_version": target, "reason": reason,
        })  # fmt: skip
    return current, target


def previous_production(db: Database, model: str) -> int | None:
    """The version production would roll back to: the history of production versions
    is replayed from ``alias_events`` (promotions push, rollbacks pop)."""
    history: list[int] = []
    events = db.execute(
        "SELECT action, version FROM alias_events WHERE model = ? AND alias = ? ORDER BY id",
        [model, PRODUCTION],
    )
    for action, version in events:
        if action == "rollback":
            if history:
                history.pop()
            if not history or history[-1] != version:
                history.append(version)
        elif action == "clear":
            history.clear()
        else:
            history.append(version)
    rejected = {r[0] for r in db.execute(
        "SELECT version FROM model_versions WHERE model = ? AND status = 'rejected'", [model]
    )}  # fmt: skip
    current = history[-1] if history else None
    for version in reversed(history[:-1]):
        if version != current and version not in rejected:
            return version
    return None


def reject(db: Database, model: str, version: int, *, actor: str, reason: str) -> ModelVersion:
    """Mark a version rejected: it can never take an alias again. Challenger and shadow
    aliases pointing at it are cleared; the production version cannot be rejected."""
    _require_reason(reason)
    with db.atomic():
        candidate = get_version(db, model, version)
        held = sorted(a for a, v in aliases(db, model).items() if v == version)
        if PRODUCTION in held:
            raise PromotionRefused(
                f"{model} v{version} is in production; roll back or promote another "
                "version before rejecting it"
            )
        if candidate.status == "rejected":
            return candidate
        for alias in held:
            db.execute("DELETE FROM model_aliases WHERE model = ? AND alias = ?", [model, alias])
            _event(db, model, alias, None, version, "clear", actor, reason)
        db.execute(
            "UPDATE model_versions SET status = 'rejected' WHERE model = ? AND version = ?",
            [model, version],
        )
        audit.record(db, actor, "model.reject", candidate.subject, {
            "reason": reason, "cleared_aliases": held,
        })  # fmt: skip
    return get_version(db, model, version)


def _set_alias(
    db: Database,
    model: str,
    alias: str,
    version: int,
    previous: int | None,
    action: str,
    actor: str,
    reason: str,
) -> None:
    db.execute(
        "INSERT INTO model_aliases (model, alias, version, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version,"
        " updated_at = excluded.updated_at",
        [model, alias, version, now_iso()],
    )
    _event(db, model, alias, version, previous, action, actor, reason)


def _event(
    db: Database,
    model: str,
    alias: str,
    version: int | None,
    previous: int | None,
    action: str,
    actor: str,
    reason: str,
) -> None:
    db.execute(
        "INSERT INTO alias_events (model, alias, version, previous_version, action, actor,"
        " reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [model, alias, version, previous, action, actor, reason, now_iso()],
    )


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise PromotionRefused("a reason is required: say why, it goes into the audit log")
