"""API keys: creation (shown once), listing, revocation and verification against the store.

A key reads ``apk_<id>_<secret>``: ``id`` is 12 hex digits, public, the row's primary key
(so a presented key is looked up, never scanned for); ``secret`` is 43 base-62 characters
(256 random bits). The store keeps only a salted scrypt hash of the whole key (see
``hashing``). Every creation and revocation is audited in the same transaction; the
audit entry never holds the secret. No web imports here: ``serving.auth`` is the glue.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance import audit
from appliance.access.errors import AccessError
from appliance.access.hashing import check_secret, hash_secret, new_salt
from appliance.access.roles import ROLES, role_allows
from appliance.errors import NotFound
from appliance.store.db import now_iso

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = [
    "KEY_PREFIX",
    "ApiKey",
    "StoredCredential",
    "create_key",
    "find_key",
    "get_key",
    "list_keys",
    "parse_key",
    "revoke_key",
    "stored_credential",
    "verify_key",
]

KEY_PREFIX = "apk_"
_ID_HEX = 12
_SECRET_LEN = 43  # 43 * log2(62) = 256.1 bits
_ALPHABET = string.ascii_letters + string.digits
_KEY = re.compile(rf"{KEY_PREFIX}([0-9a-f]{{{_ID_HEX}}})_([0-9A-Za-z]{{{_SECRET_LEN}}})")
_ID = re.compile(rf"[0-9a-f]{{{_ID_HEX}}}")
_MAX_NAME = 100
_COLUMNS = "id, name, role, created_at, created_by, revoked_at, revoked_by, last_used_at"


@dataclass(frozen=True)
class ApiKey:
    """One key as the rest of the appliance sees it: never its secret or hash."""

    id: str
    name: str
    role: str
    created_at: str
    created_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None
    last_used_at: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, permission: str) -> bool:
        """Whether this key's role grants ``permission`` (a revoked key grants nothing)."""
        return not self.revoked and role_allows(self.role, permission)


@dataclass(frozen=True)
class StoredCredential:
    """A key with its salt and stored hash: what checking a presented key needs."""

    key: ApiKey
    salt: str
    hash: str

    def matches(self, presented: str) -> bool:
        """Whether ``presented`` is this key (slow hash, constant-time compare)."""
        return check_secret(presented, self.salt, self.hash)


def parse_key(presented: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed key, else None (no store access, no exception)."""
    match = _KEY.fullmatch(presented) if isinstance(presented, str) else None
    return (match.group(1), match.group(2)) if match else None


def create_key(db: Database, role: str, name: str, *, actor: str) -> tuple[ApiKey, str]:
    """Create a key; return it and its plaintext, which exists nowhere else afterwards."""
    if role not in ROLES:
        raise AccessError(f"role {role!r} is unknown: choose one of {', '.join(ROLES)}")
    name = _check_name(name)
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LEN))
    salt = new_salt()
    for _ in range(5):  # 48-bit ids: a clash is astronomically rare, but never fatal
        key_id = secrets.token_hex(_ID_HEX // 2)
        plaintext = f"{KEY_PREFIX}{key_id}_{secret}"
        key = ApiKey(key_id, name, role, now_iso(), actor)
        try:
            with db.atomic():
                db.execute(
                    "INSERT INTO api_keys (id, name, role, salt, hash, created_at, created_by)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [key.id, name, role, salt, hash_secret(plaintext, salt), key.created_at,
                     actor],
                )
                audit.record(db, actor, "key.create", f"key/{key.id}",
                             {"name": name, "role": role})
        except sqlite3.IntegrityError:
            if find_key(db, key_id) is None:
                raise
            continue
        return key, plaintext
    raise AccessError("could not find a free key id; try again")  # pragma: no cover


def list_keys(db: Database) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included."""
    rows = db.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id").fetchall()
    return [ApiKey(*row) for row in rows]


def find_key(db: Database, key_id: str) -> ApiKey | None:
    """One key by id, or None."""
    row = db.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", [key_id]).fetchone()
    return ApiKey(*row) if row is not None else None


def get_key(db: Database, key_id: str) -> ApiKey:
    """One key by id; NotFound naming the id if there is none."""
    key = find_key(db, key_id)
    if key is None:
        raise NotFound(f"no API key with id {key_id!r}: `appliance keys list` shows them")
    return key


def revoke_key(db: Database, key_id: str, *, actor: str) -> ApiKey:
    """Revoke a key for good; refuse one already revoked (the first revocation stands)."""
    key_id = key_id.strip().lower()
    if key_id.startswith(KEY_PREFIX):  # someone pasted the whole key: use its id only
        parsed = parse_key(key_id)
        key_id = parsed[0] if parsed else key_id
    if not _ID.fullmatch(key_id):
        raise NotFound(f"{key_id!r} is not a key id (12 hex digits, as `appliance keys list`"
                       " shows)")
    with db.atomic():
        key = get_key(db, key_id)
        if key.revoked:
            raise AccessError(f"key {key_id} was already revoked at {key.revoked_at}"
                              f" by {key.revoked_by}")
        at = now_iso()
        db.execute("UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ?",
                   [at, actor, key_id])
        audit.record(db, actor, "key.revoke", f"key/{key_id}", {"name": key.name,
                                                                 "role": key.role})
    return ApiKey(key.id, key.name, key.role, key.created_at, key.created_by, at, actor,
                  key.last_used_at)


def stored_credential(db: Database, key_id: str) -> StoredCredential | None:
    """The key ``key_id`` with its salt and hash, revoked or not; None if there is none."""
    row = db.execute(
        f"SELECT {_COLUMNS}, salt, hash FROM api_keys WHERE id = ?", [key_id]
    ).fetchone()
    if row is None:
        return None
    *fields, salt, stored = row
    return StoredCredential(ApiKey(*fields), salt, stored)


def verify_key(db: Database, presented: str) -> ApiKey | None:
    """The live key that ``presented`` is, or None. Malformed keys and unknown or revoked
    ids return at once; the slow hash runs only for an existing, live id."""
    parsed = parse_key(presented)
    credential = stored_credential(db, parsed[0]) if parsed else None
    if credential is None or credential.key.revoked or not credential.matches(presented):
        return None
    return credential.key


def _check_name(name: str) -> str:
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned or len(cleaned) > _MAX_NAME or not cleaned.isprintable():
        raise AccessError(
            f"key name {name!r} is not allowed: give 1 to {_MAX_NAME} printable characters"
            " saying who or what uses the key"
        )
    return cleaned
