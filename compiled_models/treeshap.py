"""Exact path-dependent TreeSHAP over a ``Forest``: the quantity XGBoost's
``predict(pred_contribs=True)`` returns, one contribution per feature plus a bias column.

The maths (Lundberg et al. 2018; the integral form as in Linear TreeShap, Yu et al.
2022). A leaf with value v has, for each distinct feature j split on along its path, a
zero fraction z_j (the product of the cover ratios of j's edges) and, for a row x, a one
fraction o_j (1 when x follows every edge of j, else 0). Feature i gets from that leaf

    phi_i += v (o_i - z_i) sum_k k!(d-k-1)!/d! c_k
           = v (o_i - z_i) int_0^1 prod_{j != i} F_j(t) dt,

c_k being the coefficients of prod_{j != i} (z_j + o_j t) and F_j(t) = z_j (1 - t) + o_j t.
The integrand has degree d - 1 < D (the most distinct features on any path), so Gauss-
Legendre quadrature with ceil(D / 2) nodes is exact, and

    phi_i += sum_q w_q (o_i - z_i) / F_i(t_q) * G_leaf(t_q),   G_leaf = v prod_j F_j,

where (o - z) / F(t) is -1 / (1 - t) when o = 0 and (1 - z) / (z (1 - t) + t) when o = 1.

Per tree and row, one pass down the tree's splits (breadth first) finds which way the
row goes (float32 compare, NaN to the default side; categorical sets as in ``forest``)
and builds G at both children from their parent's, merging a feature's repeated splits
(its factor is replaced, not multiplied again); one pass back up sums v G over the
leaves below each node. The edge where a feature last splits on a leaf's path collects
that leaf's share: an edge takes the sum below it minus what lower edges on the same
feature already took. So a row costs O(splits x quadrature nodes) per tree, rather
than O(leaves x depth^2). Both children of a split are handled together, and the
quadrature lanes are written out by hand, three at a time, so that numba keeps them in
registers (numba does not vectorise them; loops over a lanes array ran 1.7 times
slower, one edge at a time 1.4 times slower).

The bias is the base margin plus each tree's expected value under the covers;
contributions plus bias equal the margin (float64 throughout, to ~1e-12). The schedule
is built once per forest (``TreeExplainer(forest)``) into numpy arrays; the kernels are
numba-compiled (cached on disk) and release the GIL, so threads can explain rows
concurrently, each with its own scratch buffers.
"""

from __future__ import annotations

import threading
from typing import Any

import numba
import numpy as np

from compiled_models.forest import Forest, RowsRejected, as_rows, goes_left

__all__ = ["LANES", "Schedule", "TreeExplainer", "quadrature"]

LANES = 3
"""Quadrature nodes processed together, written out by hand in the kernels. Three
integrate paths of up to six distinct features (depth-6 trees, XGBoost's default) in
one pass over a tree; deeper trees take a pass per three more nodes."""

# the columns of Schedule.split_ints, and the bits of its FLAGS column
PARENT, UP, FEATURE, FLAGS, NODE = range(5)
LEFT_PENDING, RIGHT_PENDING, CATEGORICAL, DEFAULT_LEFT = 1, 2, 4, 8


class Schedule:
    """A forest laid out for the per-row passes: per tree, its splits in breadth-first
    order, with everything a row does not change.

    Positions number a tree's nodes breadth first from 0 (the root); split i of a tree
    sends its rows to positions 2i + 1 (left) and 2i + 2 (right). An edge is known by
    the position it leads to.
    """

    def __init__(self, forest: Forest) -> None:
        (
            self.tree_start, self.split_ints, self.threshold, self.children, self.expected,
            self.longest,
        ) = _schedule(forest.roots, forest.left, forest.right, forest.feature, forest.cover,
                      forest.value, forest.threshold, forest.default_left,
                      forest.categorical)  # fmt: skip
        """tree_start: int64 [trees + 1], each tree's first split; split_ints: int32
        [splits, 5]: the split's own position, the nearest edge above it on the same
        feature (0: none), the feature, flags (LEFT_PENDING / RIGHT_PENDING: a lower split
        on this feature points back to that edge; CATEGORICAL; DEFAULT_LEFT) and the
        forest node; threshold: float32 [splits]; children: float64 [splits, 4]: merged
        zero fraction left and right (the product of the cover ratios of the feature's
        edges down to there), leaf value left and right (0 for a split); expected: the
        sum over trees of the mean leaf value under the covers; longest: the most
        distinct features on one path."""
        self.t, self.s, self.w = quadrature(self.longest)
        zero = self.children[:, :2, None]
        unsatisfied = -self.w / self.s  # (o - z) / F times the weight, when o = 0
        satisfied = self.w * (1.0 - zero) / (zero * self.s + self.t)  # and when o = 1
        self.lane_consts = np.ascontiguousarray(np.stack([self.t, self.s, unsatisfied]))
        """float64 [3, lanes]: node t, 1 - t, and the weighted share of an unsatisfied edge."""
        self.satisfied_extra = np.ascontiguousarray(satisfied - unsatisfied)
        """float64 [splits, 2, lanes]: what a satisfied edge's share adds (left, right)."""
        splits = np.diff(self.tree_start)
        self.widest = int(2 * np.max(splits, initial=0) + 1)
        """The most nodes in one tree (scratch rows)."""

    @property
    def lanes(self) -> int:
        return int(self.t.shape[0])


def quadrature(longest: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes t, 1 - t and weights on [0, 1], exact for polynomials of
    degree < ``longest``, padded with zero-weight nodes to a multiple of ``LANES``."""
    n = max(1, (longest + 1) // 2)
    x, w = np.polynomial.legendre.leggauss(n)
    size = -(-n // LANES) * LANES
    t, weight = np.full(size, 0.5), np.zeros(size)
    t[:n], weight[:n] = (x + 1.0) / 2.0, w / 2.0
    s = 1.0 - t
    s[:n] = (1.0 - x) / 2.0  # 1 - t without cancellation
    return t, s, weight


class TreeExplainer:
    """Exact TreeSHAP for one forest: ``contributions(X)`` for batches, ``row(x)`` for
    one row. Both return the bias as the last column, like XGBoost's ``pred_contribs``."""

    def __init__(self, forest: Forest) -> None:
        self.forest = forest
        self.schedule = plan = Schedule(forest)
        self.bias = forest.base_margin + plan.expected
        """What every row's contributions add to: the base margin plus the expected value."""
        self._local = threading.local()
        self._arrays = (
            plan.tree_start, plan.split_ints, plan.threshold, plan.children,
            plan.satisfied_extra, plan.lane_consts, forest.feature, forest.threshold,
            forest.default_left, forest.categorical, forest.category_offsets, forest.categories,
        )  # fmt: skip

    @property
    def n_features(self) -> int:
        return self.forest.n_features

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """float64 [rows, features + 1]: per-feature contributions, then the bias; each
        row sums to its margin. NaN is missing. Rows run in parallel on numba's threads
        (calls from several threads at once need its omp or tbb threading layer)."""
        rows = as_rows(X, self.n_features)
        out = np.empty((rows.shape[0], self.n_features + 1))
        _explain_rows(rows, out, self.bias, self.schedule.widest, *self._arrays)
        return out

    def row(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """float64 [features + 1] for one 1-D row; writes into ``out`` when given.

        Nothing is allocated but the result: each calling thread keeps its own scratch.
        """
        x = np.ascontiguousarray(x, dtype=np.float64)  # no copy when it already is
        if x.shape != (self.n_features,):
            raise RowsRejected(f"a row must have {self.n_features} features; got shape {x.shape}")
        if out is None:
            out = np.empty(self.n_features + 1)
        elif (out.shape != (self.n_features + 1,) or out.dtype != np.float64
              or not out.flags.c_contiguous):  # fmt: skip
            raise RowsRejected(f"out must be a contiguous float64 array of {self.n_features + 1}")
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _scratch(self.n_features, self.schedule.widest)
        _explain_row(x, out, self.bias, *scratch, *self._arrays)
        return out


def _scratch(n_features: int, widest: int) -> tuple[np.ndarray, ...]:
    """One thread's buffers: the row in float32, and per tree position the edge's one
    fraction and, per lane, G, the sum below, the factor and the pending share."""
    lanes = np.zeros((4, widest, LANES))
    return (np.zeros(n_features, np.float32), np.zeros(widest), lanes[0], lanes[1],
            lanes[2], lanes[3])  # fmt: skip


def _jit(**options: Any) -> Any:
    """``numba.njit(cache=True, nogil=True)``; uncached where no cache dir is writable.

    ``error_model="numpy"``: x / 0.0 is inf or NaN (as XGBoost's own float arithmetic
    gives for a zero cover), not an exception, and divisions carry no zero check.
    """
    settings = {"nogil": True, "error_model": "numpy", **options}

    def wrap(function: Any) -> Any:
        try:
            return numba.njit(cache=True, **settings)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(**settings)(function)

    return wrap


# -- the schedule (once per forest) -------------------------------------------------------


@_jit()
def _schedule(roots, left, right, feature, cover, value, threshold, default_left,
              categorical):  # fmt: skip
    """Every tree's splits breadth first; see ``Schedule``."""
    n_trees, n_nodes = roots.shape[0], left.shape[0]
    tree_start = np.zeros(n_trees + 1, np.int64)
    ints = np.zeros((n_nodes, 5), np.int32)
    cuts = np.zeros(n_nodes, np.float32)
    children = np.zeros((n_nodes, 4))
    # per position of the current tree: node, parent, feature of the edge in, merged zero
    # fraction, product of all cover ratios, distinct features above, pending flag
    node_at = np.zeros(n_nodes + 1, np.int64)
    parent_at = np.zeros(n_nodes + 1, np.int64)
    feature_in = np.full(n_nodes + 1, -1, np.int64)
    zero = np.ones(n_nodes + 1)
    reach = np.ones(n_nodes + 1)
    distinct = np.zeros(n_nodes + 1, np.int64)
    pending = np.zeros(n_nodes + 1, np.int32)
    expected, longest, i = 0.0, 0, 0
    for t in range(n_trees):
        first, filled, k = i, 1, 0
        node_at[0] = roots[t]
        while k < filled:
            node = node_at[k]
            if left[node] == -1:
                expected += value[node] * reach[k]
                longest = max(longest, distinct[k])
            else:
                _add_split(ints, cuts, children, node_at, parent_at, feature_in, zero, reach,
                           distinct, pending, left, right, feature, cover, value, threshold,
                           i, k, filled)  # fmt: skip
                flags = CATEGORICAL * categorical[node] + DEFAULT_LEFT * default_left[node]
                ints[i, FLAGS] = flags
                filled += 2
                i += 1
            k += 1
        for j in range(first, i):  # the pending flags of this tree's edges, now all known
            local = 2 * (j - first)
            ints[j, FLAGS] += LEFT_PENDING * pending[local + 1]
            ints[j, FLAGS] += RIGHT_PENDING * pending[local + 2]
        pending[:filled] = 0
        tree_start[t + 1] = i
    return tree_start, ints[:i].copy(), cuts[:i].copy(), children[:i].copy(), expected, longest


@_jit()
def _add_split(ints, cuts, children, node_at, parent_at, feature_in, zero, reach, distinct,
               pending, left, right, feature, cover, value, threshold, i, k, filled):  # fmt: skip
    """Split ``i`` at position ``k``: its children go to positions ``filled``, +1."""
    node = node_at[k]
    f = feature[node]
    up = k
    while up != 0 and feature_in[up] != f:  # the nearest edge above on the same feature
        up = parent_at[up]
    pending[up] = up != 0
    ints[i, PARENT], ints[i, UP], ints[i, FEATURE], ints[i, NODE] = k, up, f, node
    cuts[i] = threshold[node]
    for side in range(2):
        child = left[node] if side == 0 else right[node]
        pos = filled + side
        ratio = cover[child] / cover[node]
        node_at[pos], parent_at[pos], feature_in[pos] = child, k, f
        reach[pos] = reach[k] * ratio
        zero[pos] = ratio * zero[up] if up != 0 else ratio
        distinct[pos] = distinct[k] + (up == 0)
        children[i, side] = zero[pos]
        children[i, 2 + side] = value[child] if left[child] == -1 else 0.0


# -- per row ------------------------------------------------------------------------------


@_jit()
def _explain_row(x, out, bias, x32, on, g, below, factor, pending, tree_start, ints, cuts,
                 children, extra, consts, feature, threshold, default_left, categorical,
                 offsets, cats):  # fmt: skip
    """One row's contributions into ``out`` (bias last), with the caller's scratch."""
    for j in range(x.shape[0]):
        x32[j] = x[j]
    out[:] = 0.0
    out[out.shape[0] - 1] = bias
    for t in range(tree_start.shape[0] - 1):
        for lane in range(0, consts.shape[1], LANES):
            _down(x, x32, tree_start[t], tree_start[t + 1], lane, on, g, below, factor, pending,
                  ints, cuts, children, consts, feature, threshold, default_left, categorical,
                  offsets, cats)  # fmt: skip
            _up(out, tree_start[t], tree_start[t + 1], lane, on, below, pending, ints, extra,
                consts)  # fmt: skip


@_jit()
def _down(x, x32, first, end, lane, on, g, below, factor, pending, ints, cuts, children,
          consts, feature, threshold, default_left, categorical, offsets, cats):  # fmt: skip
    """Three lanes of one tree, splits in breadth-first order: which way the row goes,
    and G and v G at both children."""
    t0, t1, t2 = consts[0, lane], consts[0, lane + 1], consts[0, lane + 2]
    s0, s1, s2 = consts[1, lane], consts[1, lane + 1], consts[1, lane + 2]
    on[0] = 1.0
    g[0, 0] = g[0, 1] = g[0, 2] = 1.0
    below[0, 0] = below[0, 1] = below[0, 2] = 0.0
    for i in range(first, end):
        k, up, flags = ints[i, PARENT], ints[i, UP], ints[i, FLAGS]
        fv = x32[ints[i, FEATURE]]
        go = np.float64((fv < cuts[i]) | ((fv != fv) & (flags & DEFAULT_LEFT != 0)))
        if flags & CATEGORICAL:
            go = np.float64(goes_left(ints[i, NODE], x, feature, threshold, default_left,
                                      categorical, offsets, cats))  # fmt: skip
        c = 2 * (i - first) + 1
        o_left = go * on[up]
        o_right = on[up] - o_left
        on[c], on[c + 1] = o_left, o_right
        z, w = children[i, 0], children[i, 1]
        l0, l1, l2 = z * s0 + o_left * t0, z * s1 + o_left * t1, z * s2 + o_left * t2
        r0, r1, r2 = w * s0 + o_right * t0, w * s1 + o_right * t1, w * s2 + o_right * t2
        if flags & LEFT_PENDING:  # a lower split on this feature replaces the factor
            factor[c, 0], factor[c, 1], factor[c, 2] = l0, l1, l2
            pending[c, 0] = pending[c, 1] = pending[c, 2] = 0.0
        if flags & RIGHT_PENDING:
            factor[c + 1, 0], factor[c + 1, 1], factor[c + 1, 2] = r0, r1, r2
            pending[c + 1, 0] = pending[c + 1, 1] = pending[c + 1, 2] = 0.0
        p0, p1, p2 = g[k, 0], g[k, 1], g[k, 2]
        if up != 0:  # the feature split above: its factor is replaced, not repeated
            p0, p1 = _without(p0, factor[up, 0]), _without(p1, factor[up, 1])
            p2 = _without(p2, factor[up, 2])
        l0, l1, l2, r0, r1, r2 = p0 * l0, p1 * l1, p2 * l2, p0 * r0, p1 * r1, p2 * r2
        g[c, 0], g[c, 1], g[c, 2] = l0, l1, l2
        g[c + 1, 0], g[c + 1, 1], g[c + 1, 2] = r0, r1, r2
        v, w = children[i, 2], children[i, 3]
        below[c, 0], below[c, 1], below[c, 2] = v * l0, v * l1, v * l2
        below[c + 1, 0], below[c + 1, 1], below[c + 1, 2] = w * r0, w * r1, w * r2


@_jit()
def _up(out, first, end, lane, on, below, pending, ints, extra, consts):
    """Three lanes of one tree, splits in reverse: sums below each node, and each edge's
    share of the leaves whose last split on its feature it is."""
    u0, u1, u2 = consts[2, lane], consts[2, lane + 1], consts[2, lane + 2]
    for i in range(end - 1, first - 1, -1):
        k, up, flags = ints[i, PARENT], ints[i, UP], ints[i, FLAGS]
        c = 2 * (i - first) + 1
        l0, l1, l2 = below[c, 0], below[c, 1], below[c, 2]
        r0, r1, r2 = below[c + 1, 0], below[c + 1, 1], below[c + 1, 2]
        below[k, 0] += l0 + r0
        below[k, 1] += l1 + r1
        below[k, 2] += l2 + r2
        if up != 0:
            pending[up, 0] += l0 + r0
            pending[up, 1] += l1 + r1
            pending[up, 2] += l2 + r2
        if flags & LEFT_PENDING:
            l0, l1, l2 = l0 - pending[c, 0], l1 - pending[c, 1], l2 - pending[c, 2]
        if flags & RIGHT_PENDING:
            r0, r1, r2 = r0 - pending[c + 1, 0], r1 - pending[c + 1, 1], r2 - pending[c + 1, 2]
        o, p = on[c], on[c + 1]
        share = l0 * (u0 + o * extra[i, 0, lane]) + r0 * (u0 + p * extra[i, 1, lane])
        share += l1 * (u1 + o * extra[i, 0, lane + 1]) + r1 * (u1 + p * extra[i, 1, lane + 1])
        share += l2 * (u2 + o * extra[i, 0, lane + 2]) + r2 * (u2 + p * extra[i, 1, lane + 2])
        out[ints[i, FEATURE]] += share


@_jit()
def _without(g, old):
    """``g / old``: the product without the feature's earlier factor (0 when that was 0,
    since then g, which carries it, is 0 too)."""
    return g / old if old != 0.0 else 0.0


@_jit(parallel=True)
def _explain_rows(rows, out, bias, widest, tree_start, ints, cuts, children, extra, consts,
                  feature, threshold, default_left, categorical, offsets, cats):  # fmt: skip
    """``_explain_row`` over blocks of rows in parallel, scratch per block."""
    block = 64
    for blk in numba.prange((rows.shape[0] + block - 1) // block):
        x32 = np.zeros(rows.shape[1], np.float32)
        on = np.zeros(widest)
        lanes = np.zeros((4, widest, LANES))
        for r in range(blk * block, min(rows.shape[0], (blk + 1) * block)):
            _explain_row(rows[r], out[r], bias, x32, on, lanes[0], lanes[1], lanes[2], lanes[3],
                         tree_start, ints, cuts, children, extra, consts, feature, threshold,
                         default_left, categorical, offsets, cats)  # fmt: skip
