"""`appliance demo`: a fresh home, the demo data, the whole life cycle once.

It grows as the life cycle does: today it generates, ingests, profiles, classifies the
satellite tiles, trains and compiles the three demo use cases, promotes each through the
gates, batch-scores the credit applications that came after the training window, posts
their (simulated) outcomes, measures drift, performance and fairness with the monitoring
report, publishes the BI tables (Hyper extracts, the Flight SQL data set) and verifies
the audit chain.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from appliance.cli.context import AppContext, pass_app
from appliance.errors import HomeError

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["command"]

USECASES = ("credit_default", "card_fraud", "insurance_propensity", "insurance_premium")
SEGMENTED = "insurance_propensity"  # the use case whose spec declares the customer segments

# dataset -> target column for its profile report
PROFILES = {
    "credit_applications": "defaulted",
    "fraud_transactions": "is_fraud",
    "bank_insurance_conversion": "converted",
}


@click.command("demo")
@click.option("--rows", type=click.IntRange(min=100), default=None, help="Customers to generate.")
@click.option("--seed", type=int, default=7, show_default=True)
@pass_app
@click.pass_context
def command(ctx: click.Context, app: AppContext, rows: int | None, seed: int) -> None:
    """Fresh home, demo data, the whole life cycle once; then says where to look."""
    from appliance import audit, demo
    from appliance.cli.home_cmds import command as init_command
    from appliance.cli.imagery import command as imagery_command
    from appliance.cli.ingest import sweep_inbox
    from appliance.cli.monitor import command as monitor_command
    from appliance.cli.profile import command as profile_command
    from appliance.cli.publish import command as publish_command

    home = app.home
    if home.is_initialised and any(home.dir("lake").iterdir()):
        raise HomeError(
            f"{home.root} already holds data; `appliance demo` wants a fresh home: "
            "pass a new --home DIR"
        )
    started = time.perf_counter()
    _step("1/11 laying out the data home")
    ctx.invoke(init_command)
    db = app.store()
    _step("2/11 generating demo data")
    demo.generate(home.dir("inbox"), rows=rows or demo.DEFAULT_ROWS, seed=seed, progress=_step)
    _step("3/11 ingesting the inbox")
    results = sweep_inbox(app, db)
    _step("4/11 profiling the outcome datasets")
    for dataset, target in PROFILES.items():
        ctx.invoke(profile_command, dataset=dataset, target=target)
    _step("5/11 classifying the satellite tiles into regional hazard labels")
    ctx.invoke(imagery_command)
    _step("6/11 training and promoting the demo use cases")
    trained = [_train_and_promote(app, db, usecase) for usecase in USECASES]
    _step("7/11 segmenting the bank's customers (k-means, k chosen by silhouette)")
    segmented = _segment(app, db)
    _step("8/11 bancassurance leads: the top 5 % by propensity, their segment, the premium")
    leads = _leads(app, db)
    _step("9/11 batch-scoring the credit applications after the training window; outcomes")
    scored = _score_and_observe(app, db)
    _step("10/11 monitoring credit_default: drift against training, performance, fairness")
    ctx.invoke(monitor_command, usecase="credit_default", window="month")
    _step("11/11 publishing the BI tables: Hyper extracts and the Flight SQL data set")
    ctx.invoke(publish_command, full=False, target=None, pg_schema="appliance")
    report = audit.verify(db)
    total_in = sum(r.run.rows_in for r in results)
    total_q = sum(r.run.rows_quarantined for r in results)
    click.echo("")
    click.secho(f"demo done in {time.perf_counter() - started:.1f}s", bold=True)
    click.echo(f"  ingested {len(results)} files: {total_in:,} rows in, {total_q:,} quarantined")
    click.echo(f"  audit chain: {'intact' if report.ok else 'BROKEN'} ({report.entries} entries)")
    click.echo("where to look:")
    click.echo(f"  lake        {home.dir('lake')}   (appliance --home {home.root} datasets)")
    click.echo(f"  quarantine  {home.dir('quarantine')}")
    click.echo(f"  profiles    {home.dir('publish') / 'profiles'}")
    for line in trained:
        click.echo(line)
    click.echo(segmented)
    click.echo(leads)
    click.echo(scored)
    click.echo(f"  monitoring  {home.dir('publish') / 'monitoring' / 'credit_default.html'}")
    click.echo(f"  BI extracts {home.dir('publish')}   (appliance --home {home.root} flight)")


def _train_and_promote(app: AppContext, db: Database, usecase: str) -> str:
    """Train one use case and ask for production; returns a line saying where its card is."""
    from appliance.registry import promote
    from appliance.registry.promotion import GatesFailed
    from appliance.training import train_usecase
    from appliance.usecase import locate_spec

    spec = locate_spec(app.home, usecase)
    outcome = train_usecase(
        app.home, db, spec, actor=app.settings.actor, progress=lambda m: _step(f"  {m}")
    )
    m, version = outcome.metrics, outcome.version.version
    if spec.is_regression:
        test, base = m["test"], m["baseline_test"]
        _step(f"  {usecase} v{version}: test RMSE {test['rmse']:,.2f}, R² {test['r2']:.3f} "
              f"(baseline RMSE {base['rmse']:,.2f})")  # fmt: skip
    else:
        _step(f"  {usecase} v{version}: test AUC {m['test']['roc_auc']:.3f} "
              f"(baseline {m['baseline_test']['roc_auc']:.3f})")  # fmt: skip
    actor = app.settings.actor
    try:
        promote(db, spec.model_name, version, actor=actor, reason="demo run")
        status = "production (every gate passed)"
    except GatesFailed as exc:
        failed = [g.name for g in exc.report.failed]
        if failed != ["fairness"]:
            return f"  {usecase:<21} v{version} awaiting approval: {exc}"
        # Show the override path a model-risk officer would take; it is audited.
        _step(f"  {usecase}: the fairness gate refused it ({exc})")
        promote(
            db, spec.model_name, version, actor=actor, reason="demo run",
            override_fairness="demo: fairness gap reviewed and accepted for the demonstration",
        )  # fmt: skip
        status = "production (fairness override, audited)"
    return f"  {usecase:<21} v{version} {status}; model card {outcome.card}"


def _segment(app: AppContext, db: Database) -> str:
    from appliance.segmentation.train import train_segmentation
    from appliance.usecase import locate_spec

    spec = locate_spec(app.home, SEGMENTED)
    outcome = train_segmentation(app.home, db, spec, actor=app.settings.actor, promote=True,
                                 progress=lambda m: _step(f"  {m}"))  # fmt: skip
    return (f"  segments    {outcome.artifact.k} segments of {outcome.entities:,} customers; "
            f"report {outcome.report}")  # fmt: skip


def _leads(app: AppContext, db: Database) -> str:
    """Score the latest month's offers with the propensity model, keep the top 5 %, and
    add each lead's segment and the premium the regression suggests."""
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    from appliance.demo.leads import top_leads
    from appliance.lake import read_dataset
    from appliance.serving.service import logged_engine
    from appliance.usecase import locate_spec

    spec = locate_spec(app.home, "insurance_propensity")
    offers = read_dataset(app.home, db, spec.population.dataset)
    dates = offers.column(spec.population.time)
    month = pc.strftime(pc.max(dates), format="%Y-%m").as_py()
    latest = offers.filter(pc.equal(pc.strftime(dates, format="%Y-%m"), month))
    latest = latest.drop_columns(["converted", "annual_premium"])
    with logged_engine(app.home, db) as engine:
        leads = top_leads(engine, db, latest, propensity="insurance_propensity",
                          premium="insurance_premium", segments=SEGMENTED)  # fmt: skip
    out = app.home.dir("publish") / "leads" / "insurance_leads.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    pcsv.write_csv(leads, out)
    _step(f"  {leads.num_rows} leads of {latest.num_rows:,} offers in {month}; the top five:")
    for row in leads.slice(0, 5).to_pylist():
        premium = f"R$ {row['premium']:,.2f}" if row["premium"] is not None else "no premium"
        why = f"  ({row['reasons']})" if row["reasons"] else ""
        _step(f"    {row['customer_id']}  propensity {row['propensity']:.2f}  segment "
              f"{row['segment']}  offer {premium}{why}")  # fmt: skip
    return f"  leads       {out}"


def _score_and_observe(app: AppContext, db: Database) -> str:
    """Score the applications dated after credit_default's training window (a shifted
    population: drift monitoring has something to find) as a batch file, then post their
    outcomes from the demo data, as the bank would a year later."""
    import datetime as dt

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from appliance.lake import read_dataset
    from appliance.serving.batch import score_file
    from appliance.serving.outcomes import record_outcomes
    from appliance.serving.service import logged_engine
    from appliance.usecase import locate_spec

    spec = locate_spec(app.home, "credit_default")
    until = dt.date.fromisoformat(str(spec.population.until))
    applications = read_dataset(app.home, db, spec.population.dataset)
    later = applications.filter(pc.greater(applications.column(spec.population.time), until))
    folder = app.home.dir("publish") / "scores"
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "credit_applications_after_training.parquet"
    pq.write_table(later.drop_columns([spec.population.target]), source)
    output = folder / "credit_default_decisions.parquet"
    with logged_engine(app.home, db) as engine:
        report = score_file(engine, spec.model_name, source, output, key_id="demo")
    outcomes = [{"application_id": a, "model": spec.model_name, "outcome": int(y)}
                for a, y in zip(later.column(spec.population.id).to_pylist(),
                                later.column(spec.population.target).to_pylist(), strict=True)
                if y is not None]  # fmt: skip
    observed = record_outcomes(db, outcomes, key_id=None, actor=app.settings.actor)
    _step(f"  scored {report.scored:,} of {report.rows:,} applications; "
          f"{observed.accepted:,} outcomes recorded")  # fmt: skip
    return f"  decisions   {output}"


def _step(message: str) -> None:
    click.echo(f"[demo] {message}", err=True)
