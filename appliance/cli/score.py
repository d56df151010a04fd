"""`appliance score USECASE --input FILE --output FILE`: batch scoring of a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from appliance.cli.context import AppContext, pass_app

__all__ = ["command"]


@click.command("score")
@click.argument("usecase")
@click.option("--input", "source", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV or Parquet with the use case's population fields.")  # fmt: skip
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the decisions: .csv or .parquet.")  # fmt: skip
@pass_app
def command(app: AppContext, usecase: str, source: Path, output: Path) -> None:
    """Score every record of a file with USECASE's production model: probability, score,
    decision and reasons per row, or the field and problem that kept a row from scoring."""
    from appliance.serving.batch import score_file
    from appliance.serving.service import logged_engine
    from appliance.usecase.locate import locate_spec

    spec = locate_spec(app.home, usecase)
    db = app.store()
    with logged_engine(app.home, db) as engine:
        size = source.stat().st_size
        stderr = sys.stderr
        bar: Any = click.progressbar(length=max(size, 1), label=f"scoring {source.name}",
                                     file=stderr)  # fmt: skip
        with bar:
            seen = {"done": 0}

            def advance(done: int, _total: int) -> None:
                bar.update(max(0, done - seen["done"]))
                seen["done"] = done

            report = score_file(engine, spec.model_name, source, output,
                                key_id=f"cli:{app.settings.actor}", progress=advance)  # fmt: skip
    click.echo(f"{report.scored:,} of {report.rows:,} rows scored with {spec.model_name} "
               f"v{report.version}; {report.rejected:,} rejected (see the error column)")
    click.echo(f"  decisions: {report.output}")
