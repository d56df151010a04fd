"""The `appliance` command. Subcommands are imported only when they run, so
`appliance --help` stays fast, and user mistakes print a message, not a traceback."""

from __future__ import annotations

import importlib
import sys
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
    "datasets": ("datasets", "List datasets, their versions and ingest runs."),
    "profile": ("profile", "Write a self-contained HTML data profile of a dataset."),
    "audit": ("audit", "Show or verify the hash-chained audit log."),
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
    try:
        return cli.main(args=argv, prog_name="appliance", standalone_mode=False)
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


if __name__ == "__main__":
    main()
