"""Errors of the imagery edge, in the appliance's one hierarchy (``ApplianceError``)."""

from __future__ import annotations

from appliance.errors import ApplianceError

__all__ = ["BadTile", "ImageryError", "ModelUnavailable"]


class ImageryError(ApplianceError):
    """The imagery job could not run (no model, no runtime, unreadable home)."""

    exit_code = 7
    http_status = 422


class ModelUnavailable(ImageryError):
    """The hazard model or its runtime cannot be loaded; the message says what to install."""


class BadTile(ImageryError):
    """One tile cannot be classified; ``reason`` is what goes into quarantine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
