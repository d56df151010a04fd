"""The scoring appliance's core: settings, data home, store, ingest, lake, audit log."""

from appliance.errors import ApplianceError
from appliance.home import DataHome
from appliance.settings import Settings

__version__ = "0.1.0"
__all__ = ["ApplianceError", "DataHome", "Settings", "__version__"]
