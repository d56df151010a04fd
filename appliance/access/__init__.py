"""Access to the appliance: API keys, roles and their permissions.

No web framework here; ``appliance.serving.auth`` plugs this into the REST app.
"""

from appliance.access.cache import KeyCache
from appliance.access.errors import AccessError
from appliance.access.keys import (
    KEY_PREFIX,
    ApiKey,
    create_key,
    find_key,
    get_key,
    list_keys,
    parse_key,
    revoke_key,
    verify_key,
)
from appliance.access.roles import PERMISSIONS, ROLE_PERMISSIONS, ROLES, role_allows

__all__ = [
    "KEY_PREFIX",
    "PERMISSIONS",
    "ROLES",
    "ROLE_PERMISSIONS",
    "AccessError",
    "ApiKey",
    "KeyCache",
    "create_key",
    "find_key",
    "get_key",
    "list_keys",
    "parse_key",
    "revoke_key",
    "role_allows",
    "verify_key",
]
