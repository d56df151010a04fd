"""Exact order statistics of two samples without sorting them: bucket, bound, refine.

Sorting 1,000,000 values costs about as much as twenty linear passes over them, and
PSI and KS need only a little of the order: a few quantiles of the reference, how many
values of each sample lie below a few edges, and the largest gap between the two
empirical CDFs. So both samples are counted into the same buckets of their value range
(one pass each; the map is monotone and equal values share a bucket), and only the
buckets the answers depend on are gathered and sorted (one more pass each, a few
thousand values):

* a quantile is an order statistic: the bucket holding that rank, sorted;
* the values below an edge are the buckets below the edge's bucket plus a count in it;
* the KS gap right after a bucket's last value is known from the counts alone, and
  inside a bucket the gap stays within the interval its two counts span; so only the
  buckets whose interval reaches beyond the largest such gap are walked value by value.
  The walk and the gaps use the arithmetic of a merge walk over the fully sorted
  samples, so the statistic is the same number, not an approximation.

The buckets follow the data: a strided subsample (both samples, about 8,000 values)
gives the range (its 0.1 % and 99.9 % points; beyond them the two end buckets) and,
on a grid of ``_CELLS`` cells over it, how many buckets each cell gets, in proportion to
its share of the subsample. Skewed data still get buckets of similar counts; a badly
estimated range only makes the gathered buckets larger, never an answer wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["BucketedPair", "bucket_count"]

_MAX_BUCKETS = 1 << 15
_CELLS = 1024
_SUBSAMPLE = 4096


def bucket_count(rows: int) -> int:
    """Buckets for ``rows`` values in all: about 16 values each, at most 32,768 (the
    counts stay in the CPU's cache), at least the grid's cells plus the two ends."""
    return int(min(_MAX_BUCKETS, max(_CELLS + 2, rows // 16)))


@dataclass(frozen=True)
class _Map:
    """The monotone value -> bucket map the kernels apply (see ``_kernels._bucket``)."""

    lo: float
    hi: float
    scale: float
    first: NDArray[np.int64]
    width: NDArray[np.float64]
    buckets: int

    @property
    def args(self) -> tuple[float, float, float, NDArray[np.int64], NDArray[np.float64]]:
        return self.lo, self.hi, self.scale, self.first, self.width


@dataclass
class _Sample:
    values: NDArray[np.float64]
    counts: NDArray[np.int64]
    below: NDArray[np.int64]
    """``below[b]``: finite values in the buckets under ``b`` (one more than buckets)."""
    finite: int


class BucketedPair:
    """A reference and a current sample of one variable, counted into shared buckets.

    ``gather`` the buckets the answers need first (one pass for all of them), then read
    :meth:`order_statistics`, :meth:`below` and :meth:`ks`; any bucket still missing is
    gathered on the way.
    """

    def __init__(self, reference: NDArray[np.float64], current: NDArray[np.float64]) -> None:
        from appliance.monitoring._kernels import bucket_counts

        # one contiguous float64 layout: one compiled variant of each kernel, not one per
        # stride and dtype (each costs seconds to compile the first time)
        reference = np.ascontiguousarray(reference, dtype=np.float64)
        current = np.ascontiguousarray(current, dtype=np.float64)
        self._map = _bucket_map(reference, current)
        sides = []
        for values in (reference, current):
            counts = np.zeros(self._map.buckets, dtype=np.int64)
            finite = int(bucket_counts(values, *self._map.args, counts))
            below = np.zeros(self._map.buckets + 1, dtype=np.int64)
            np.cumsum(counts, out=below[1:])
            sides.append(_Sample(values, counts, below, finite))
        self.ref, self.cur = sides
        self._held: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}

    def bucket_of(self, x: NDArray[np.float64]) -> NDArray[np.int64]:
        """The buckets of the finite values ``x``."""
        from appliance.monitoring._kernels import bucket_of

        x = np.ascontiguousarray(x, dtype=np.float64)
        out = np.empty(x.size, dtype=np.int64)
        bucket_of(x, *self._map.args, self._map.buckets, out)
        return out

    def rank_buckets(self, ranks: NDArray[np.intp]) -> NDArray[np.int64]:
        """The buckets holding the reference's values at ``ranks`` (0-based, ascending)."""
        return np.searchsorted(self.ref.below, ranks, side="right") - 1

    def open_buckets(self) -> tuple[float, NDArray[np.int64]]:
        """The largest CDF gap found at the buckets' ends, and the buckets inside which
        the gap could still be larger (to be walked by :meth:`ks`)."""
        na, nc = self.ref.finite, self.cur.finite
        ra, rc = self.ref.below, self.cur.below
        d = float(np.max(np.abs(ra / na - rc / nc)))
        top = np.abs(ra[1:] / na - rc[:-1] / nc)  # all of the bucket's ref values, none of cur's
        bottom = np.abs(ra[:-1] / na - rc[1:] / nc)
        return d, np.flatnonzero(np.maximum(top, bottom) > d)

    def gather(self, buckets: NDArray[np.int64]) -> None:
        """Collect and sort both samples' values in ``buckets`` (those not yet held)."""
        from appliance.monitoring._kernels import gather_buckets

        wanted = np.unique(buckets)
        if self._held:
            wanted = wanted[~np.isin(wanted, np.fromiter(self._held, np.int64))]
        if not wanted.size:
            return
        slot = np.full(self._map.buckets, -1, dtype=np.int64)
        slot[wanted] = np.arange(wanted.size)
        parts = []
        for side in (self.ref, self.cur):
            starts = np.zeros(wanted.size + 1, dtype=np.int64)
            np.cumsum(side.counts[wanted], out=starts[1:])
            out = np.empty(int(starts[-1]), dtype=np.float64)
            gather_buckets(side.values, *self._map.args, slot, starts, out)
            parts.append([out[starts[k] : starts[k + 1]] for k in range(wanted.size)])
        for b, ref, cur in zip(wanted.tolist(), *parts, strict=True):
            self._held[b] = (ref, cur)

    def order_statistics(self, ranks: NDArray[np.intp]) -> NDArray[np.float64]:
        """The reference's finite values at ``ranks`` (0-based) of its ascending order."""
        buckets = self.rank_buckets(ranks)
        self.gather(buckets)
        below = self.ref.below
        return np.array([self._held[b][0][r - below[b]]
                         for b, r in zip(buckets.tolist(), ranks.tolist(), strict=True)],
                        dtype=np.float64)  # fmt: skip

    def below(self, edges: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """How many finite values of each sample lie strictly below each edge."""
        buckets = self.bucket_of(edges).tolist()
        self.gather(np.asarray(buckets, dtype=np.int64))
        counts = []
        for k, side in enumerate((self.ref, self.cur)):
            pairs = zip(buckets, edges.tolist(), strict=True)
            counts.append(np.array([side.below[b] + np.searchsorted(self._held[b][k], e, "left")
                                    for b, e in pairs], dtype=np.int64))  # fmt: skip
        return counts[0], counts[1]

    def ks(self) -> float:
        """The two-sample KS statistic: the largest gap between the empirical CDFs."""
        from appliance.monitoring._kernels import ks_buckets

        d, open_ = self.open_buckets()
        if not open_.size:
            return d
        self.gather(open_)
        held = [self._held[b] for b in open_.tolist()]
        a_starts = np.zeros(open_.size + 1, dtype=np.int64)
        c_starts = np.zeros(open_.size + 1, dtype=np.int64)
        np.cumsum([a.size for a, _ in held], out=a_starts[1:])
        np.cumsum([c.size for _, c in held], out=c_starts[1:])
        a = np.concatenate([a for a, _ in held])
        c = np.concatenate([c for _, c in held])
        ref, cur = self.ref, self.cur
        return float(ks_buckets(a, a_starts, ref.below[open_], ref.finite,
                                c, c_starts, cur.below[open_], cur.finite, d))  # fmt: skip


def _bucket_map(reference: NDArray[np.float64], current: NDArray[np.float64]) -> _Map:
    """Range and per-cell bucket counts from a strided subsample of both samples."""
    buckets = bucket_count(reference.size + current.size)
    picks = [s[:: max(1, s.size // _SUBSAMPLE)] for s in (reference, current)]
    sample = np.concatenate(picks)
    sample = np.sort(sample[np.isfinite(sample)])
    if sample.size < 64:  # mostly missing: the exact finite range, even cells
        finite = [s[np.isfinite(s)] for s in (reference, current)]
        low = min((float(f.min()) for f in finite if f.size), default=0.0)
        sample = np.array([low, max((float(f.max()) for f in finite if f.size), default=0.0)])
    k = sample.size // 1000
    lo, hi = float(sample[k]), float(sample[sample.size - 1 - k])
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        scale = _CELLS / (hi - lo) if hi > lo else 0.0
        if not np.isfinite(scale):
            scale = 0.0
        cells = np.clip((sample - lo) * scale, 0, _CELLS - 1)
    share = np.bincount(np.nan_to_num(cells, nan=_CELLS - 1).astype(np.intp),
                        minlength=_CELLS) / sample.size  # fmt: skip
    inner = buckets - 2
    width = 1 + np.floor((inner - _CELLS) * share)
    first = np.ones(_CELLS, dtype=np.int64)
    np.cumsum(width[:-1].astype(np.int64), out=first[1:])
    first[1:] += 1
    return _Map(lo, hi, float(scale), first, width.astype(np.float64), buckets)
