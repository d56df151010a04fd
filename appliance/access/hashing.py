"""The slow, salted hash that stores an API key, and its constant-time check.

scrypt with N=2**14, r=8, p=1 (16 MiB of memory and ~40-150 ms of one core per hash),
a 16-byte random salt per key and a 32-byte output. The parameters travel inside the
stored value (``scrypt$N$r$p$hex``) so a later cost change keeps old keys verifiable.
Keys carry 256 random bits, so this is defence in depth: a leaked store still gives
nothing to guess at, fast or slow.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["SCRYPT_N", "SCRYPT_P", "SCRYPT_R", "check_secret", "hash_secret", "new_salt"]

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_DKLEN = 32
_MAXMEM = 64 * 1024 * 1024
_MAX_N = 2**20  # refuse stored parameters that would exhaust memory


def new_salt() -> str:
    """A fresh 16-byte salt, hex."""
    return secrets.token_hex(16)


def hash_secret(key: str, salt: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
                p: int = SCRYPT_P) -> str:
    """The stored form of ``key`` under ``salt``: ``scrypt$N$r$p$<hex digest>``."""
    digest = hashlib.scrypt(
        key.encode("utf-8"), salt=bytes.fromhex(salt), n=n, r=r, p=p, dklen=_DKLEN,
        maxmem=_MAXMEM,
    )
    return f"scrypt${n}${r}${p}${digest.hex()}"


def check_secret(key: str, salt: str, stored: str) -> bool:
    """Whether ``key`` hashes to ``stored``; compared in constant time. A malformed
    stored value is a mismatch, never an exception."""
    try:
        scheme, n, r, p, _ = stored.split("$")
        n_, r_, p_ = int(n), int(r), int(p)
        if scheme != "scrypt" or not (1 < n_ <= _MAX_N and 0 < r_ <= 32 and 0 < p_ <= 16):
            return False
        candidate = hash_secret(key, salt, n=n_, r=r_, p=p_)
    except ValueError:
        return False
    return hmac.compare_digest(candidate.encode("ascii"), stored.encode("ascii", "replace"))
