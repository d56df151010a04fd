"""`appliance train USECASE`: train, evaluate, report and register one model version."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.cli.context import AppContext, pass_app
from appliance.cli.steps import stepper

__all__ = ["command"]


@click.command("train")
@click.argument("usecase")
@click.option(
    "--incremental",
    is_flag=True,
    help="Continue the production booster on training rows newer than its own.",
)
@pass_app
def command(app: AppContext, usecase: str, incremental: bool) -> None:
    """Train a model for USECASE (a name in the home's usecases/, or a spec .toml path)."""
    from appliance.training.run import train_usecase
    from appliance.usecase.locate import locate_spec

    step = stepper()
    spec = locate_spec(app.home, usecase)
    db = app.store()
    outcome = train_usecase(
        app.home, db, spec, actor=app.settings.actor, progress=step, incremental=incremental
    )
    m = outcome.metrics
    metric = m["optimise"]
    test, base = m["test"], m["baseline_test"]
    click.echo(f"{spec.model_name} version {outcome.version.version} registered")
    for name in dict.fromkeys([metric, "roc_auc"]):
        click.echo(f"  test {name}: XGBoost {test[name]:.4f}  vs baseline {base[name]:.4f}")
    if m.get("champion"):
        champ = m["champion"]
        click.echo(f"  production v{champ['version']} on the same test rows: "
                   f"{metric} {champ['test'][metric]:.4f}")  # fmt: skip
    t = m["threshold"]
    click.echo(f"  threshold {t['value']:.4f} ({t['policy']}): precision {t['precision']:.3f}, "
               f"recall {t['recall']:.3f}, approval rate {t['approval_rate']:.1%}")  # fmt: skip
    click.echo(f"  backtest: {m['backtest']['verdict']}; "
               f"fairness screen: {'passed' if m['fairness']['passed'] else 'FAILED'}")  # fmt: skip
    if outcome.promoted:
        click.echo("  promoted to production (the spec allows automatic promotion)")
    elif outcome.gate_details:
        click.echo("  not promoted: " + "; ".join(outcome.gate_details))
    else:
        click.echo(f"  awaiting approval: appliance models promote {spec.model_name} "
                   f"{outcome.version.version} --reason TEXT")  # fmt: skip
    click.echo(f"  model card: {outcome.card or Path('(none)')}")
