"""DTW k-means estimator with DBA barycenters (same objective as tslearn)."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from pipeline.cluster._kernels import _cdist_sq
from pipeline.cluster._lloyd import (
    IterationPrinter,
    LocalRows,
    assign,
    dedup_rows,
    kmeans_plusplus,
    lloyd_rows,
)
from pipeline.cluster.metrics import check_series_set, numba_threads, window_radius


class DTWKMeans(ClusterMixin, BaseEstimator):
    """K-means under DTW with banded DBA barycenters.

    Same objective and iteration order as
    ``tslearn.clustering.TimeSeriesKMeans(metric="dtw")`` with a Sakoe-Chiba
    constraint, but the assignment is pruned (LB_Kim, LB_Keogh, early
    abandoning, previous center first), DBA only fills the band, exact
    duplicate rows are clustered once with their count as weight, and all
    kernels run in parallel with numba.

    Parameters
    ----------
    n_clusters : int, default=8
    window : int or None, default=None
        Sakoe-Chiba radius in steps (``None``: unconstrained DTW).
    max_iter : int, default=50
        Maximum number of k-means iterations.
    tol : float, default=1e-3
        Stop when the inertia improves by less than ``tol`` times itself between iterations
        (relative, as scikit-learn scales its tolerance; tslearn's ``tol`` is absolute).
        At national scale the inertia still creeps down by ~0.1 % an iteration long after
        the slots have settled, so an absolute 1e-6 would run every iteration to ``max_iter``.
    n_init : int, default=1
        Number of k-means++ restarts; the lowest inertia wins.
    init : {"k-means++", "random"} or ndarray of shape (n_clusters, n_steps, n_variables)
        Initial centers, in the input's units.  k-means++ runs on a random
        subsample of ``max(10_000, 20 * n_clusters)`` unique rows at most.
    barycenter_iter : int, default=5
        Maximum DBA passes per cluster and k-means iteration.  A cluster's
        passes stop early when its mean squared cost changes by < 1e-5
        (tslearn's DBA rule) or its center stops moving; a cluster whose
        center is a DBA fixed point and whose members did not change is not
        recomputed (that would reproduce the same center exactly).
    weights : array-like of shape (n_variables,) or None
        Positive per-variable weights on the squared differences.
    random_state : int, RandomState or None
    n_jobs : int or None
        Threads (``None`` or -1: all cores).
    verbose : int, default=0
        If > 0, print inertia and elapsed time every iteration.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_steps, n_variables)
    labels_ : ndarray of shape (n_locations,)
    inertia_ : float
        Weighted mean over series of the squared DTW distance to the closest
        final center (tslearn's definition, evaluated after the last update).
    n_iter_ : int
    n_unique_ : int
        Number of distinct rows actually clustered.
    n_dtw_ : int
        Exact DTW computations in the assignment steps (pruning diagnostic).
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        window=None,
        max_iter=50,
        tol=1e-3,
        n_init=1,
        init="k-means++",
        barycenter_iter=5,
        weights=None,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.window = window
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init = init
        self.barycenter_iter = barycenter_iter
        self.weights = weights
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, X, y=None, sample_weight=None, callback=None):
        """Cluster ``X``.

        Parameters
        ----------
        X : array-like of shape (n_locations, n_steps, n_variables)
        y : ignored
        sample_weight : array-like of shape (n_locations,) or None
            Non-negative weight of each series (duplicates add up).
        callback : callable or None
            Called as ``callback(iteration, inertia)`` after each assignment.

        Returns
        -------
        self : DTWKMeans
        """
        return self._fit(X, sample_weight, callback, LocalRows)

    def _fit(self, X, sample_weight, callback, make_rows):
        """:meth:`fit` with the rows held by ``make_rows(Xu, wu, r)``.

        ``make_rows`` gets the deduplicated, variable-weighted rows (n_unique,
        n_steps, n_variables), their weights (n_unique,) and the Sakoe-Chiba
        radius, and returns a rows object (:class:`~pipeline.cluster._lloyd.LocalRows`
        or a partitioned one, see :mod:`pipeline.cluster.partitioned`); it is
        built once, used by every restart and closed at the end.
        """
        self._check_params()
        X = check_series_set(X)
        scale = self._scale(X.shape[2])
        sw = self._check_sample_weight(sample_weight, X.shape[0])
        Xu, wu, inverse = dedup_rows(X, sw)
        if Xu.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_clusters={self.n_clusters} exceeds the {Xu.shape[0]} distinct series"
            )
        Xu *= scale
        r = window_radius(self.window, X.shape[1], X.shape[1])
        rs = check_random_state(self.random_state)
        cb = IterationPrinter(callback) if self.verbose > 0 else callback
        n_init = 1 if isinstance(self.init, np.ndarray) else self.n_init
        best = None
        with numba_threads(self.n_jobs):
            rows = make_rows(Xu, wu, r)
            try:
                for _ in range(n_init):
                    C0 = self._initial_centers(Xu, wu, r, rs, scale)
                    res = lloyd_rows(
                        rows, wu, C0, r, self.max_iter, self.tol, self.barycenter_iter, cb
                    )
                    if best is None or res.inertia < best.inertia:
                        best = res
            finally:
                rows.close()
        self.cluster_centers_ = best.centers / scale
        self.labels_ = best.labels[inverse]
        self.inertia_ = best.inertia
        self.n_iter_ = best.n_iter
        self.n_unique_ = Xu.shape[0]
        self.n_dtw_ = best.n_dtw
        self.n_reseeded_ = best.n_reseeded
        return self

    def fit_predict(self, X, y=None, sample_weight=None, callback=None):
        """Fit and return ``labels_``, shape (n_locations,)."""
        return self.fit(X, sample_weight=sample_weight, callback=callback).labels_

    def predict(self, X):
        """Index of the DTW-closest center for each series, shape (n_locations,)."""
        Xs = self._check_fitted_input(X)
        r = window_radius(self.window, Xs.shape[1], Xs.shape[1])
        with numba_threads(self.n_jobs):
            labels, _, _ = assign(Xs, self._scaled_centers(), r)
        return labels

    def transform(self, X):
        """DTW distance of each series to each center, shape (n_locations, n_clusters)."""
        Xs = self._check_fitted_input(X)
        r = window_radius(self.window, Xs.shape[1], Xs.shape[1])
        with numba_threads(self.n_jobs):
            return np.sqrt(_cdist_sq(Xs, self._scaled_centers(), r))

    # -- helpers -----------------------------------------------------------

    def _check_params(self):
        ints = [("n_clusters", 1), ("max_iter", 1), ("n_init", 1), ("barycenter_iter", 0)]
        for name, low in ints:
            val = getattr(self, name)
            if not isinstance(val, numbers.Integral) or val < low:
                raise ValueError(f"{name} must be an int >= {low}, got {val!r}")
        if not isinstance(self.tol, numbers.Real) or self.tol < 0:
            raise ValueError(f"tol must be a float >= 0, got {self.tol!r}")

    def _scale(self, n_variables):
        """``sqrt(weights)`` as shape (n_variables,), ones when unweighted."""
        if self.weights is None:
            return np.ones(n_variables)
        w = np.asarray(self.weights, dtype=np.float64)
        if w.shape != (n_variables,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError(
                f"weights must be {n_variables} positive finite numbers, got {self.weights!r}"
            )
        return np.sqrt(w)

    @staticmethod
    def _check_sample_weight(sample_weight, n):
        if sample_weight is None:
            return None
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.shape != (n,) or not np.all(np.isfinite(sw)) or np.any(sw < 0) or sw.sum() <= 0:
            raise ValueError("sample_weight must be n_locations finite non-negative numbers")
        return sw

    def _initial_centers(self, Xu, wu, r, rs, scale):
        """Initial centers (k, n_steps, n_variables) in the weighted units."""
        k = self.n_clusters
        if isinstance(self.init, np.ndarray):
            C = check_series_set(self.init, "init")
            if C.shape != (k,) + Xu.shape[1:]:
                raise ValueError(f"init has shape {C.shape}, expected {(k,) + Xu.shape[1:]}")
            return C * scale
        if self.init == "k-means++":
            return kmeans_plusplus(Xu, wu, k, r, rs)
        if self.init == "random":
            return Xu[rs.choice(Xu.shape[0], k, replace=False)].copy()
        raise ValueError(f"init must be 'k-means++', 'random' or an ndarray, got {self.init!r}")

    def _check_fitted_input(self, X):
        check_is_fitted(self, "cluster_centers_")
        X = check_series_set(X)
        if X.shape[1:] != self.cluster_centers_.shape[1:]:
            raise ValueError(
                f"X has (n_steps, n_variables) = {X.shape[1:]}, "
                f"fitted on {self.cluster_centers_.shape[1:]}"
            )
        return X * self._scale(X.shape[2])

    def _scaled_centers(self):
        scale = self._scale(self.cluster_centers_.shape[2])
        return np.ascontiguousarray(self.cluster_centers_ * scale)
