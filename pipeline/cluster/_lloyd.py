"""Core DTW k-means on deduplicated, variable-weighted rows (no validation).

All functions here take ``X`` of shape (n_unique, n_steps, n_variables)
already multiplied by ``sqrt(weights)``, per-row sample weights ``w`` (n_unique,)
(the duplicate counts), and an integer Sakoe-Chiba radius ``r``.
"""

import time
from dataclasses import dataclass

import numpy as np

from pipeline.cluster._kernels import (
    _assign,
    _dba_accumulate,
    _dba_finish,
    _decay_bounds,
    _envelope,
    _min_update,
    _path_shift,
)

#: Fixed number of work chunks in the DBA pass, so the floating-point
#: summation order (and therefore the result) is independent of threads --
#: and of processes: a partitioned fit gives each partition whole chunks.
DBA_CHUNKS = 16

#: DBA stopping tolerance on a cluster's mean squared cost (tslearn's default).
DBA_TOL = 1e-5


def dedup_rows(X, sample_weight=None):
    """Collapse exactly identical rows of ``X`` (n, t, d).

    Returns
    -------
    X_unique : ndarray of shape (n_unique, t, d)
    w_unique : ndarray of shape (n_unique,), summed sample weights
    inverse : ndarray of shape (n,), ``X_unique[inverse] == X``
    """
    n = X.shape[0]
    flat = np.ascontiguousarray(X.reshape(n, -1))
    keys = flat.view(np.dtype((np.void, flat.shape[1] * flat.itemsize))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    w = np.ones(n) if sample_weight is None else sample_weight
    w_unique = np.bincount(inverse.ravel(), weights=w, minlength=len(first))
    return X[first], w_unique, inverse.ravel()


def kmeans_plusplus(X, w, n_clusters, r, rs, max_sample=10_000):
    """Weighted k-means++ (D² sampling, greedy local trials as in tslearn).

    Runs on a random subsample of ``min(n, max(max_sample, 20 * n_clusters))``
    rows so the cost is O(sample * k) exact-but-pruned DTW computations and
    memory is O(sample).

    Returns
    -------
    centers : ndarray of shape (n_clusters, t, d)
    """
    n = X.shape[0]
    m = min(n, max(max_sample, 20 * n_clusters))
    idx = np.sort(rs.choice(n, m, replace=False)) if m < n else np.arange(n)
    Xs, ws = X[idx], w[idx]
    XP = paa(Xs, *segments(Xs.shape[1]))
    n_trials = 2 + int(np.log(n_clusters))
    chosen = [int(rs.choice(m, p=ws / ws.sum()))]
    closest = _closest_to(Xs, XP, [chosen[0]], r, np.full(m, np.inf))[0]
    for _ in range(1, n_clusters):
        pot_all = np.cumsum(ws * closest)
        if pot_all[-1] <= 0:  # every sampled row coincides with a center
            free = np.setdiff1d(np.arange(m), chosen)
            chosen.append(int(rs.choice(free)))
            continue
        cand = np.searchsorted(pot_all, rs.random_sample(n_trials) * pot_all[-1])
        cand = np.minimum(cand, m - 1)
        trials = _closest_to(Xs, XP, cand, r, closest)
        pots = [float((ws * t).sum()) for t in trials]
        best = int(np.argmin(pots))
        chosen.append(int(cand[best]))
        closest = trials[best]
    return Xs[chosen].copy()


def _closest_to(X, XP, cand, r, closest):
    """``min(closest, dtw_sq(X, X[c]))`` row-wise for each ``c`` in ``cand``, shape (m, n).

    ``XP`` are the segment means of ``X`` (see :func:`paa`); pairs are pruned
    by lower bounds against ``closest``.
    """
    cand = np.asarray(cand, dtype=np.int64)
    starts, seg_len = segments(X.shape[1])
    U, L = _envelope(X[cand], r)
    UP = np.ascontiguousarray(np.maximum.reduceat(U, starts, axis=1))
    LP = np.ascontiguousarray(np.minimum.reduceat(L, starts, axis=1))
    return _min_update(X, XP, cand, U, L, UP, LP, seg_len, r, closest)


def reseed_empty(X, C, labels, d2):
    """Give every empty cluster the row farthest from its own center.

    Only rows whose cluster keeps at least one other member are eligible, so
    re-seeding never creates a new empty cluster.  Modifies ``C``, ``labels``
    and ``d2`` in place and returns the number of clusters re-seeded.  ``X``
    is only indexed by one row, ``X[i]``, so a rows object such as
    :class:`LocalRows` works as well as an array.
    """
    k = C.shape[0]
    sizes = np.bincount(labels, minlength=k)
    empty = np.flatnonzero(sizes == 0)
    for j in empty:
        score = np.where(sizes[labels] > 1, d2, -1.0)
        i = int(np.argmax(score))
        sizes[labels[i]] -= 1
        labels[i], d2[i], sizes[j] = j, 0.0, 1
        C[j] = X[i]
    return len(empty)


@dataclass
class LloydResult:
    """Outcome of one k-means run (centers in the weighted units)."""

    centers: np.ndarray
    labels: np.ndarray
    d2: np.ndarray
    inertia: float
    n_iter: int
    n_dtw: int
    n_reseeded: int


def segments(n_steps, seg=6):
    """Segment starts (n_seg,) and float lengths (n_seg,) for LB_PAA."""
    n_seg = max(1, n_steps // seg)
    bounds = np.linspace(0, n_steps, n_seg + 1).astype(np.int64)
    return bounds[:-1], np.diff(bounds).astype(np.float64)


def paa(X, starts, seg_len):
    """Segment means of ``X`` (n, t, d), shape (n, n_seg, d)."""
    return np.ascontiguousarray(np.add.reduceat(X, starts, axis=1) / seg_len[None, :, None])


def assign(X, C, r, first=None, lb=None, XP=None):
    """Pruned exact assignment; returns labels, squared distances, #DTW.

    ``first`` (n,) previous labels, ``lb`` (n, k) DTW lower bounds (updated
    in place) and ``XP`` (segment means of ``X``) are optional warm state.
    """
    starts, seg_len = segments(X.shape[1])
    U, L = _envelope(C, r)
    UP = np.ascontiguousarray(np.maximum.reduceat(U, starts, axis=1))
    LP = np.ascontiguousarray(np.minimum.reduceat(L, starts, axis=1))
    if XP is None:
        XP = paa(X, starts, seg_len)
    if first is None:
        first = np.full(X.shape[0], -1, dtype=np.int64)
    if lb is None:
        lb = np.zeros((X.shape[0], C.shape[0]))
    labels, d2, n_dtw = _assign(X, C, U, L, r, first, lb, XP, UP, LP, seg_len)
    return labels, d2, int(n_dtw.sum())


def center_shift(C_old, C_new, r):
    """Per-center bound on how much DTW to it can drop, shape (k,).

    Let ``P`` be the optimal path of ``(x, c')``.  Following ``P`` between
    ``x`` and ``c`` costs at least ``DTW(x, c)``, and by Minkowski on the
    path's cells ``DTW(x, c) <= DTW(x, c') + sqrt(sum_P ||c'_j - c_j||^2)``.
    The last term is at most its maximum over all banded paths, which
    :func:`~pipeline.cluster._kernels._path_shift` finds by DP (it is
    ``<= sqrt(2r + 1) * ||c' - c||_F``, the bound used before, since a path
    visits a center step at most ``2r + 1`` times).  This holds for rows
    of the centers' length (every row here).  A tiny relative margin absorbs
    floating-point rounding.
    """
    moves = np.ascontiguousarray(((C_new - C_old) ** 2).sum(axis=2))
    return np.sqrt(_path_shift(moves, r)) * (1 + 1e-9) + 1e-12


def chunk_bounds(n, n_chunks=DBA_CHUNKS):
    """Row offsets (n_chunks + 1,) of the fixed DBA chunks of ``n`` rows."""
    return np.arange(n_chunks + 1, dtype=np.int64) * n // n_chunks


def dba_rounds(one_pass, wk, C, n_pass, skip, tol=DBA_TOL):
    """Up to ``n_pass`` banded DBA passes per cluster, as tslearn's Petitjean DBA.

    ``one_pass(C, active)`` runs one pass for the ``active`` (k,) clusters and
    returns the new centers (k, t, d) and each cluster's weighted summed cost
    (k,); ``wk`` (k,) are the clusters' summed weights.  A cluster stops once
    its mean squared cost changes by less than ``tol`` (tslearn's DBA stopping
    rule) or its center no longer moves.  Clusters flagged in ``skip`` (k,)
    are left untouched: callers pass those whose members are unchanged and
    whose center was a DBA fixed point, for which another pass would
    reproduce the same center exactly.

    Returns the new centers (k, t, d) and the fixed-point flags (k,).
    """
    k = C.shape[0]
    active = ~skip & (wk > 0)
    fixed = skip.copy()
    prev_cost = np.full(k, np.inf)
    for _ in range(n_pass):
        if not active.any():
            break
        C_new, cost = one_pass(C, active)
        cost = cost / np.maximum(wk, 1e-300)
        moved = np.any(C_new != C, axis=(1, 2))
        fixed[active] = ~moved[active]
        active &= moved & ~(np.abs(prev_cost - cost) < tol)
        prev_cost, C = cost, C_new
    return C, fixed


class LocalRows:
    """The rows of a k-means run, held in this process.

    :func:`lloyd_rows` reaches its rows only through this small interface, so
    :mod:`pipeline.cluster.partitioned` can hold them on Dask workers instead:

    - ``start(k)`` resets the per-run state (DTW lower bounds, warm labels);
    - ``assign(C, shift)`` first loosens the bounds by ``shift`` (k,) (see
      :func:`center_shift`; ``None``: no loosening), then assigns every row to
      ``C``, remembers the labels as the next warm start and returns labels
      (n,), squared distances (n,) and the number of exact DTW computations;
    - ``relabel(labels)`` replaces the remembered labels (after re-seeding);
    - ``rows[i]`` is row ``i`` (t, d);
    - ``dba_pass(C, active)`` runs one DBA pass on the remembered labels and
      returns the new centers (k, t, d) and per-cluster costs (k,).

    Parameters
    ----------
    X : ndarray of shape (n, n_steps, n_variables)
        Deduplicated rows, already multiplied by ``sqrt(weights)``.
    w : ndarray of shape (n,)
        Row weights.
    r : int
        Sakoe-Chiba radius.
    """

    def __init__(self, X, w, r):
        self.X, self.w, self.r = X, w, r
        self.XP = paa(X, *segments(X.shape[1]))
        self.bounds = chunk_bounds(X.shape[0])
        self.lb = self.labels = None

    def start(self, k):
        self.lb = None  # free the previous run's bounds before allocating
        self.lb = np.zeros((self.X.shape[0], k))
        self.labels = None

    def assign(self, C, shift=None):
        if shift is not None:
            _decay_bounds(self.lb, shift)
        labels, d2, n_dtw = assign(self.X, C, self.r, self.labels, self.lb, self.XP)
        self.labels = labels
        return labels, d2, n_dtw

    def relabel(self, labels):
        self.labels = labels

    def __getitem__(self, i):
        return self.X[i]

    def dba_pass(self, C, active):
        sums = _dba_accumulate(self.X, self.w, self.labels, C, self.r, self.bounds, active)
        return _dba_finish(C, *sums)

    def close(self):
        """Nothing to release in-process."""


def lloyd(X, w, C, r, max_iter, tol, barycenter_iter, callback=None):
    """:func:`lloyd_rows` on rows ``X`` (n, t, d) with weights ``w`` held in this process."""
    return lloyd_rows(LocalRows(X, w, r), w, C, r, max_iter, tol, barycenter_iter, callback)


def lloyd_rows(rows, w, C, r, max_iter, tol, barycenter_iter, callback=None):
    """Alternate exact DTW assignment and banded DBA updates (tslearn order).

    Each iteration assigns rows to the current centers (its weighted mean
    squared distance is the iteration's inertia), re-seeds empty clusters,
    then updates centers with :func:`dba_rounds`.  Stops after ``max_iter``
    iterations or when the inertia changes by less than ``tol`` times itself; a final
    assignment to the final centers gives the returned labels and inertia.
    Lower bounds (n, k) on DTW to every center are carried between
    iterations (Elkan-style) and loosened by :func:`center_shift`.

    ``rows`` holds the data (:class:`LocalRows` or a partitioned equivalent);
    everything else -- re-seeding, inertia, the stopping rule, which clusters
    DBA skips -- happens here, so every kind of rows gives the same run.
    """
    C = C.copy()
    k, w_sum = C.shape[0], w.sum()
    rows.start(k)
    fixed = np.zeros(k, dtype=bool)
    labels, shift, old, n_dtw, n_reseeded, it = None, None, np.inf, 0, 0, 0
    for it in range(1, max_iter + 1):
        prev_labels = labels
        labels, d2, cnt = rows.assign(C, shift)
        n_dtw += cnt
        C_assigned = C.copy()
        reseeded = reseed_empty(rows, C, labels, d2)
        if reseeded:
            rows.relabel(labels)
        n_reseeded += reseeded
        inertia = float((w * d2).sum() / w_sum)
        if callback is not None:
            callback(it, inertia)
        skip = fixed & ~_changed_clusters(prev_labels, labels, k)
        wk = np.bincount(labels, weights=w, minlength=k)
        C, fixed = dba_rounds(rows.dba_pass, wk, C, barycenter_iter, skip)
        shift = center_shift(C_assigned, C, r)
        if np.isfinite(old) and abs(old - inertia) <= tol * old:  # relative, as in sklearn
            break
        old = inertia
    labels, d2, cnt = rows.assign(C, shift)
    inertia = float((w * d2).sum() / w_sum)
    return LloydResult(C, labels, d2, inertia, it, n_dtw + cnt, n_reseeded)


def _changed_clusters(prev_labels, labels, k):
    """Clusters (k,) that gained or lost a member since the previous labels."""
    if prev_labels is None:
        return np.ones(k, dtype=bool)
    moved = prev_labels != labels
    changed = np.zeros(k, dtype=bool)
    changed[prev_labels[moved]] = True
    changed[labels[moved]] = True
    return changed


class IterationPrinter:
    """Callback printing per-iteration inertia and elapsed time."""

    def __init__(self, inner=None):
        self.inner = inner
        self.t0 = time.perf_counter()

    def __call__(self, iteration, inertia):
        elapsed = time.perf_counter() - self.t0
        print(f"[DTWKMeans] iter {iteration:3d}  inertia {inertia:.6g}  {elapsed:.2f}s")
        if self.inner is not None:
            self.inner(iteration, inertia)
