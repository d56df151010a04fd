"""Point-in-time features from event histories: trailing-window aggregates."""

__all__: list[str] = []
