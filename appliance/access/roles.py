"""Roles and what each may do: the one permission matrix the REST app and docs follow."""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["PERMISSIONS", "ROLES", "ROLE_PERMISSIONS", "role_allows"]

ROLES: tuple[str, ...] = ("scorer", "analyst", "admin")
"""Every role a key can hold, least to most powerful."""

PERMISSIONS: tuple[str, ...] = ("score", "outcomes", "read", "admin")
"""score: single and batch scoring; outcomes: report observed outcomes; read: models and
monitoring; admin: promote, roll back and manage the service through the API."""

ROLE_PERMISSIONS = MappingProxyType(
    {
        "scorer": frozenset({"score", "outcomes"}),
        "analyst": frozenset({"read"}),
        "admin": frozenset(PERMISSIONS),
    }
)
"""role -> the permissions it grants (read-only)."""


def role_allows(role: str, permission: str) -> bool:
    """Whether ``role`` grants ``permission``; False for an unknown role or permission."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())
