"""Tests for pipeline.cluster: exact DTW, pruned assignment, DTW k-means."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from pipeline.cluster import DTWKMeans, cdist_dtw, dtw
from pipeline.cluster._kernels import _cdist_sq, _decay_bounds
from pipeline.cluster._lloyd import assign, center_shift, kmeans_plusplus

tslearn_metrics = pytest.importorskip("tslearn.metrics")


def _shapes(n_per_class=50, n_steps=30, seed=0):
    """Four shape classes (sine, step, ramp, bump) with shifts and noise, 2 variables."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n_steps)
    protos = [
        np.sin(2 * np.pi * t),
        (t > 0.5) * 2.0 - 1,
        2 * t - 1,
        np.exp(-(((t - 0.5) / 0.1) ** 2)),
    ]
    X, y = [], []
    for c, p in enumerate(protos):
        for _ in range(n_per_class):
            shift = rng.integers(-2, 3)
            a = np.roll(p, shift) + 0.15 * rng.normal(size=n_steps)
            b = np.roll(p[::-1], shift) + 0.15 * rng.normal(size=n_steps)
            X.append(np.stack([a, b], axis=1))
            y.append(c)
    return np.array(X), np.array(y)


def _random_walks(n, n_steps, n_vars, seed):
    return np.random.default_rng(seed).normal(size=(n, n_steps, n_vars)).cumsum(axis=1)


def _score(X, centers, window):
    """Mean squared DTW to the closest center (the single scoring function)."""
    return float((cdist_dtw(X, centers, window=window).min(axis=1) ** 2).mean())


@pytest.mark.parametrize("window", [None, 0, 1, 3, 10])
@pytest.mark.parametrize("lengths", [(20, 20), (15, 22), (22, 15)])
def test_dtw_matches_tslearn(window, lengths):
    """dtw equals tslearn.metrics.dtw with the same Sakoe-Chiba radius to 1e-6."""
    rng = np.random.default_rng(sum(lengths))
    for _ in range(3):
        x, y = rng.normal(size=(lengths[0], 3)), rng.normal(size=(lengths[1], 3))
        ref = tslearn_metrics.dtw(
            x,
            y,
            global_constraint=None if window is None else "sakoe_chiba",
            sakoe_chiba_radius=window,
        )
        assert dtw(x, y, window=window) == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("window", [None, 2])
def test_cdist_dtw_matches_tslearn(window):
    """cdist_dtw equals tslearn.metrics.cdist_dtw entry by entry."""
    A, B = _random_walks(12, 25, 3, 1), _random_walks(7, 25, 3, 2)
    kw = (
        {} if window is None else {"global_constraint": "sakoe_chiba", "sakoe_chiba_radius": window}
    )
    np.testing.assert_allclose(
        cdist_dtw(A, B, window=window), tslearn_metrics.cdist_dtw(A, B, **kw), atol=1e-6
    )


def test_dtw_accepts_univariate_and_float32():
    """1-D series and float32 input are accepted and give the float64 result."""
    x = np.arange(10, dtype=np.float32)
    assert dtw(x, x[::-1], window=2) == pytest.approx(
        dtw(x.astype(float), x[::-1].astype(float), window=2)
    )


def test_pruned_assignment_matches_brute_force():
    """Pruned assignment, cold and warm-started with decayed bounds, equals full cdist argmin."""
    X = _random_walks(400, 30, 3, 3)
    C = X[:12] + 0.3
    D2 = cdist_dtw(X, C, window=3) ** 2
    labels, d2, n_dtw = assign(X, C, 3)
    np.testing.assert_array_equal(labels, D2.argmin(axis=1))
    np.testing.assert_allclose(d2, D2.min(axis=1), rtol=1e-12)
    assert n_dtw < X.shape[0] * C.shape[0]
    lb = np.zeros((X.shape[0], C.shape[0]))
    assign(X, C, 3, None, lb)
    C2 = C + 0.2 * np.random.default_rng(0).normal(size=C.shape)
    _decay_bounds(lb, center_shift(C, C2, 3))
    D2b = cdist_dtw(X, C2, window=3) ** 2
    assert np.all(lb <= np.sqrt(D2b) + 1e-9)
    labels2, d2b, _ = assign(X, C2, 3, labels, lb)
    np.testing.assert_array_equal(labels2, D2b.argmin(axis=1))
    np.testing.assert_allclose(d2b, D2b.min(axis=1), rtol=1e-12)


@pytest.mark.parametrize("window", [3, None])
def test_center_shift_is_valid_and_tighter_than_norm_bound(window):
    """DTW(x, c') >= DTW(x, c) - shift, and shift <= sqrt(2r + 1) * ||c' - c||_F."""
    X = _random_walks(300, 30, 3, 11)
    C = X[:8] + 0.3
    C2 = C + 0.3 * np.random.default_rng(12).normal(size=C.shape)
    r = 30 if window is None else window
    shift = center_shift(C, C2, r)
    D, D2 = cdist_dtw(X, C, window=window), cdist_dtw(X, C2, window=window)
    assert np.all(D2 >= D - shift[None, :] - 1e-12)
    norm = np.sqrt(min(2 * r + 1, 30)) * np.sqrt(((C2 - C) ** 2).sum(axis=(1, 2)))
    assert np.all(shift <= norm * (1 + 1e-9) + 1e-12)
    assert np.median(shift / norm) < 0.9  # the path DP is strictly tighter here


def test_kmeans_plusplus_equals_unpruned_reference():
    """Pruned, batched k-means++ picks exactly the centers of an unpruned implementation."""
    X = _random_walks(500, 24, 3, 13)
    w = np.random.default_rng(14).integers(1, 4, size=len(X)).astype(float)
    k, r = 7, 2
    got = kmeans_plusplus(X, w, k, r, np.random.RandomState(5), max_sample=300)

    rs = np.random.RandomState(5)  # the same draws, every distance computed in full
    idx = np.sort(rs.choice(len(X), 300, replace=False))
    Xs, ws = X[idx], w[idx]
    D = _cdist_sq(Xs, Xs, r)
    chosen = [int(rs.choice(300, p=ws / ws.sum()))]
    closest = D[:, chosen[0]].copy()
    for _ in range(1, k):
        pot = np.cumsum(ws * closest)
        cand = np.minimum(np.searchsorted(pot, rs.random_sample(2 + int(np.log(k))) * pot[-1]), 299)
        trials = [np.minimum(closest, D[:, c]) for c in cand]
        best = int(np.argmin([float((ws * t).sum()) for t in trials]))
        chosen.append(int(cand[best]))
        closest = trials[best]
    np.testing.assert_array_equal(got, Xs[chosen])


def test_predict_and_transform_agree():
    """predict is the argmin of transform, and fit_predict equals labels_."""
    X, _ = _shapes(20)
    km = DTWKMeans(4, window=3, random_state=0)
    labels = km.fit_predict(X)
    np.testing.assert_array_equal(labels, km.labels_)
    np.testing.assert_array_equal(km.predict(X), km.transform(X).argmin(axis=1))
    assert km.inertia_ == pytest.approx((km.transform(X).min(axis=1) ** 2).mean())


def test_inertia_close_to_tslearn_from_same_init():
    """From the same initial centers the inertia is at most 1.01 times tslearn's."""
    from tslearn.clustering import TimeSeriesKMeans

    X, _ = _shapes(50)
    w = 3
    init = X[np.random.default_rng(1).choice(len(X), 6, replace=False)].copy()
    ref = TimeSeriesKMeans(
        6,
        metric="dtw",
        metric_params={"global_constraint": "sakoe_chiba", "sakoe_chiba_radius": w},
        init=init.copy(),
        max_iter=10,
    ).fit(X)
    mine = DTWKMeans(6, window=w, init=init, max_iter=10, tol=1e-6).fit(X)
    assert _score(X, mine.cluster_centers_, w) <= 1.01 * _score(X, ref.cluster_centers_, w)


def test_trace_ari_matches_tslearn():
    """On UCR Trace (train, k=4, unconstrained) ARI >= 0.60 and >= tslearn's - 0.02, same init."""
    from tslearn.clustering import TimeSeriesKMeans
    from tslearn.datasets import CachedDatasets

    X, y, _, _ = CachedDatasets().load_dataset("Trace")
    r = X.shape[1]  # radius >= length: unconstrained
    init = kmeans_plusplus(X, np.ones(len(X)), 4, r, np.random.RandomState(0))
    ours = adjusted_rand_score(y, DTWKMeans(4, init=init).fit_predict(X))
    ref = adjusted_rand_score(y, TimeSeriesKMeans(4, metric="dtw", init=init.copy()).fit_predict(X))
    assert ours >= 0.60
    assert ours >= ref - 0.02


def test_fixed_seed_is_reproducible_across_thread_counts():
    """A fixed seed gives identical labels, centers and inertia, with 1 or all threads."""
    X = _random_walks(300, 24, 3, 4)
    a = DTWKMeans(5, window=2, random_state=7).fit(X)
    b = DTWKMeans(5, window=2, random_state=7, n_jobs=1).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.inertia_ == b.inertia_


def test_empty_cluster_is_reseeded():
    """A center that attracts no series is re-seeded instead of raising."""
    X, _ = _shapes(15)
    init = np.concatenate([X[[0, 20, 40]], np.full((1,) + X.shape[1:], 1e3)])
    km = DTWKMeans(4, window=3, init=init, max_iter=5).fit(X)
    assert km.n_reseeded_ >= 1
    assert np.all(np.abs(km.cluster_centers_) < 10)
    assert len(np.unique(km.labels_)) == 4


def test_duplicates_equal_weighted_unique_rows():
    """Clustering with duplicated rows equals clustering the unique rows weighted by counts."""
    U = _random_walks(80, 20, 2, 5)
    counts = np.random.default_rng(6).integers(1, 5, size=len(U))
    X = np.repeat(U, counts, axis=0)
    a = DTWKMeans(4, window=2, random_state=3).fit(X)
    b = DTWKMeans(4, window=2, random_state=3).fit(U, sample_weight=counts)
    assert a.n_unique_ == len(U)
    np.testing.assert_array_equal(a.labels_, np.repeat(b.labels_, counts))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_)
    assert a.inertia_ == pytest.approx(b.inertia_)


def test_variable_weights_equal_prescaled_input():
    """Per-variable weights act like scaling each variable by sqrt(weight)."""
    X = _random_walks(120, 20, 2, 8)
    wts = np.array([4.0, 0.25])
    a = DTWKMeans(3, window=2, weights=wts, random_state=0).fit(X)
    b = DTWKMeans(3, window=2, random_state=0).fit(X * np.sqrt(wts))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_ * np.sqrt(wts), b.cluster_centers_)


def test_nan_input_raises_clear_error():
    """NaN rows are rejected with a ValueError that counts them."""
    X = _random_walks(10, 12, 2, 9)
    X[[1, 4], 3, 0] = np.nan
    with pytest.raises(ValueError, match="2 of 10 rows"):
        DTWKMeans(2).fit(X)


def test_callback_and_verbose_report_each_iteration(capsys):
    """callback(iteration, inertia) is called once per iteration and verbose prints it."""
    X, _ = _shapes(10)
    seen = []
    km = DTWKMeans(4, window=3, random_state=0, verbose=1, max_iter=4, tol=0.0)
    km.fit(X, callback=lambda it, inertia: seen.append((it, inertia)))
    assert [it for it, _ in seen] == [1, 2, 3, 4] == list(range(1, km.n_iter_ + 1))
    assert "inertia" in capsys.readouterr().out


def test_predict_requires_fit():
    """predict before fit raises sklearn's NotFittedError."""
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DTWKMeans(2).predict(np.zeros((3, 5, 1)))


@pytest.mark.slow
def test_national_scale_fit_is_fast():
    """41,084 x 48 x 5 series with k=60 fit in well under a minute on 2 cores."""
    import time

    rng = np.random.default_rng(0)
    base = rng.normal(size=(35_000, 48, 5)).cumsum(axis=1) / 7
    X = base[rng.integers(0, len(base), size=41_084)]
    t0 = time.perf_counter()
    km = DTWKMeans(60, window=3, random_state=0, max_iter=20).fit(X)
    assert time.perf_counter() - t0 < 60
    assert km.cluster_centers_.shape == (60, 48, 5)
