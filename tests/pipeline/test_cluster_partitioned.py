"""Tests for pipeline.cluster.partitioned: DTW k-means with rows split over Dask workers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from pipeline.cluster import DTWKMeans, cdist_dtw
from pipeline.cluster._kernels import _dba_accumulate
from pipeline.cluster._lloyd import DBA_CHUNKS, LocalRows, chunk_bounds
from pipeline.cluster.partitioned import (
    dba_centers,
    dba_partials,
    fit_partitioned,
    merge_dba_partials,
    split_rows,
)
from pipeline.cluster.rowblocks import (
    RowBlocks,
    cdist_partitioned,
    nearest_allowed,
    own_center_dtw,
)
from pipeline.planning import baselines as baselines_module
from pipeline.planning import plan as truthful_module
from pipeline.planning.plan import SlotPlan, plan_slots


def _forecasts(n: int = 3000, n_steps: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six weather-like regimes (3 variables) with shifts, noise and exact duplicates.

    Returns the series (n, n_steps, 3) and positive sample weights (n,).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps)
    diurnal = np.cos(2 * np.pi * (t - 15) / 24)
    regimes = []
    for base, amp, front in [
        (10, 5, 6),
        (20, 8, 12),
        (0, 3, 18),
        (25, 2, 4),
        (15, 6, 20),
        (5, 9, 10),
    ]:
        rain = np.exp(-(((t - front) / 3.0) ** 2))
        regimes.append(np.stack([base + amp * diurnal - 4 * rain, 3 + 6 * rain, rain], axis=1))
    protos = np.array(regimes)
    which = rng.integers(0, len(protos), size=n)
    shift = rng.integers(-2, 3, size=n)
    X = np.stack([np.roll(protos[c], s, axis=0) for c, s in zip(which, shift, strict=True)])
    X += rng.normal(size=X.shape) * np.array([1.0, 0.8, 0.1])
    X[n // 2 : n // 2 + n // 10] = X[: n // 10]  # exact duplicates, as ZIPs sharing a grid cell
    return X, rng.uniform(0.5, 2.0, size=n)


def _partials_by_partition(X, w, labels, C, r, active, n_partitions):
    """Each partition's DBA partial sums for the given labels, in partition order."""
    parts, lo = [], 0
    for part in split_rows(X, w, r, n_partitions):
        hi = lo + len(part.X)
        parts.append(dba_partials(replace(part, labels=labels[lo:hi]), C, active))
        lo = hi
    return parts


def _assert_same_fit(a: DTWKMeans, b: DTWKMeans) -> None:
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.inertia_ == b.inertia_
    assert (a.n_iter_, a.n_dtw_, a.n_reseeded_) == (b.n_iter_, b.n_dtw_, b.n_reseeded_)


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    """A local Dask cluster of 2 worker processes with 1 thread each."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("n_partitions", [None, 5])
def test_dask_fit_is_identical_to_single_process(dask_client, n_partitions):
    """On 2 Dask workers the fit gives exactly the single-process labels, centers and inertia."""
    X, sw = _forecasts()
    params = {"n_clusters": 8, "window": 2, "random_state": 0, "tol": 1e-4}
    ref = DTWKMeans(**params).fit(X, sample_weight=sw)
    got = fit_partitioned(
        DTWKMeans(**params), X, client=dask_client, n_partitions=n_partitions, sample_weight=sw
    )
    assert ref.n_iter_ > 3
    _assert_same_fit(ref, got)


@pytest.mark.slow
def test_dask_reseeds_empty_clusters_like_single_process(dask_client):
    """An empty cluster is re-seeded on the workers' rows exactly as in one process."""
    X, _ = _forecasts(400, seed=1)
    init = np.concatenate([X[[0, 1, 2]], np.full((1,) + X.shape[1:], 1e3)])
    params = {"n_clusters": 4, "window": 2, "init": init, "max_iter": 6}
    ref = DTWKMeans(**params).fit(X)
    got = fit_partitioned(DTWKMeans(**params), X, client=dask_client, n_partitions=3)
    assert ref.n_reseeded_ >= 1
    _assert_same_fit(ref, got)


@pytest.mark.parametrize("n_partitions", [1, 3, 16])
def test_sequential_partitions_are_identical_to_single_process(n_partitions):
    """Without a client, any number of partitions reproduces fit, restarts and weights included."""
    X, sw = _forecasts(600, seed=2)
    params = {"n_clusters": 5, "window": 3, "random_state": 1, "n_init": 2}
    ref = DTWKMeans(**params).fit(X, sample_weight=sw)
    got = fit_partitioned(DTWKMeans(**params), X, n_partitions=n_partitions, sample_weight=sw)
    _assert_same_fit(ref, got)


@pytest.mark.parametrize("n_partitions", [1, 2, 3, 7, 16])
def test_merged_partial_sums_equal_one_partition(n_partitions):
    """Per-partition DBA partial sums merged in order equal the whole-array sums bit for bit."""
    X, w = _forecasts(500, seed=3)
    rng = np.random.default_rng(4)
    C = X[rng.choice(len(X), 6, replace=False)].copy()
    labels = rng.integers(0, 6, size=len(X))
    active = np.array([True, True, False, True, True, True])
    whole = _dba_accumulate(X, w, labels, C, 2, chunk_bounds(len(X)), active)

    parts = split_rows(X, w, 2, n_partitions)
    assert len(parts) == n_partitions
    assert sum(len(p.chunks) - 1 for p in parts) == DBA_CHUNKS
    partials = _partials_by_partition(X, w, labels, C, 2, active, n_partitions)
    merged = merge_dba_partials(partials)
    for got, ref in zip(merged, whole, strict=True):
        np.testing.assert_array_equal(got, ref)

    rows = LocalRows(X, w, 2)
    rows.relabel(labels)
    for got, ref in zip(dba_centers(C, merged), rows.dba_pass(C, active), strict=True):
        np.testing.assert_array_equal(got, ref)


def test_merged_dba_step_matches_tslearn_paths():
    """The merged DBA step averages each member along tslearn's banded DTW path to its center."""
    tslearn_metrics = pytest.importorskip("tslearn.metrics")
    X, w = _forecasts(120, seed=5)
    rng = np.random.default_rng(6)
    C = X[rng.choice(len(X), 3, replace=False)] + 0.1
    labels = rng.integers(0, 3, size=len(X))
    r = 2
    partials = _partials_by_partition(X, w, labels, C, r, np.ones(3, dtype=bool), 2)
    centers, costs = dba_centers(C, merge_dba_partials(partials))

    sums, counts, cost_ref = np.zeros_like(C), np.zeros(C.shape[:2]), np.zeros(3)
    for x, wi, c in zip(X, w, labels, strict=True):
        path, dist = tslearn_metrics.dtw_path(
            x, C[c], global_constraint="sakoe_chiba", sakoe_chiba_radius=r
        )
        for i, j in path:
            sums[c, j] += wi * x[i]
            counts[c, j] += wi
        cost_ref[c] += wi * dist**2
    np.testing.assert_allclose(centers, sums / counts[:, :, None], rtol=1e-12)
    np.testing.assert_allclose(costs, cost_ref, rtol=1e-9)


@pytest.mark.parametrize("bad", [0, DBA_CHUNKS + 1, 2.0, True])
def test_bad_n_partitions_is_rejected(bad):
    """n_partitions outside 1..DBA_CHUNKS (or not an int) raises a ValueError naming the limit."""
    X, _ = _forecasts(50, seed=7)
    with pytest.raises(ValueError, match="n_partitions must be an int from 1 to 16"):
        fit_partitioned(DTWKMeans(2), X, n_partitions=bad)


def test_distances_without_a_client_are_cdist_dtw():
    """Without a client both distance helpers are the single-process cdist_dtw values."""
    X, _ = _forecasts(200, seed=8)
    C = X[[3, 50, 120]] + 0.2
    labels = np.random.default_rng(9).integers(0, 3, size=len(X))
    ref = cdist_dtw(X, C, window=2)
    np.testing.assert_array_equal(cdist_partitioned(X, C, window=2), ref)
    np.testing.assert_array_equal(
        own_center_dtw(X, C, labels, window=2), ref[np.arange(len(X)), labels]
    )


def _argmin_allowed(D: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """What the planner did before nearest_allowed: the whole distance matrix, then argmin."""
    return np.where(allowed.any(axis=1), np.where(allowed, D, np.inf).argmin(axis=1),
                    D.argmin(axis=1))


@pytest.mark.parametrize("window", [0, 2, None])
def test_nearest_allowed_is_the_argmin_of_the_whole_matrix(window):
    """Pruned nearest allowed center = argmin over cdist_dtw, ties to the lowest index: rows
    allowing none, one, some and every center; duplicate centers and centers equal to rows
    (exact ties, zero distances); a center barely moved (near-ties)."""
    X, _ = _forecasts(600, seed=12)
    rng = np.random.default_rng(13)
    C = np.concatenate([X[[5, 77, 300, 301]], X[[77]], X[[450]] + 1e-13, X[[450]],
                        X[rng.choice(len(X), 8)] + 0.05])
    allowed = rng.random((len(X), len(C))) < rng.choice([0.0, 0.1, 0.5, 1.0], (len(X), 1))
    allowed[[5, 77, 450]] = True
    ref = _argmin_allowed(cdist_dtw(X, C, window=window), allowed)
    np.testing.assert_array_equal(nearest_allowed(X, C, allowed, window=window), ref)
    X[::7] = X[0]  # duplicate rows
    ref = _argmin_allowed(cdist_dtw(X, C, window=window), allowed)
    np.testing.assert_array_equal(nearest_allowed(X, C, allowed, window=window, n_jobs=1), ref)
    with pytest.raises(ValueError, match="allowed is"):
        nearest_allowed(X, C, allowed[:, :3], window=window)


def test_nearest_allowed_when_squared_dtw_overflows():
    """Values near 1e200 square to inf: every distance is inf, and the lowest index wins."""
    X = np.array([[-1e200, 1e200, 1e200]]).reshape(1, 3, 1)
    C = np.array([[5e300] * 3, [-1e200, 0.0, 1e200]]).reshape(2, 3, 1)
    allowed = np.ones((1, 2), dtype=bool)
    ref = _argmin_allowed(cdist_dtw(X, C, window=1), allowed)
    np.testing.assert_array_equal(nearest_allowed(X, C, allowed, window=1), ref)


@pytest.mark.slow
@pytest.mark.parametrize("n_blocks", [None, 5])
def test_dask_distances_are_identical(dask_client, n_blocks):
    """Row blocks on 2 workers give exactly cdist_dtw, and each row's DTW to its own center."""
    X, _ = _forecasts(1500, seed=10)
    C = X[[0, 400, 800, 1200]] + 0.1
    labels = np.random.default_rng(11).integers(0, 4, size=len(X))
    ref = cdist_dtw(X, C, window=3)
    with RowBlocks(dask_client, X, n_blocks=n_blocks) as blocks:
        assert len(blocks.offsets) - 1 == (n_blocks or 2)
        np.testing.assert_array_equal(cdist_partitioned(blocks, C, window=3), ref)
        own = own_center_dtw(blocks, C, labels, window=3)
        allowed = np.random.default_rng(12).random((len(X), len(C))) < 0.4
        nearest = nearest_allowed(blocks, C, allowed, window=3)
        with pytest.raises(ValueError, match="allowed has"):
            nearest_allowed(blocks, C, allowed[:10], window=3)
    np.testing.assert_array_equal(own, ref[np.arange(len(X)), labels])
    np.testing.assert_array_equal(nearest, _argmin_allowed(ref, allowed))
    np.testing.assert_array_equal(own_center_dtw(X, C, labels, window=3), own)
    np.testing.assert_array_equal(cdist_partitioned(X, C, window=3, client=dask_client), ref)


@pytest.fixture(scope="module")
def plains():
    """Colorado, Kansas, Nebraska and Iowa on a January morning (about 3,000 ZIPs)."""
    from pipeline.features import build_series, scale_series, zip_facts
    from pipeline.geo import load_zips
    from pipeline.settings import Settings
    from pipeline.sources import fetch_forecast
    from pipeline.truth import FactArrays

    settings = Settings()
    zips = load_zips(["CO", "KS", "NE", "IA"])
    forecast = fetch_forecast("synthetic", zips, "2026-01-15T09:00Z", seed=0)
    series = build_series(forecast, zips, window="morning", settings=settings)
    X, _ = scale_series(series, settings.scales)
    facts = FactArrays.from_frame(zip_facts(series, settings.facts))
    weights = np.random.default_rng(12).integers(1, 40, size=len(zips)).astype(float)
    options = {"weights": weights, "rules": settings.truth, "max_slots": 20, "target": 0.95}
    return X, facts, zips["state"].to_numpy(), options


def _assert_same_plan(a: SlotPlan, b: SlotPlan) -> None:
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.fits, b.fits)
    assert a.statements == b.statements
    np.testing.assert_array_equal(a.centers, b.centers)
    np.testing.assert_array_equal(a.distances, b.distances)
    assert (a.truth, a.target, a.reached_target) == (b.truth, b.target, b.reached_target)
    assert (a.coverage_curve, a.chosen_from) == (b.coverage_curve, b.chosen_from)
    assert a.baseline_groupings.keys() == b.baseline_groupings.keys()
    for name, labels in a.baseline_groupings.items():
        np.testing.assert_array_equal(labels, b.baseline_groupings[name])


@pytest.mark.slow
def test_dask_plan_slots_is_identical_to_single_process(dask_client, plains, monkeypatch):
    """With a client, plan_slots gives exactly the single-process slots, barycenters and truth.

    The DTW baseline fit runs partitioned, the largest slot's barycenter too, the other slots'
    barycenters as worker tasks, and the distances in scattered row blocks.
    """
    X, facts, states, options = plains
    ref = plan_slots(X, facts, states, **options)
    sizes = np.bincount(ref.labels)
    assert len(sizes) >= 4 and sizes.min() < sizes.max()
    monkeypatch.setattr(truthful_module, "PARTITION_MIN_ROWS", int(sizes.max()))

    calls = {"baseline": 0, "barycenter": 0}

    def spy(where):
        def fit(model, X, **kw):
            calls[where] += 1
            assert kw["client"] is dask_client
            return fit_partitioned(model, X, **kw)

        return fit

    monkeypatch.setattr(baselines_module, "fit_partitioned", spy("baseline"))
    monkeypatch.setattr(truthful_module, "fit_partitioned", spy("barycenter"))
    got = plan_slots(X, facts, states, client=dask_client, **options)
    assert calls["baseline"] == 1 and calls["barycenter"] >= 1
    _assert_same_plan(ref, got)
