"""The Flight SQL endpoint as a service: ``appliance flight`` runs it alone, and
``appliance up`` starts it beside the REST API and the scheduler (``start`` returns once
it listens, ``stop`` ends it). ``FlightService.for_home`` is the one ``up`` runs: with
TLS when the home holds its certificate pair (``HOME_TLS``)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.home import DataHome
from connectors.errors import ConnectorError

__all__ = ["HOME_TLS", "FlightService", "home_tls"]

log = logging.getLogger("connectors.flightsql")

HOME_TLS = ("tls", "cert.pem", "key.pem")
"""Where a home keeps the certificate and key its services present:
``<home>/tls/cert.pem`` and ``<home>/tls/key.pem`` (``appliance tls self-signed --out
<home>/tls``, or the pair the bank's CA issued, copied there)."""


def home_tls(home: DataHome) -> tuple[Path, Path] | None:
    """The home's certificate and key, or None when it has neither (plain gRPC); a
    ConnectorError when it has only one of them."""
    folder = home.root / HOME_TLS[0]
    cert, key = folder / HOME_TLS[1], folder / HOME_TLS[2]
    present = [p for p in (cert, key) if p.is_file()]
    if not present:
        return None
    if len(present) == 1:
        missing = key if present[0] == cert else cert
        raise ConnectorError(f"TLS is half configured: {present[0]} exists but {missing}"
                             " does not; put both there (or remove the one) and start again")
    return cert, key


@dataclass
class FlightService:
    home: DataHome
    host: str = "127.0.0.1"
    port: int = 8815
    """0 picks a free port (see ``bound_port`` after ``start``)."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    batch_rows: int = 65_536
    name: str = "flight sql"
    _server: Any = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _closers: list[Any] = field(default_factory=list, repr=False)

    @classmethod
    def for_home(cls, home: DataHome, *, host: str, port: int) -> FlightService:
        """The endpoint ``appliance up`` runs: grpc+tls with the home's certificate pair
        when it has one (``home_tls``), plain gRPC otherwise."""
        pair = home_tls(home)
        cert, key = pair if pair is not None else (None, None)
        return cls(home, host=host, port=port, tls_cert=cert, tls_key=key)

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConnectorError("TLS needs both --tls-cert and --tls-key")
        if not 0 <= self.port <= 65535:
            raise ConnectorError(f"port {self.port} is not a port number")

    @property
    def location(self) -> str:
        scheme = "grpc+tls" if self.tls_cert else "grpc"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.bound_port or self.port}"

    @property
    def bound_port(self) -> int | None:
        return int(self._server.port) if self._server is not None else None

    def start(self) -> None:
        """Listen, and serve on a thread of its own; ConnectorError if it cannot."""
        import pyarrow as pa

        from appliance.access import KeyCache
        from connectors.flightsql.auth import TokenStore
        from connectors.flightsql.engine import QueryEngine
        from connectors.flightsql.server import FlightSqlServer
        from connectors.publisher import data_folder

        self.home.require_initialised()
        certificates = self._certificates()
        keys = KeyCache(self.home.db_path)
        engine = QueryEngine(data_folder(self.home))
        self._closers = [engine.close, keys.close]
        try:
            self._server = FlightSqlServer(
                f"{self.location.split('://')[0]}://{self.host}:{self.port}", engine,
                TokenStore(keys), tls_certificates=certificates, batch_rows=self.batch_rows,
            )  # fmt: skip
        except (OSError, pa.ArrowException) as exc:
            self._close()
            raise ConnectorError(f"the Flight SQL endpoint cannot listen on {self.host}:"
                                 f"{self.port}: {exc}") from exc  # fmt: skip
        self._thread = threading.Thread(target=self._server.serve, name="flight-sql",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        log.info("Flight SQL endpoint listening on %s", self.location)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting calls; calls in flight finish first (within ``timeout``)."""
        if self._server is not None:
            stopper = threading.Thread(target=self._server.shutdown, daemon=True)
            stopper.start()
            stopper.join(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        self._close()

    def _close(self) -> None:
        for close in self._closers:
            close()
        self._closers = []

    def _certificates(self) -> list[tuple[bytes, bytes]]:
        if self.tls_cert is None or self.tls_key is None:
            return []
        try:
            return [(self.tls_cert.read_bytes(), self.tls_key.read_bytes())]
        except OSError as exc:
            raise ConnectorError(f"cannot read the TLS certificate or key: {exc}") from exc
