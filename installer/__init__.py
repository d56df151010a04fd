"""The offline bundle: wheelhouse, checksums, service units, install, self-test
(see DESIGN.md).

Nothing is exported yet: this package fills in with the Installer issue.
"""

__all__: list[str] = []
