"""Tests for pipeline.cluster.partitioned: DTW k-means with rows split over Dask workers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from pipeline.cluster import DTWKMeans
from pipeline.cluster._kernels import _dba_accumulate
from pipeline.cluster._lloyd import DBA_CHUNKS, LocalRows, chunk_bounds
from pipeline.cluster.partitioned import (
    dba_centers,
    dba_partials,
    fit_partitioned,
    merge_dba_partials,
    split_rows,
)


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
