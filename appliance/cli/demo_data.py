"""`appliance demo-data`: write the deterministic demo data sets."""

from __future__ import annotations

import time
from pathlib import Path

import click

from appliance.cli.context import AppContext, pass_app
from appliance.demo import DEFAULT_ROWS, FRAUD_PER_CUSTOMER

__all__ = ["command"]


@click.command("demo-data")
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=DEFAULT_ROWS,
    show_default=True,
    help=f"Customers for credit and bancassurance; fraud gets "
    f"{FRAUD_PER_CUSTOMER}x as many transactions.",
)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="Random seed; the same rows and seed give byte-identical files.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write to (default: the data home's inbox/).",
)
@pass_app
def command(app: AppContext, rows: int, seed: int, out: Path | None) -> None:
    """Generate the credit, fraud and bancassurance demo files (CSV)."""
    from appliance.demo import generate

    if out is None:
        app.home.require_initialised()
        out = app.home.dir("inbox")
    started = time.perf_counter()
    paths = generate(out, rows=rows, seed=seed, progress=lambda line: click.echo(f"  {line}"))
    click.echo(f"wrote {len(paths)} files to {out} in {time.perf_counter() - started:.1f} s")
