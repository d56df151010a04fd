"""The error access management shows a person (an unknown key is ``NotFound``)."""

from __future__ import annotations

from appliance.errors import ApplianceError

__all__ = ["AccessError"]


class AccessError(ApplianceError):
    """A key request is invalid: a bad role or name, or a key already revoked."""

    exit_code = 11
    http_status = 400
