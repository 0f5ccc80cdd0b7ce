"""The numba kernel behind :func:`pipeline.truth.search.box_sums`, in a module of its own:
imported where box sums are needed, so reading or wording statements does not load numba."""

from typing import Any

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def box_axis(a: np.ndarray, width: int) -> np.ndarray:  # pragma: no cover - compiled
    """Sums of ``a`` (pre, n, post) over ``width`` bins of its middle axis, from every even
    bin: ``out[:, p] = c[min(2p + width, n)] - c[2p]`` with ``c`` the running sum from 0.

    The running sum adds in the order ``np.cumsum`` does, so the result is bit for bit the
    prefix-sum difference numpy computes, without numpy's temporaries (4-5x faster on the
    planner's histograms).
    """
    pre, n, post = a.shape
    n_out = (n + 1) // 2
    out = np.empty((pre, n_out, post))
    if n == 0:
        return out
    c = np.empty((n + 1, post))
    for i0 in range(pre):
        c[0, :] = 0.0
        for j in range(post):  # as np.cumsum: the first sum is the first value (-0.0 stays)
            c[1, j] = a[i0, 0, j]
        for i in range(1, n):
            for j in range(post):
                c[i + 1, j] = c[i, j] + a[i0, i, j]
        for p in range(n_out):
            s = 2 * p
            e = min(s + width, n)
            for j in range(post):
                out[i0, p, j] = c[e, j] - c[s, j]
    return out


@njit(cache=True, nogil=True)
def _doubled(values: np.ndarray, width: int
             ) -> tuple[np.ndarray, np.int64, np.int64]:  # pragma: no cover
    """:func:`pipeline.truth.search._axis` in one pass: doubled bins from an even origin low
    enough for every box of ``width`` that touches them, the origin and the axis size."""
    n = values.shape[0]
    bins = np.empty(n, dtype=np.int64)
    lo, hi = np.int64(0), np.int64(0)
    for i in range(n):
        v = values[i]
        f = np.floor(v)
        b = np.int64(2.0 * f + (1.0 if v > f else 0.0))
        bins[i] = b
        if i == 0 or b < lo:
            lo = b
        if i == 0 or b > hi:
            hi = b
    origin = lo - (width - 1)
    origin -= origin % 2
    for i in range(n):
        bins[i] -= origin
    return bins, origin, hi - origin + 1


@njit(cache=True, nogil=True)
def best_box_kernel(high: np.ndarray, low: np.ndarray, onset: np.ndarray, with_onset: bool,
                    weight: np.ndarray, width: int, owidth: int, onset_lo: int,
                    onset_hi: int, onset_tol: int) -> tuple[Any, ...]:  # pragma: no cover
    """:func:`pipeline.truth.search.best_box` in one compiled call, with numpy's arithmetic
    in numpy's order (the histogram summed in row order, the box sums by :func:`box_axis`,
    the medians, the tie-break distances added left to right), so the box is bit for bit
    the same. Returns the best weight, the chosen start bins (even, relative to each
    axis' origin) and the origins."""
    n = high.shape[0]
    hb, h0, nh = _doubled(high, width)
    lb, l0, nl = _doubled(low, width)
    if with_onset:
        ob, o0, no = _doubled(onset, owidth)
    else:
        ob, o0, no = np.zeros(n, dtype=np.int64), np.int64(0), np.int64(1)
    hist = np.zeros(nh * nl * no)
    for i in range(n):
        hist[(hb[i] * nl + lb[i]) * no + ob[i]] += weight[i]
    nh2, nl2 = (nh + 1) // 2, (nl + 1) // 2
    sums = box_axis(hist.reshape(1, nh, nl * no), width)
    sums = box_axis(sums.reshape(nh2, nl, no), width)
    no2 = no
    if with_onset:
        sums = box_axis(sums.reshape(nh2 * nl2, no, 1), owidth)
        no2 = (no + 1) // 2
    flat = sums.reshape(nh2 * nl2 * no2)
    # the stated onset (box centre) stays within the windows' span, where any box can
    ok = np.ones(no2, dtype=np.bool_)
    if with_onset:
        any_ok = False
        for p in range(no2):
            stated = (p * 2 + o0) // 2 + onset_tol
            ok[p] = onset_lo <= stated <= onset_hi
            any_ok = any_ok or ok[p]
        if not any_ok:
            ok[:] = True
    best = -np.inf
    for q in range(flat.shape[0]):
        if ok[q % no2] and flat[q] > best:
            best = flat[q]
    # among equally good boxes, the one centred nearest the members' medians
    ch = np.median(hb) - (width - 1) / 2
    cl = np.median(lb) - (width - 1) / 2
    co = np.median(ob) - (owidth - 1) / 2 if with_onset else 0.0
    pick, nearest = -1, np.inf
    for q in range(flat.shape[0]):
        if ok[q % no2] and flat[q] >= best - 1e-9:
            d = abs(2 * (q // (nl2 * no2)) - ch) + abs(2 * (q // no2 % nl2) - cl)
            if with_onset:
                d = d + abs(2 * (q % no2) - co)
            if d < nearest:
                pick, nearest = q, d
    return (best, 2 * (pick // (nl2 * no2)), 2 * (pick // no2 % nl2), 2 * (pick % no2),
            h0, l0, o0)
