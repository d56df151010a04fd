"""Job definitions and the offline APScheduler runner with job-run records (see DESIGN.md).

Nothing is exported yet: this package fills in with the Scheduler issue.
"""

__all__: list[str] = []
