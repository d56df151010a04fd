"""API keys in the REST app: the bearer-key middleware and the role guards.

``auth_middleware(cache)`` goes in the app's ``middleware``: every request but the open
paths must carry ``Authorization: Bearer <key>``; a missing, malformed, unknown or revoked
key is a 401 with ``WWW-Authenticate: Bearer``. The key becomes ``request.user`` (an
``ApiKey``) and its id ``request.auth`` (for logs). ``requires("score")`` is the guard a
route names; the wrong role is a 403 that says which role and which permission.
A key already seen is checked in memory on the event loop; a new or stale one goes to a
worker thread (store read, slow hash), so the loop never waits on either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from anyio.to_thread import run_sync
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
    DefineMiddleware,
)
from litestar.types import ASGIApp

from appliance.access import PERMISSIONS, ROLE_PERMISSIONS, ROLES, ApiKey, KeyCache, parse_key

__all__ = ["CHALLENGE", "auth_middleware", "bearer_key", "current_key", "requires"]

CHALLENGE = {"WWW-Authenticate": "Bearer"}
"""The header every 401 carries (RFC 6750)."""

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]

_HOW = "send the header 'Authorization: Bearer <key>' (`appliance keys create` makes a key)"
_SCHEME = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +(\S+) *")


def _unauthorized(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail=detail, headers=dict(CHALLENGE))


def bearer_key(values: Sequence[str]) -> str:
    """The key in the request's Authorization header values; NotAuthorizedException with
    the reason when there is not exactly one well-formed ``Bearer`` key."""
    if not values:
        raise _unauthorized(f"missing API key: {_HOW}")
    if len(values) > 1 or "," in values[0]:  # some clients join repeated headers with ','
        raise _unauthorized("send exactly one Authorization header, with one key")
    match = _SCHEME.fullmatch(values[0])
    if match is None:
        raise _unauthorized(f"the Authorization header must use the Bearer scheme: {_HOW}")
    if parse_key(match.group(1)) is None:
        raise _unauthorized(
            "malformed API key: keys look like apk_<12 hex digits>_<43 letters and digits>"
        )
    return match.group(1)


class _BearerKeyMiddleware(AbstractAuthenticationMiddleware):
    """Puts the request's ``ApiKey`` in ``scope["user"]`` and its id in ``scope["auth"]``."""

    def __init__(self, app: ASGIApp, cache: KeyCache, open_paths: tuple[str, ...]) -> None:
        exact = "|".join(re.escape(path) for path in open_paths)
        super().__init__(
            app,
            exclude=f"^(?:{exact})$" if open_paths else None,
            exclude_http_methods=(),  # OPTIONS too: nothing but the open paths is open
        )
        self.cache = cache

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        presented = bearer_key(connection.headers.getall("authorization", []))
        key = self.cache.cached(presented)
        if key is None:
            key = await run_sync(self.cache.authenticate, presented)
        if key is None:
            raise _unauthorized("invalid or revoked API key")
        return AuthenticationResult(user=key, auth=key.id)


def auth_middleware(cache: KeyCache, *, open_paths: tuple[str, ...] = ("/health",)
                    ) -> DefineMiddleware:
    """The middleware that requires a valid key on every path but ``open_paths`` (exact
    paths, not patterns: ``/health`` leaves ``/health/x`` and ``/v1/health`` closed)."""
    for path in open_paths:
        if not path.startswith("/"):
            raise ValueError(f"open path {path!r} must start with '/'")
    return DefineMiddleware(_BearerKeyMiddleware, cache=cache, open_paths=tuple(open_paths))


def current_key(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiKey:
    """The request's authenticated key; a 401 on an open path, where there is none."""
    key = connection.scope.get("user")
    if not isinstance(key, ApiKey):
        raise _unauthorized(f"this needs an API key: {_HOW}")
    return key


def requires(permission: str) -> Guard:
    """A route guard: the request's key must have a role granting ``permission``."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; expected one of {PERMISSIONS}")
    granted_by = [role for role in ROLES if permission in ROLE_PERMISSIONS[role]]

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        key = current_key(connection)
        if not key.allows(permission):
            raise PermissionDeniedException(
                detail=f"key {key.id} has role '{key.role}', which lacks the '{permission}'"
                f" permission; this needs a key with role {' or '.join(granted_by)}"
            )

    guard.__name__ = guard.__qualname__ = f"requires_{permission}"
    return guard
