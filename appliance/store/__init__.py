"""The SQLite store: connection, migrations."""

from appliance.store.db import connect, migrate, now_iso, opened, schema_version

__all__ = ["connect", "migrate", "now_iso", "opened", "schema_version"]
