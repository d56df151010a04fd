"""The bucketed two-sample path (``appliance.monitoring.buckets``) gives exactly what a
full sort gives: quantile edges, counts below them, and the KS statistic, on samples
chosen to be hard for buckets (ties, skew, outliers, extremes, infinities), while
sorting only a small part of the data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from appliance.monitoring._kernels import ks_sorted
from appliance.monitoring.buckets import BucketedPair, bucket_count
from appliance.monitoring.samples import compare_samples, psi_from_counts, quantile_edges


def _by_sorting(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Edges, PSI and KS from fully sorted samples (the definition)."""
    r = np.sort(ref[np.isfinite(ref)])
    c = np.sort(cur[np.isfinite(cur)])
    edges = quantile_edges(r)
    e = np.diff(np.r_[0, np.searchsorted(r, edges, side="left"), r.size])
    a = np.diff(np.r_[0, np.searchsorted(c, edges, side="left"), c.size])
    return edges, psi_from_counts(e, a), float(ks_sorted(r, r.size, c, c.size))


def _assert_exact(ref: np.ndarray, cur: np.ndarray) -> None:
    result = compare_samples(ref, cur)
    edges, psi, d = _by_sorting(ref, cur)
    assert np.array_equal(np.asarray(result.edges), edges, equal_nan=True)
    assert result.psi == psi  # the same counts: the same number, not merely close
    assert result.ks == d


wide = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
few = st.sampled_from([-1e308, -1.0, -5e-324, 0.0, 5e-324, 1.0, 2.0, 1e308, np.nan, np.inf])


@settings(max_examples=120, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 400), elements=wide | few),
    arrays(np.float64, st.integers(1, 400), elements=wide | few),
)
def test_any_values_give_exactly_what_sorting_gives(ref: np.ndarray, cur: np.ndarray) -> None:
    if not np.isfinite(ref).any() or not np.isfinite(cur).any():
        assert compare_samples(ref, cur).ks is None
        return
    _assert_exact(ref, cur)


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(["normal", "lognormal", "ties", "outliers", "clipped", "float32"]),
    st.integers(2_000, 60_000),
    st.floats(-0.5, 0.5),
    st.integers(0, 2**32 - 1),
)
def test_large_hard_samples_are_exact(kind: str, rows: int, shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)

    def draw(mu: float) -> np.ndarray:
        if kind == "lognormal":
            return rng.lognormal(mu, 2.5, rows)
        if kind == "ties":  # an imputed or binned feature: few values, heavy ties
            return np.floor(rng.normal(mu * 4, 2, rows)).clip(-3, 5)
        x = rng.normal(mu, 1, rows)
        if kind == "outliers":
            x[rng.choice(rows, 5, replace=False)] = rng.choice([1e300, -1e300, 1e12], 5)
        if kind == "clipped":  # an imputed mean and clip bounds: three big spikes
            x = np.where(rng.random(rows) < 0.2, 0.123, x.clip(-1, 1))
        if kind == "float32":
            x = x.astype(np.float32).astype(np.float64)
        return x

    _assert_exact(draw(0.0), draw(shift))


def test_only_a_small_part_of_the_data_is_sorted() -> None:
    rng = np.random.default_rng(5)
    for shift in (0.0, 0.02, 0.3):
        ref, cur = rng.normal(size=200_000), rng.normal(shift, 1, 200_000)
        pair = BucketedPair(ref, cur)
        d = pair.ks()
        held = sum(a.size + c.size for a, c in pair._held.values())
        assert held < 0.05 * (ref.size + cur.size), (shift, held)
        r, c = np.sort(ref), np.sort(cur)
        assert d == ks_sorted(r, r.size, c, c.size)


def test_a_constant_or_mostly_missing_column() -> None:
    ones = np.ones(50_000)
    assert compare_samples(ones, ones).ks == 0.0
    assert compare_samples(ones, ones).psi == pytest.approx(0.0)
    sparse = np.full(50_000, np.nan)
    sparse[::5000] = np.arange(10.0)
    _assert_exact(sparse, np.r_[sparse[1:], 3.5])


def test_bucket_count_follows_the_rows() -> None:
    assert bucket_count(10) == bucket_count(0) > 1024
    assert bucket_count(2_000_000) == 1 << 15
    assert bucket_count(100_000) == 6250
