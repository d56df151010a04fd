"""`appliance serve`: the REST scoring service on its own (``appliance up`` adds the rest)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from appliance.cli.context import AppContext, pass_app

__all__ = ["command"]


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM certificate (with --tls-key): serve HTTPS.")  # fmt: skip
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM private key for --tls-cert.")  # fmt: skip
@click.option("--scorer", type=click.Choice(["auto", "xgboost"]), default="auto",
              show_default=True,
              help="auto: compiled libraries where they match; xgboost: XGBoost itself for "
                   "predictions and reasons (troubleshooting).")  # fmt: skip
@pass_app
def command(app: AppContext, host: str, port: int, tls_cert: Path | None,
            tls_key: Path | None, scorer: str) -> None:  # fmt: skip
    """Serve every model that has a production version: score, batch score, outcomes,
    model info, health, readiness and Prometheus metrics. Every route but /health needs
    an API key (`appliance keys create`). Stops cleanly on SIGTERM or Ctrl-C."""
    from appliance.serving.service import build_service

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app.store().close()  # migrates the store before the service opens its own connections
    service = build_service(app.home, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key,
                            reference_only=scorer == "xgboost")  # fmt: skip
    scheme = "https" if tls_cert else "http"
    click.echo(f"serving on {scheme}://{host}:{port} (docs at /schema/swagger)", err=True)
    service.run()
