"""Public DTW distances and the input validation shared by the estimator."""

from contextlib import contextmanager

import numba
import numpy as np

from pipeline.cluster._kernels import _cdist_sq, _dtw_sq


def check_series_set(X, name="X"):
    """Validate a set of series and return it as C-contiguous float64.

    Parameters
    ----------
    X : array-like of shape (n_locations, n_steps, n_variables) or (n_locations, n_steps)
        Series to validate; 2-D input is read as univariate.
    name : str
        Name used in error messages.

    Returns
    -------
    X : ndarray of shape (n_locations, n_steps, n_variables), float64
    """
    X = np.asarray(X)
    if X.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3:
        raise ValueError(
            f"{name} must have shape (n_locations, n_steps, n_variables), got {X.shape}"
        )
    if min(X.shape) == 0:
        raise ValueError(f"{name} must be non-empty, got shape {X.shape}")
    X = np.ascontiguousarray(X, dtype=np.float64)
    bad = ~np.isfinite(X).reshape(X.shape[0], -1).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} of {X.shape[0]} rows containing NaN or "
            "infinite values; DTW clustering needs complete series (impute or drop them)"
        )
    return X


def check_series(x, name="x"):
    """Validate one series; returns float64 of shape (n_steps, n_variables)."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n_steps, n_variables), got {x.shape}")
    return check_series_set(x[None], name)[0]


def window_radius(window, n1, n2):
    """Sakoe-Chiba radius used by the kernels (``None`` -> unconstrained)."""
    if window is None:
        return max(n1, n2)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise ValueError(f"window must be a non-negative int or None, got {window!r}")
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    return int(min(window, max(n1, n2)))


def n_threads(n_jobs):
    """Numba thread count for ``n_jobs`` (None or -1 -> all cores)."""
    n_max = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return n_max
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 is not meaningful; use None or -1 for all cores")
    if n_jobs < 0:
        return max(1, n_max + 1 + int(n_jobs))
    return int(min(n_jobs, n_max))


@contextmanager
def numba_threads(n_jobs):
    """Temporarily set the numba thread count from ``n_jobs``."""
    old = numba.get_num_threads()
    numba.set_num_threads(n_threads(n_jobs))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def dtw(x, y, window=None):
    """Multivariate DTW, equal to ``tslearn.metrics.dtw`` with a Sakoe-Chiba band.

    Parameters
    ----------
    x : array-like of shape (n_steps_x, n_variables) or (n_steps_x,)
    y : array-like of shape (n_steps_y, n_variables) or (n_steps_y,)
    window : int or None
        Sakoe-Chiba radius in steps (``None``: unconstrained).

    Returns
    -------
    float
        Square root of the summed squared differences along the best path.
    """
    x, y = check_series(x, "x"), check_series(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y have {x.shape[1]} and {y.shape[1]} variables")
    r = window_radius(window, len(x), len(y))
    prev, curr = np.empty(len(y)), np.empty(len(y))
    return float(np.sqrt(_dtw_sq(x, y, r, np.inf, prev, curr)))


def cdist_dtw(A, B=None, window=None, n_jobs=None):
    """DTW between every pair of series of ``A`` and ``B``.

    Parameters
    ----------
    A : array-like of shape (n_a, n_steps_a, n_variables)
    B : array-like of shape (n_b, n_steps_b, n_variables) or None
        ``None`` means ``B = A``.
    window : int or None
        Sakoe-Chiba radius in steps (``None``: unconstrained).
    n_jobs : int or None
        Threads (``None`` or -1: all cores).

    Returns
    -------
    ndarray of shape (n_a, n_b)
    """
    A = check_series_set(A, "A")
    B = A if B is None else check_series_set(B, "B")
    if A.shape[2] != B.shape[2]:
        raise ValueError(f"A and B have {A.shape[2]} and {B.shape[2]} variables")
    r = window_radius(window, A.shape[1], B.shape[1])
    with numba_threads(n_jobs):
        return np.sqrt(_cdist_sq(A, B, r))
