"""Hyper extracts, the Flight SQL endpoint and LookML for BI tools (see DESIGN.md).

Nothing is exported yet: this package fills in with the BI-connectors issue.
"""

__all__: list[str] = []
