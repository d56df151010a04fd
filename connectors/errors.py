"""The errors the connectors show a person (a missing table is ``NotFound``)."""

from __future__ import annotations

from appliance.errors import ApplianceError

__all__ = ["ConnectorError", "PublishError"]


class PublishError(ApplianceError):
    """A publish could not complete; the previous extracts and tables are unchanged."""

    exit_code = 12
    http_status = 500


class ConnectorError(ApplianceError):
    """A connector is misconfigured or cannot start: a port in use, a bad PostgreSQL URL,
    TLS files missing, a package not installed."""

    exit_code = 13
    http_status = 400
