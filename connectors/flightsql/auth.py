"""Who may call the Flight SQL endpoint: a username and an API key with the ``read``
permission (role analyst or admin), exchanged for a bearer token.

The client's ``Handshake`` carries ``authorization: Basic base64(user:key)``; the user
is the key's name or its id. The answer carries ``authorization: Bearer <token>``, and
every later call must present that token (or Basic credentials again). A token lives
``ttl_s`` seconds and dies with its key: each call re-checks the key through the
``KeyCache``, so a revoked key stops working within its re-check interval.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.access import ApiKey, KeyCache

__all__ = ["Credentials", "Denied", "TokenStore", "parse_authorization"]


class Denied(Exception):
    """Not authenticated; the message says why (never which part of a secret was wrong)."""


@dataclass(frozen=True)
class Credentials:
    scheme: str
    """``basic`` or ``bearer``."""
    username: str
    secret: str
    """The API key (basic) or the token (bearer)."""


def parse_authorization(value: str | bytes | None) -> Credentials | None:
    """An ``authorization`` header value as credentials; None when absent or malformed."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not value or " " not in value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    rest = rest.strip()
    if scheme.lower() == "bearer" and rest:
        return Credentials("bearer", "", rest)
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(rest + "=" * (-len(rest) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, secret = decoded.partition(":")
    return Credentials("basic", username, secret) if colon else None


@dataclass
class _Session:
    key_text: str
    key_id: str
    expires: float


class TokenStore:
    """Bearer tokens issued for checked keys. Thread-safe."""

    def __init__(self, keys: KeyCache, *, ttl_s: float = 12 * 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.keys = keys
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}

    def login(self, username: str, key_text: str) -> tuple[str, ApiKey]:
        """A new token for a valid key with the read permission whose name or id is
        ``username``; Denied otherwise."""
        key = self._check(username, key_text)
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._sessions = {t: s for t, s in self._sessions.items() if s.expires > now}
            self._sessions[token] = _Session(key_text, key.id, now + self.ttl_s)
        return token, key

    def resolve(self, credentials: Credentials) -> ApiKey:
        """The key behind a bearer token or Basic credentials; Denied if none is valid."""
        if credentials.scheme == "basic":
            return self._check(credentials.username, credentials.secret)
        with self._lock:
            session = self._sessions.get(credentials.secret)
            if session is not None and session.expires <= self._clock():
                del self._sessions[credentials.secret]
                session = None
        if session is None:
            raise Denied("the bearer token is unknown or expired: authenticate again")
        key = self.keys.cached(session.key_text) or self.keys.authenticate(session.key_text)
        if key is None or not key.allows("read"):
            with self._lock:
                self._sessions.pop(credentials.secret, None)
            raise Denied("the API key behind this token was revoked")
        return key

    def _check(self, username: str, key_text: str) -> ApiKey:
        key = self.keys.cached(key_text) or self.keys.authenticate(key_text)
        if key is None:
            raise Denied("invalid username or API key")
        if username not in (key.name, key.id):
            raise Denied("invalid username or API key")
        if not key.allows("read"):
            raise Denied(f"the key {key.id} has role {key.role}, which may not read"
                         " published data: use an analyst key")  # fmt: skip
        return key
