"""Guessing one column's type from its sampled values, tolerating under 1 % misfits."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from appliance.ingest.infer.sample import snake_names
from appliance.ingest.schema import DEFAULT_FALSE, DEFAULT_NULLS, DEFAULT_TRUE

DATE_FORMATS = (
    "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%b-%Y", "%Y%m%d",
)  # fmt: skip
TRUE_WORDS = frozenset(DEFAULT_TRUE) | {"sim", "s", "verdadeiro", "v", "sí", "si", "oui", "ja"}
FALSE_WORDS = frozenset(DEFAULT_FALSE) | {"não", "nao", "falso", "non", "nein"}
_DICT_SEPARATORS = ((";", ":"), (";", "="), ("|", ":"), ("|", "="), (",", ":"), (",", "="))
_DICT_KEY = r"[^\W\d]\w*(?: \w+)*"
_ISO = re.compile(r"(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d(?::\d\d)?)(?:\.\d+)?)?Z?")
_YYYYMMDD = re.compile(r"(?:19|20)\d{6}")
_LEADING_ZERO = re.compile(r"[+-]?0[0-9]")
_LONG_INT = re.compile(r"[+-]?[0-9]{4,}")
_PREFIX = re.compile(r"^[^0-9+.,-]*")
_SUFFIX = re.compile(r"[^0-9.,]*$")
Parse = Callable[[str], object]  # a value read as its type, or None when it does not fit


def _anything(value: str) -> bool:
    return True


@dataclass(frozen=True)
class ColumnGuess:
    """One column of a draft: its spec, and what the sample showed about it."""

    name: str
    type: str = "string"
    source: str | None = None
    format: str | None = None
    decimal: str = "."
    thousands: str | None = None
    strip: tuple[str, ...] = ()
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()
    item_separator: str = ";"
    key_separator: str = ":"
    fields: tuple[ColumnGuess, ...] = ()
    count: int = 0
    """Sampled values present (neither empty nor a null spelling)."""
    missing: int = 0
    distinct: int = 0
    low: str | None = None
    high: str | None = None
    allowed: tuple[str, ...] = ()
    """The few values of a low-cardinality text column: a hint, never a rule."""
    misfits: tuple[str, ...] = ()
    """Examples of sampled values that do not fit the chosen type."""
    misfit_rows: int = 0
    notes: tuple[str, ...] = ()
    fits: Callable[[str], bool] = field(default=_anything, compare=False, repr=False)


@dataclass(frozen=True)
class _Candidate:
    type: str
    parse: Parse
    format: str | None = None
    decimal: str = "."
    thousands: str | None = None
    strip: tuple[str, ...] = ()
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Choice:
    candidate: _Candidate
    misfit_rows: int
    misfits: tuple[str, ...]
    notes: tuple[str, ...]


def guess_column(cells: Sequence[str], allow_dict: bool = True) -> ColumnGuess:
    """The type of one column from its sampled cells (trimmed; null spellings ignored)."""
    values = [c.strip() for c in cells]
    present = [v for v in values if v not in DEFAULT_NULLS]
    count, missing = len(present), len(values) - len(present)
    if not present:
        return ColumnGuess("", missing=missing, notes=("no values in the sample",))
    limit = (len(present) - 1) // 100  # fewer than 1 % may not fit
    if allow_dict and (column := _dict_column(present, limit)) is not None:
        return replace(column, count=count, missing=missing)
    counts = Counter(present)
    choice = _choose(counts, limit)
    if choice is None:
        return _string_column(counts, count, missing)
    return replace(_typed_column(choice, counts), count=count, missing=missing)


def _typed_column(choice: _Choice, counts: Counter[str]) -> ColumnGuess:
    cand = choice.candidate
    parsed = [p for p in map(cand.parse, counts) if p is not None]
    ordered: list[Any] = sorted(parsed) if cand.type != "bool" else []
    percent = ("'%' is removed: 13.5% is read as 13.5",) if "%" in cand.strip else ()
    return ColumnGuess(
        "", cand.type, format=cand.format, decimal=cand.decimal, thousands=cand.thousands,
        strip=cand.strip, true_values=cand.true_values, false_values=cand.false_values,
        distinct=len(set(parsed)), low=_show(ordered[0]) if ordered else None,
        high=_show(ordered[-1]) if ordered else None, misfits=choice.misfits,
        misfit_rows=choice.misfit_rows, notes=choice.notes + percent,
        fits=lambda v: cand.parse(v.strip()) is not None,
    )  # fmt: skip


def _string_column(counts: Counter[str], count: int, missing: int) -> ColumnGuess:
    normal = {unicodedata.normalize("NFC", v) for v in counts}
    hint = tuple(sorted(normal)) if len(normal) <= 20 and count >= 50 else ()
    return ColumnGuess("", count=count, missing=missing, distinct=len(normal), allowed=hint)


def _misfits(counts: Counter[str], parse: Parse, limit: int) -> tuple[int, list[str]] | None:
    """Rows and values that ``parse`` rejects; None once more than ``limit`` rows do."""
    rows, values = 0, list[str]()
    for value, n in counts.items():
        if parse(value) is None:
            rows += n
            values.append(value)
            if rows > limit:
                return None
    return rows, values


def _choose(counts: Counter[str], limit: int) -> _Choice | None:
    """The candidate type fitting the most sampled rows (the earliest on a tie)."""
    scored = []
    for order, cand in enumerate(_candidates(list(counts))):
        result = _misfits(counts, cand.parse, limit)
        if result is not None:
            scored.append((result[0], order, cand, result[1]))
    if not scored:
        return None
    rows, _, best, misfits = min(scored, key=lambda s: (s[0], s[1]))
    rivals = [c for r, _, c, _ in scored if r == rows and c is not best]
    notes = tuple(n for c in rivals if (n := _ambiguity(counts, best, c)))
    examples = sorted(misfits, key=lambda v: -counts[v])[:5]
    return _Choice(best, rows, tuple(examples), notes)


def _ambiguity(counts: Counter[str], best: _Candidate, rival: _Candidate) -> str | None:
    """A note when ``rival`` fits as well as ``best`` but reads some value differently."""
    if {best.type, rival.type} - {"int", "float"} and best.type != rival.type:
        return None
    for value in counts:
        ours, theirs = best.parse(value), rival.parse(value)
        if ours is not None and theirs is not None and ours != theirs:
            thousands = repr(rival.thousands) if rival.thousands else "none"
            how = rival.format or f"decimal {rival.decimal!r}, thousands {thousands}"
            return (
                f"ambiguous: {value!r} is read as {_show(ours)}, but with {how} it would be "
                f"{_show(theirs)}; check which is right"
            )
    return None


def _show(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


def _candidates(values: list[str]) -> list[_Candidate]:
    """Every type the values might have, most specific first."""
    flags = _bool_candidate(values)
    return [*_DATE_CANDIDATES, *([flags] if flags else []), *_number_candidates(values)]


def _date_parser(fmt: str, timestamp: bool) -> Parse:
    def parse(value: str) -> object:
        if fmt.startswith("%Y%m%d") and not _YYYYMMDD.match(value):
            return None
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            return None
        return parsed if timestamp else parsed.date()

    return parse


def _parse_iso(value: str) -> object:
    match = _ISO.fullmatch(value)
    try:
        return datetime.fromisoformat(f"{match[1]} {match[2] or '00:00'}") if match else None
    except ValueError:
        return None


_DATE_CANDIDATES = (
    *(_Candidate("date", _date_parser(f, False), format=f) for f in DATE_FORMATS),
    _Candidate("timestamp", _parse_iso),  # the ingest default: ISO, "T" or space
    *(
        _Candidate("timestamp", _date_parser(f + t, True), format=f + t)
        for f in DATE_FORMATS
        if f != "%b-%Y"
        for t in (" %H:%M:%S", " %H:%M")
    ),
)


def _bool_candidate(values: list[str]) -> _Candidate | None:
    """Yes/no values in any spelling we know, as long as both kinds occur."""
    words = {v: unicodedata.normalize("NFC", v).lower() for v in values}
    if set(words.values()) <= {"0", "1"}:
        return None  # a 0/1 column stays int
    trues = sorted({v.lower() for v, w in words.items() if w in TRUE_WORDS})
    falses = sorted({v.lower() for v, w in words.items() if w in FALSE_WORDS})
    if not trues or not falses:
        return None
    accepted = {**dict.fromkeys(trues, True), **dict.fromkeys(falses, False)}
    explicit = not (set(trues) <= set(DEFAULT_TRUE) and set(falses) <= set(DEFAULT_FALSE))
    return _Candidate(
        "bool",
        lambda v: accepted.get(v.lower()),
        true_values=tuple(trues) if explicit else (),
        false_values=tuple(falses) if explicit else (),
    )


def _number_candidates(values: list[str]) -> list[_Candidate]:
    """int, int with thousands, float with '.' or ',' decimals (after common affixes).

    A ',' decimal always comes with '.' thousands: that accepts more, never less."""
    strip = _common_affixes(values)
    plain = [_strip(v, strip) for v in values]
    if any(_LEADING_ZERO.match(v) for v in plain):
        return []  # codes like 00123 are text: an int would lose the zeros
    out = [_number("int", ".", None, strip)]
    long_plain = any(_LONG_INT.fullmatch(v) for v in plain)
    for thousands, decimal in ((",", "."), (".", ",")):
        if not long_plain and any(thousands in v for v in plain):
            out.append(_number("int", decimal, thousands, strip))
    dot_thousands = "," if any("," in v for v in plain) else None
    return [*out, _number("float", ".", dot_thousands, strip), _number("float", ",", ".", strip)]


def _number(kind: str, decimal: str, thousands: str | None, strip: tuple[str, ...]) -> _Candidate:
    """A candidate whose parsing mirrors ingest's (``cleaning._number_pattern``)."""
    digits = "[0-9]+"
    if thousands:
        digits = rf"(?:[0-9]+|[1-9][0-9]{{0,2}}(?:{re.escape(thousands)}[0-9]{{3}})+)"
    d = re.escape(decimal)
    pattern = re.compile(
        rf"-?{digits}"  # no '+': ingest cannot read "+5" as an int
        if kind == "int"
        else rf"[+-]?(?:{digits}(?:{d}[0-9]*)?|{d}[0-9]+)(?:[eE][+-]?[0-9]+)?"
    )

    def parse(value: str) -> object:
        text = _strip(value, strip)
        if not pattern.fullmatch(text) or (kind == "int" and len(text) > 18):
            return None
        text = (text.replace(thousands, "") if thousands else text).replace(decimal, ".")
        number = int(text) if kind == "int" else float(text)
        return number if math.isfinite(number) else None

    return _Candidate(kind, parse, decimal=decimal, thousands=thousands, strip=strip)


def _strip(value: str, strip: tuple[str, ...]) -> str:
    for literal in strip:
        value = value.replace(literal, "")
    return value.strip()


def _common_affixes(values: list[str]) -> tuple[str, ...]:
    """Text every value starts (or ends) with: a currency, '%' or a spaced-off unit."""
    found: list[str] = []
    for pattern in (_PREFIX, _SUFFIX):
        affixes = {m.group() if (m := pattern.search(v)) else "" for v in values}
        raw = affixes.pop() if len(affixes) == 1 else ""
        word = raw.strip()
        if word and (raw != word or not word.isalnum()) and word not in found:
            found.append(word)
    return tuple(found)


def _dict_column(present: list[str], limit: int) -> ColumnGuess | None:
    """``key:value;key:value`` values, each key becoming a typed field."""
    texts = Counter(unicodedata.normalize("NFC", v) for v in present)
    for item, kv in _DICT_SEPARATORS:
        i, k = re.escape(item), re.escape(kv)
        entry = rf"\s*{_DICT_KEY}\s*{k}[^{i}]*"
        shape = re.compile(rf"{entry}(?:{i}{entry})*{i}?\s*")
        result = _misfits(texts, shape.fullmatch, limit)
        if result is None:
            continue
        pairs = [_pairs(t, item, kv) for t in texts.elements() if shape.fullmatch(t)]
        keys = list(dict.fromkeys(key for p in pairs for key in p))
        if len(keys) <= 30 and any(len(p) > 1 for p in pairs):
            return ColumnGuess(
                "", "dict", item_separator=item, key_separator=kv, fields=_fields(keys, pairs),
                misfits=tuple(result[1][:5]), misfit_rows=result[0], fits=_shape_fits(shape),
            )  # fmt: skip
    return None


def _fields(keys: list[str], pairs: list[dict[str, str]]) -> tuple[ColumnGuess, ...]:
    """One typed field per dict key (a row without the key has it missing)."""
    return tuple(
        replace(
            guess_column([p.get(key, "") for p in pairs], allow_dict=False),
            name=name,
            source=key if key != name else None,
        )
        for key, name in zip(keys, snake_names(keys), strict=True)
    )


def _shape_fits(shape: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: bool(shape.fullmatch(unicodedata.normalize("NFC", value.strip())))


def _pairs(text: str, item: str, kv: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for chunk in text.split(item):
        if chunk.strip():
            key, _, value = chunk.partition(kv)
            pairs.setdefault(key.strip(), value.strip())
    return pairs
