"""Row problems found while cleaning a batch: which rows, which column, why."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Problems"]


@dataclass
class Problems:
    """Accumulates (mask, column, reason) checks for one batch of ``length`` rows.

    Reasons are fixed texts (no values in them) so quarantine can be summarised by
    column and reason; the quarantined row itself keeps the raw values.
    """

    length: int
    checks: list[tuple[pa.Array, str, str]] = field(default_factory=list)

    def add(self, mask: pa.Array, column: str, reason: str) -> None:
        """Record that rows where ``mask`` is true fail ``reason`` in ``column``."""

        mask = pc.fill_null(mask, False)
        if pc.any(mask).as_py():
            self.checks.append((mask, column, reason))

    def extend_taken(self, other: Problems, indices: pa.Array) -> None:
        """Add ``other``'s checks, made on distinct values, expanded to rows via ``indices``."""
        for mask, column, reason in other.checks:
            self.checks.append((pc.take(mask, indices), column, reason))

    def invalid_mask(self) -> pa.Array:

        combined = pa.array(np.zeros(self.length, dtype=bool))
        for mask, _, _ in self.checks:
            combined = pc.or_(combined, mask)
        return combined

    def describe(self, rows: pa.Array) -> tuple[list[str], list[str]]:
        """For the given row indices: the first failing column and all reasons joined."""

        found: dict[int, list[tuple[str, str]]] = {}
        for mask, column, reason in self.checks:
            for index in pc.indices_nonzero(mask).to_pylist():
                found.setdefault(index, []).append((column, reason))
        columns, reasons = [], []
        for index in rows.to_pylist():
            issues = found[index]
            columns.append(issues[0][0])
            reasons.append("; ".join(f"{col}: {why}" for col, why in issues))
        return columns, reasons
