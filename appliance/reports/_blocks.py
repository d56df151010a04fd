"""The model card as values: sections of paragraphs, lists, tables and figures.

Section builders fill these with text that is already formatted; the Markdown and the
HTML templates only lay them out, so the two files never disagree. Text may hold
``code`` and **bold** spans, which each template renders in its own markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "Block",
    "Bullets",
    "Facts",
    "Figure",
    "Heading",
    "Para",
    "Section",
    "Table",
    "table",
]


@dataclass(frozen=True)
class Para:
    """A paragraph."""

    kind: ClassVar[str] = "para"
    text: str


@dataclass(frozen=True)
class Heading:
    """A subsection title inside a numbered section."""

    kind: ClassVar[str] = "heading"
    text: str


@dataclass(frozen=True)
class Bullets:
    """An unordered list; an empty one is not drawn."""

    kind: ClassVar[str] = "bullets"
    items: tuple[str, ...]


@dataclass(frozen=True)
class Facts:
    """Label and value pairs, shown as a two-column list."""

    kind: ClassVar[str] = "facts"
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    """A table of formatted cells; ``numeric`` right-aligns a column."""

    kind: ClassVar[str] = "table"
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]


@dataclass(frozen=True)
class Figure:
    """A plot by its name in ``write_plots``' result; drawn only when that plot exists."""

    kind: ClassVar[str] = "figure"
    name: str
    caption: str


Block = Para | Heading | Bullets | Facts | Table | Figure


@dataclass(frozen=True)
class Section:
    """One numbered section of the card."""

    number: int
    title: str
    blocks: tuple[Block, ...]

    @property
    def anchor(self) -> str:
        return f"section-{self.number}"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool] | None = None
) -> Table:
    """A ``Table`` from lists; by default every column but the first is numeric."""
    flags = tuple(numeric) if numeric is not None else (False,) + (True,) * (len(headers) - 1)
    return Table(tuple(headers), tuple(tuple(r) for r in rows), flags)
