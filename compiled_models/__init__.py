"""Registered XGBoost models compiled to native libraries with Treelite/TL2cgen,
parity-checked against XGBoost and cached by content hash (see DESIGN.md).

Nothing is exported yet: this package fills in with the Compiled-models issue.
"""

__all__: list[str] = []
