"""`appliance profile DATASET`: a self-contained HTML data profile, readable offline."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.cli.context import AppContext, pass_app
from appliance.cli.steps import stepper

__all__ = ["command"]


@click.command("profile")
@click.argument("dataset")
@click.option(
    "--target",
    metavar="COLUMN",
    help="A 0/1 or boolean column: adds target rates by bin and leakage warnings.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML (default: publish/profiles/DATASET.html in the home).",
)
@click.option(
    "--sample",
    type=click.IntRange(min=10),
    default=100_000,
    show_default=True,
    help="Rows sampled for correlations and associations; every other number uses all rows.",
)
@pass_app
def command(
    app: AppContext, dataset: str, target: str | None, output: Path | None, sample: int
) -> None:
    """Write an exploratory profile of DATASET: statistics, plots, correlations, warnings."""
    from datetime import UTC, datetime

    from appliance.home import safe_name
    from appliance.lake import dataset_versions, read_dataset
    from appliance.profile import (
        ProfileConfig,
        profile_table,
        render_figures,
        render_html,
        write_report,
    )

    step = stepper()
    db = app.store()
    versions = dataset_versions(db, dataset)
    path = output or app.home.dir("publish") / "profiles" / f"{safe_name(dataset, 'dataset')}.html"
    step(f"reading {dataset} ({len(versions)} version{'s' if len(versions) != 1 else ''})")
    table = read_dataset(app.home, db, dataset)
    step(f"profiling {table.num_rows:,} rows x {table.num_columns} columns")
    profile = profile_table(
        table,
        name=dataset,
        target=target,
        versions=len(versions),
        config=ProfileConfig(sample_rows=sample),
        progress=step,
    )
    figures = render_figures(profile, progress=step)
    step("writing the report")
    generated_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    write_report(render_html(profile, figures, generated_at=generated_at), path)
    step(f"done: {len(profile.alerts)} warning{'s' if len(profile.alerts) != 1 else ''}")
    click.echo(str(path))
