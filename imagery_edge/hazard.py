"""The region x month hazard table the imagery job publishes.

The rule lives with the features that use it (``appliance.features.hazard``), so the
published table and the model's hazard history always agree; see its docstring.
"""

from appliance.features.hazard import HAZARD_COLUMNS, LABELS, region_month_table

__all__ = ["HAZARD_COLUMNS", "LABELS", "region_month_table"]
