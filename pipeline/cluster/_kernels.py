"""Private numba kernels for DTW, lower bounds, pruned assignment and DBA.

Every kernel takes plain float64 arrays that the public layer has already
validated (C-contiguous, finite, shapes ``(n, n_steps, n_variables)``) and an
integer Sakoe-Chiba radius ``r`` (``r >= max(len)`` means unconstrained).
All distances handled here are *squared* DTW costs: the sum over the warping
path of the squared Euclidean distance between the aligned vectors.
"""

import numpy as np
from numba import njit, prange

_INF = np.inf


@njit(cache=True, inline="always")
def _band(i, n1, n2, r):
    """Columns ``[lo, hi]`` of row ``i`` inside tslearn's Sakoe-Chiba mask."""
    d = n2 - n1
    lo = i - r - max(0, -d)
    hi = i + r + max(0, d)
    return max(0, lo), min(n2 - 1, hi)


@njit(cache=True, inline="always")
def _sqdist(x, i, y, j):
    """Squared Euclidean distance between ``x[i]`` and ``y[j]`` (n_variables,)."""
    s = 0.0
    for v in range(x.shape[1]):
        diff = x[i, v] - y[j, v]
        s += diff * diff
    return s


@njit(cache=True)
def _dtw_sq(x, y, r, bsf, prev, curr):
    """Banded squared DTW between ``x`` (n1, d) and ``y`` (n2, d).

    Abandons early (returns ``inf``) once a whole DP row exceeds ``bsf``.
    ``prev`` and ``curr`` are scratch rows of length >= n2.
    """
    n1, n2 = x.shape[0], y.shape[0]
    plo, phi = 0, -1
    for i in range(n1):
        lo, hi = _band(i, n1, n2, r)
        rowmin = _INF
        for j in range(lo, hi + 1):
            if i == 0 and j == 0:
                best = 0.0
            else:
                best = _INF
                if plo <= j - 1 <= phi:
                    best = prev[j - 1]
                if plo <= j <= phi and prev[j] < best:
                    best = prev[j]
                if j - 1 >= lo and curr[j - 1] < best:
                    best = curr[j - 1]
            val = _sqdist(x, i, y, j) + best
            curr[j] = val
            if val < rowmin:
                rowmin = val
        if rowmin > bsf:
            return _INF
        prev, curr = curr, prev
        plo, phi = lo, hi
    return prev[n2 - 1]


@njit(cache=True, parallel=True)
def _cdist_sq(A, B, r):
    """Squared DTW between every row of ``A`` (n, t1, d) and ``B`` (m, t2, d)."""
    n, m = A.shape[0], B.shape[0]
    out = np.empty((n, m))
    for i in prange(n):
        prev = np.empty(B.shape[1])
        curr = np.empty(B.shape[1])
        for j in range(m):
            out[i, j] = _dtw_sq(A[i], B[j], r, _INF, prev, curr)
    return out


@njit(cache=True)
def _envelope(C, r):
    """Upper/lower Sakoe-Chiba envelopes of ``C`` (k, t, d), each (k, t, d).

    Serial: a few centers take microseconds, less than waking the threads
    of a parallel region on a busy machine.
    """
    k, t, d = C.shape
    U = np.empty_like(C)
    L = np.empty_like(C)
    for c in range(k):
        for i in range(t):
            lo, hi = _band(i, t, t, r)
            for v in range(d):
                u = C[c, lo, v]
                lw = u
                for j in range(lo + 1, hi + 1):
                    u = max(u, C[c, j, v])
                    lw = min(lw, C[c, j, v])
                U[c, i, v] = u
                L[c, i, v] = lw
    return U, L


@njit(cache=True)
def _lb_kim(x, c):
    """First/last-cell lower bound: both corner cells lie on every path."""
    n = x.shape[0]
    lb = _sqdist(x, 0, c, 0)
    if n > 1:
        lb += _sqdist(x, n - 1, c, n - 1)
    return lb


@njit(cache=True)
def _lb_keogh(x, U, L, start, bsf):
    """LB_Keogh over rows ``1..n-2`` added to ``start``; abandons above ``bsf``."""
    lb = start
    for i in range(1, x.shape[0] - 1):
        for v in range(x.shape[1]):
            xv = x[i, v]
            # branch-free (L <= U: at most one term is non-zero); the same
            # value as the if/elif form, without its unpredictable branches
            diff = max(xv - U[i, v], 0.0) + max(L[i, v] - xv, 0.0)
            lb += diff * diff
        if lb > bsf:
            return lb
    return lb


@njit(cache=True)
def _lb_paa(xp, Up, Lp, seg_len, bsf):
    """Segment-mean LB_Keogh (LB_PAA): ``xp``, ``Up``, ``Lp`` are (n_seg, d).

    ``Up``/``Lp`` are the max/min of the envelope over each segment; by
    convexity ``seg_len * dist(mean, box)^2`` bounds the segment's LB_Keogh.
    """
    lb = 0.0
    for s in range(xp.shape[0]):
        acc = 0.0
        for v in range(xp.shape[1]):
            xv = xp[s, v]
            diff = max(xv - Up[s, v], 0.0) + max(Lp[s, v] - xv, 0.0)  # as in _lb_keogh
            acc += diff * diff
        lb += seg_len[s] * acc
        if lb > bsf:
            return lb
    return lb


@njit(cache=True)
def _nearest(x, C, U, L, r, first, lb, prev, curr, xp, Up, Lp, seg_len):
    """Exact nearest center of ``x`` (t, d) among ``C`` (k, t, d).

    ``lb`` (k,) holds lower bounds on the (unsquared) DTW to each center; it
    is used to skip centers and is tightened in place.  The first candidate
    is ``first`` (previous label) or, if negative, the center with the lowest
    LB_PAA (a close first candidate makes the early abandoning effective).
    Remaining centers are pruned by LB_Kim, LB_PAA (segment means ``xp``,
    segment envelopes ``Up``/``Lp``), LB_Keogh (envelopes ``U``, ``L``) and
    early-abandoned DTW.  Returns ``(label, squared distance,
    n_dtw)``; ties go to the lowest index, as with a brute-force ``argmin``.
    """
    k = C.shape[0]
    if first < 0:
        first = 0
        best_paa = _INF
        for j in range(k):
            low = _lb_paa(xp, Up[j], Lp[j], seg_len, _INF)
            if low < best_paa:
                best_paa, first = low, j
    bsf = _dtw_sq(x, C[first], r, _INF, prev, curr)
    root = np.sqrt(bsf)
    lb[first] = root
    best_j, n_dtw = first, 1
    for j in range(k):
        if j == first or lb[j] > root:
            continue
        kim = _lb_kim(x, C[j])
        low = kim
        if low <= bsf:
            low = max(low, _lb_paa(xp, Up[j], Lp[j], seg_len, bsf))
        if low <= bsf:
            low = _lb_keogh(x, U[j], L[j], kim, bsf)
        if low > bsf:
            lb[j] = max(lb[j], np.sqrt(low))
            continue
        d = _dtw_sq(x, C[j], r, bsf, prev, curr)
        n_dtw += 1
        if d == _INF:  # abandoned: DTW^2 exceeds bsf
            lb[j] = max(lb[j], root)
            continue
        lb[j] = np.sqrt(d)
        if d < bsf or (d == bsf and j < best_j):
            bsf, best_j = d, j
            root = np.sqrt(bsf)
    return best_j, bsf, n_dtw


@njit(cache=True, parallel=True)
def _assign(X, C, U, L, r, first, lb, XP, UP, LP, seg_len):
    """Pruned exact assignment of every row of ``X`` (n, t, d) to ``C``.

    ``first`` (n,) are previous labels (-1: none); ``lb`` (n, k) lower
    bounds on DTW(X[i], C[j]), updated in place.  ``XP`` (n, n_seg, d) are
    segment means of ``X``; ``UP``/``LP`` (k, n_seg, d) segment envelopes.
    Returns labels (n,), squared distances (n,) and exact-DTW counts (n,).
    """
    n = X.shape[0]
    labels = np.empty(n, dtype=np.int64)
    dist = np.empty(n)
    n_dtw = np.empty(n, dtype=np.int64)
    for i in prange(n):
        prev = np.empty(C.shape[1])
        curr = np.empty(C.shape[1])
        lab, d, cnt = _nearest(
            X[i], C, U, L, r, first[i], lb[i], prev, curr, XP[i], UP, LP, seg_len
        )
        labels[i] = lab
        dist[i] = d
        n_dtw[i] = cnt
    return labels, dist, n_dtw


@njit(cache=True, parallel=True)
def _nearest_allowed(X, C, U, L, allowed, r):
    """For every row of ``X`` (n, t, d): the index of the nearest center of ``C`` (k, t, d)
    among those ``allowed`` (n, k) bool, or among all when none is.

    Exactly ``argmin`` of ``np.where(allowed, sqrt(DTW^2), inf)`` (of ``sqrt(DTW^2)`` where
    none is allowed): the same squared DTW as ``_cdist_sq``, compared after the square root,
    ties to the lowest index. Centers whose LB_Kim + LB_Keogh (envelopes ``U``, ``L``) exceed
    the best so far by more than a relative 1e-12 are skipped, and DTW abandons above that
    margin: both then have a larger square root, so neither could win or tie. The nearest
    lower bound is tried first. (A squared DTW that overflows to inf, for values near 1e154,
    turns the pruning off for that row: every candidate is then computed in full.)
    """
    n, k = X.shape[0], C.shape[0]
    out = np.empty(n, dtype=np.int64)
    for i in prange(n):
        x = X[i]
        prev = np.empty(C.shape[1])
        curr = np.empty(C.shape[1])
        first, n_allowed = 0, 0
        for j in range(k):
            if allowed[i, j]:
                if n_allowed == 0:
                    first = j
                n_allowed += 1
        every = n_allowed == 0  # no center allowed: all are candidates
        if every or n_allowed > 1:
            lbs = np.empty(k)
            best_lb = _INF
            for j in range(k):
                if every or allowed[i, j]:
                    lbs[j] = _lb_keogh(x, U[j], L[j], _lb_kim(x, C[j]), _INF)
                    if lbs[j] < best_lb:
                        first, best_lb = j, lbs[j]
            bsf = _dtw_sq(x, C[first], r, _INF, prev, curr)
            root, margin, best = np.sqrt(bsf), bsf * (1.0 + 1e-12), first
            for j in range(k):
                if j == first or not (every or allowed[i, j]) or lbs[j] > margin:
                    continue
                d = _dtw_sq(x, C[j], r, margin, prev, curr)
                if d == _INF and margin < _INF:  # abandoned (or beyond the margin anyway)
                    continue
                root_j = np.sqrt(d)
                if root_j < root or (root_j == root and j < best):
                    bsf, root, best = d, root_j, j
                    margin = bsf * (1.0 + 1e-12)
            first = best
        out[i] = first
    return out


@njit(cache=True)
def _path_shift(D2, r):
    """Largest sum of ``D2[c, j]`` along any banded warping path, per center.

    ``D2`` (k, t) holds the squared moves ``||c'_j - c_j||^2`` of every
    center step.  Max-plus DP over tslearn's Sakoe-Chiba band of a (t, t)
    alignment; returns shape (k,).
    """
    k, t = D2.shape
    out = np.empty(k)
    M = np.empty((t + 1, t + 1))
    for c in range(k):
        M[:, :] = -_INF
        M[0, 0] = 0.0
        for i in range(t):
            lo, hi = _band(i, t, t, r)
            for j in range(lo, hi + 1):
                M[i + 1, j + 1] = D2[c, j] + max(M[i, j], M[i, j + 1], M[i + 1, j])
        out[c] = M[t, t]
    return out


@njit(cache=True, parallel=True)
def _decay_bounds(lb, shift):
    """``lb[i, j] = max(0, lb[i, j] - shift[j])`` in place, shapes (n, k), (k,)."""
    for i in prange(lb.shape[0]):
        for j in range(lb.shape[1]):
            lb[i, j] = max(0.0, lb[i, j] - shift[j])


@njit(cache=True, parallel=True)
def _min_update(X, XP, cand, U, L, UP, LP, seg_len, r, closest):
    """``min(closest[i], dtw_sq(X[i], X[cand[c]]))`` for every candidate row ``c``.

    ``cand`` (m,) are row indices of ``X`` (n, t, d) whose envelopes are
    ``U``/``L`` (m, t, d) and segment envelopes ``UP``/``LP`` (m, n_seg, d);
    ``XP`` (n, n_seg, d) are the segment means of ``X``.  Each pair is pruned
    by LB_Kim, LB_PAA and LB_Keogh against ``closest[i]`` and otherwise gets
    an early-abandoned DTW.  All candidates share one parallel region.
    Returns shape (m, n).
    """
    n, m = X.shape[0], cand.shape[0]
    out = np.empty((m, n))
    for i in prange(n):
        prev = np.empty(X.shape[1])
        curr = np.empty(X.shape[1])
        x = X[i]
        for c in range(m):
            bsf = closest[i]
            y = X[cand[c]]
            kim = _lb_kim(x, y)
            low = kim
            if low <= bsf:
                low = max(low, _lb_paa(XP[i], UP[c], LP[c], seg_len, bsf))
            if low <= bsf:
                low = _lb_keogh(x, U[c], L[c], kim, bsf)
            if low > bsf:
                out[c, i] = bsf
            else:
                out[c, i] = min(bsf, _dtw_sq(x, y, r, bsf, prev, curr))
    return out


@njit(cache=True)
def _fill_acc(x, c, r, acc):
    """Banded accumulated cost of ``x`` vs ``c`` into ``acc`` (n1 + 1, n2 + 1).

    ``acc`` must start as ``inf`` with ``acc[0, 0] = 0``; only in-band cells
    are written, so the padding and out-of-band cells stay ``inf``.
    """
    n1, n2 = x.shape[0], c.shape[0]
    for i in range(n1):
        lo, hi = _band(i, n1, n2, r)
        for j in range(lo, hi + 1):
            best = min(acc[i, j], acc[i, j + 1], acc[i + 1, j])
            acc[i + 1, j + 1] = _sqdist(x, i, c, j) + best


@njit(cache=True)
def _add_path(x, w, acc, sums, cnt):
    """Backtrack padded ``acc`` adding ``w * x[i]`` to ``sums[j]``, ``w`` to ``cnt[j]``.

    Step preference on ties is tslearn's: diagonal, then up, then left.
    """
    i, j = acc.shape[0] - 2, acc.shape[1] - 2
    while True:
        for v in range(x.shape[1]):
            sums[j, v] += w * x[i, v]
        cnt[j] += w
        if i == 0 and j == 0:
            return
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            a, b, c = acc[i, j], acc[i, j + 1], acc[i + 1, j]
            if a <= b and a <= c:
                i -= 1
                j -= 1
            elif b <= c:
                i -= 1
            else:
                j -= 1


@njit(cache=True, parallel=True)
def _dba_accumulate(X, w, labels, C, r, bounds, active):
    """Per-chunk partial sums of one banded DBA pass (Petitjean).

    Each row of ``X`` (n, t, d) with weight ``w`` (n,) whose cluster is
    ``active`` (k,) is aligned to its center ``C[labels[i]]`` (k, t, d).
    Rows ``bounds[ch]:bounds[ch + 1]`` form chunk ``ch`` (``bounds`` has
    shape (n_chunks + 1,)); each chunk is summed sequentially in row order, so
    a chunk's partial sums do not depend on the thread count nor on which
    process computed them.
    Returns, per chunk, the weighted sums of the aligned values
    (n_chunks, k, t, d), the weighted counts of aligned points
    (n_chunks, k, t) and each cluster's weighted summed squared DTW cost
    to its old center (n_chunks, k).  :func:`_dba_finish` merges them.
    """
    n_chunks = bounds.shape[0] - 1
    k, t, d = C.shape
    sums = np.zeros((n_chunks, k, t, d))
    cnts = np.zeros((n_chunks, k, t))
    costs = np.zeros((n_chunks, k))
    for ch in prange(n_chunks):
        acc = np.full((X.shape[1] + 1, t + 1), _INF)
        acc[0, 0] = 0.0
        for i in range(bounds[ch], bounds[ch + 1]):
            lab = labels[i]
            if not active[lab]:
                continue
            _fill_acc(X[i], C[lab], r, acc)
            costs[ch, lab] += w[i] * acc[-1, -1]
            _add_path(X[i], w[i], acc, sums[ch, lab], cnts[ch, lab])
    return sums, cnts, costs


@njit(cache=True)
def _dba_finish(C, sums, cnts, costs):
    """Merge per-chunk DBA partial sums in chunk order into new centers.

    ``sums`` (n_chunks, k, t, d), ``cnts`` (n_chunks, k, t) and ``costs``
    (n_chunks, k) come from :func:`_dba_accumulate`, possibly from several
    processes, concatenated in chunk order.  Returns the new centers
    (k, t, d; centers without aligned points copied from ``C``) and the
    per-cluster costs (k,).
    """
    k, t, d = C.shape
    tot = sums.sum(axis=0)
    cnt = cnts.sum(axis=0)
    out = C.copy()
    for c in range(k):
        for j in range(t):
            if cnt[c, j] > 0:
                for v in range(d):
                    out[c, j, v] = tot[c, j, v] / cnt[c, j]
    return out, costs.sum(axis=0)
