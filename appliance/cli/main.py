"""The `appliance` command. Subcommands are imported only when they run, so
`appliance --help` stays fast, and user mistakes print a message, not a traceback."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from appliance.cli.context import AppContext
from appliance.errors import ApplianceError
from appliance.settings import HOME_ENV, Settings

__all__ = ["COMMANDS", "cli", "main"]

# command name -> (module under appliance.cli, one-line help shown by --help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("home_cmds", "Lay out a data home (idempotent)."),
    "demo": ("demo", "Fresh home, demo data, the whole life cycle once."),
    "demo-data": ("demo_data", "Generate the deterministic demo data sets into the inbox."),
    "ingest": ("ingest", "Ingest a file (or sweep the inbox) into the lake."),
    "sources": ("sources", "List, check and infer source schemas."),
    "datasets": ("datasets", "List datasets, their versions and ingest runs."),
    "profile": ("profile", "Write a self-contained HTML data profile of a dataset."),
    "audit": ("audit", "Show or verify the hash-chained audit log."),
    "train": ("train", "Train, evaluate and register a model for a use case."),
    "models": ("models", "List, show, compare, promote and roll back model versions."),
    "segments": ("segments", "Train, list, show and promote customer segmentations."),
    "imagery": ("imagery", "Classify new satellite tiles into regional flood/drought labels."),
    "serve": ("serve", "Serve the scoring REST API for every model in production."),
    "score": ("score", "Batch-score a CSV or Parquet file with a use case's production model."),
    "jobs": ("jobs", "List the scheduled jobs, run one now, read the run history."),
    "up": ("up", "Run the appliance as one supervised service: REST API and scheduler."),
    "doctor": ("doctor", "Check the home, store, models, compiler and ports; say what is wrong."),
    "backup": ("backup", "Snapshot the data home into a folder while the service runs."),
    "restore": ("restore", "Restore a backup as the data home, every file checked."),
    "keys": ("keys", "Create, list and revoke the REST service's API keys."),
    "tls": ("tls", "Make a self-signed TLS certificate and key for a lab."),
    "drift": ("drift", "Measure drift and skew of a use case's logged predictions; alert."),
    "monitor": ("monitor", "Drift, performance and fairness of a use case; HTML report."),
    "publish": ("publish", "Publish the BI tables: Hyper extracts, Parquet, PostgreSQL."),
    "flight": ("flight", "Serve the published tables over Arrow Flight SQL (read-only)."),
    "lookml": ("lookml", "Write a LookML project for Looker over the PostgreSQL copy."),
}


class LazyGroup(click.Group):
    """A group whose subcommands live in modules imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"appliance.cli.{COMMANDS[name][0]}")
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar=HOME_ENV,
    help=f"The data home (default: ${HOME_ENV} or ~/.appliance).",
)
@click.version_option(package_name="scoring-appliance")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """On-premise ML scoring appliance: ingest, train, score, monitor, publish."""
    ctx.obj = AppContext(Settings.from_environ(home))


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the command, turning ApplianceError into a message and exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    ctx: click.Context | None = None
    try:
        with cli.make_context("appliance", args) as ctx:
            return cli.invoke(ctx)
    except ApplianceError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug, not a user mistake: keep the details, show one line
        where = _log_crash(args, ctx.obj if ctx else None)
        click.secho(f"internal error: {type(exc).__name__}: {exc}", fg="red", err=True)
        click.echo(f"the full traceback is in {where}; please report it", err=True)
        sys.exit(70)


def _log_crash(args: list[str], app: AppContext | None) -> str:
    """Append the current traceback to the home's logs/errors.log (or a temp file)."""
    import tempfile
    import traceback
    from datetime import UTC, datetime

    logs = app.home.root / "logs" if app else None
    folder = logs if logs is not None and logs.is_dir() else Path(tempfile.gettempdir())
    path = folder / "errors.log"
    with path.open("a", encoding="utf-8") as log:
        log.write(f"--- {datetime.now(UTC).isoformat()} appliance {' '.join(args)}\n")
        log.write(traceback.format_exc())
    return str(path)


if __name__ == "__main__":
    main()
