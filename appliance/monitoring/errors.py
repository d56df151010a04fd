"""The monitoring errors a person sees (one line in the CLI, never a traceback)."""

from __future__ import annotations

from appliance.errors import ApplianceError, NotFound

__all__ = ["MonitoringError", "NoPredictions"]


class MonitoringError(ApplianceError):
    """Monitoring settings or stored statistics that cannot be used; the message says which."""

    exit_code = 4
    http_status = 422


class NoPredictions(NotFound):
    """No logged prediction to monitor (for a model, or in a window)."""
