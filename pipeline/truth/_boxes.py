"""The numba kernel behind :func:`pipeline.truth.search.box_sums`, in a module of its own:
imported where box sums are needed, so reading or wording statements does not load numba."""

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
