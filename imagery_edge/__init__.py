"""Satellite tiles to regional flood/drought labels with a quantized TFLite model
(see DESIGN.md).

Nothing is exported yet: this package fills in with the Imagery-edge issue.
"""

__all__: list[str] = []
