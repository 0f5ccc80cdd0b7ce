"""DTW k-means with the rows split into partitions, optionally on Dask workers.

:func:`fit_partitioned` fits a :class:`~pipeline.cluster.DTWKMeans` exactly
like :meth:`DTWKMeans.fit <pipeline.cluster.DTWKMeans.fit>`, but the
deduplicated rows live in row partitions, each held by one Dask worker
(``client``) or, without a client, all in this process one after another.
Each partition is shipped once (``client.scatter``); afterwards only centers
go out and small results come back:

* **assignment** -- every worker assigns its rows to the broadcast centers
  (:func:`~pipeline.cluster._lloyd.assign`, keeping its rows' DTW lower bounds
  and warm-start labels) and returns labels and squared distances (n_rows,);
* **DBA update** -- every worker aligns its rows to their current center and
  returns the mergeable partial sums (:func:`dba_partials`): per row chunk, the
  weighted sum of aligned values per center step (n_chunks, k, t, d), the
  weighted count of aligned points (n_chunks, k, t) and the weighted DTW cost
  (n_chunks, k).  The client merges them (:func:`merge_dba_partials`) and
  divides: ``center = sums / counts``.  A DBA pass is one such map-reduce; the
  ``barycenter_iter`` passes of an iteration are repeated rounds of it.

Everything else -- k-means++, re-seeding empty clusters, the inertia, the
stopping rule, which clusters DBA skips -- runs on the client in the very code
the single-process fit uses (:func:`~pipeline.cluster._lloyd.lloyd_rows`).

Identical results
-----------------
Partitioned and single-process fits give bit-identical labels, centers,
inertia and iteration counts, for any number of partitions.  The assignment of
a row does not depend on the other rows, and the client gets every row's
distance, so the inertia is the same sum in the same order.  The DBA sums are
the only floating-point reduction across rows, and the single-process kernel
already splits it into ``DBA_CHUNKS`` (16) fixed row chunks, each summed
sequentially, the chunks then added in chunk order (so its result does not
depend on the thread count).  Partitions are made of whole chunks, workers
return per-chunk partial sums, and the client concatenates them in chunk order
and adds them with the same kernel (``_dba_finish``) the single-process fit
uses.  The order of every addition is therefore the single-process order; no
change to the single-process path was needed.  The price is that there are at
most ``DBA_CHUNKS`` partitions.

Worker loss is not survived: partitions are pinned to the worker they were
scattered to, so a lost worker fails the fit and the caller retries it.

Per-row distances
-----------------
:class:`RowBlocks` scatters the rows of a set of series once, in consecutive
blocks, for work whose result for a row does not depend on the other rows:
:func:`cdist_partitioned` (DTW from every row to every center, as
:func:`~pipeline.cluster.cdist_dtw`) and :func:`own_center_dtw` (DTW from
every row to its own center).  Each block runs the single-process function on
its worker and the client concatenates the blocks in row order, so the values
are the single-process ones bit for bit.  Without a client both run the
single-process function here.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.cluster._kernels import _dba_accumulate, _dba_finish, _decay_bounds
from pipeline.cluster._lloyd import DBA_CHUNKS, assign, chunk_bounds, paa, segments
from pipeline.cluster.metrics import numba_threads

if TYPE_CHECKING:
    from distributed import Client

    from pipeline.cluster.kmeans import DTWKMeans

#: Per-chunk DBA partial sums: sums (n_chunks, k, t, d), counts (n_chunks, k, t),
#: costs (n_chunks, k).
DBAPartials = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class RowPartition:
    """A block of consecutive rows and the state one k-means run keeps for it.

    The functions below never modify a partition; they return a new one that
    shares the unchanged arrays, so Dask tasks on partitions stay pure.

    Attributes
    ----------
    X : ndarray of shape (m, n_steps, n_variables)
        The rows, deduplicated and multiplied by ``sqrt(weights)``.
    w : ndarray of shape (m,)
        Row weights.
    XP : ndarray of shape (m, n_seg, n_variables)
        Segment means of ``X`` (for the LB_PAA lower bound).
    chunks : ndarray of shape (n_chunks + 1,)
        Offsets of this partition's DBA chunks within ``X``.
    r : int
        Sakoe-Chiba radius.
    n_jobs : int or None
        Numba threads per task (``None``: all cores of the worker).
    lb : ndarray of shape (m, k) or None
        Lower bounds on the DTW of each row to each center.
    labels : ndarray of shape (m,) or None
        Current labels (the warm start of the next assignment).
    d2 : ndarray of shape (m,) or None
        Squared DTW to the assigned center.
    n_dtw : int
        Exact DTW computations of the last assignment.
    """

    X: np.ndarray
    w: np.ndarray
    XP: np.ndarray
    chunks: np.ndarray
    r: int
    n_jobs: int | None = 1
    lb: np.ndarray | None = None
    labels: np.ndarray | None = None
    d2: np.ndarray | None = None
    n_dtw: int = 0


def split_rows(
    X: np.ndarray, w: np.ndarray, r: int, n_partitions: int, n_jobs: int | None = 1
) -> list[RowPartition]:
    """Split rows into ``n_partitions`` blocks of whole DBA chunks.

    Parameters
    ----------
    X : ndarray of shape (n, n_steps, n_variables)
    w : ndarray of shape (n,)
    r : int
        Sakoe-Chiba radius.
    n_partitions : int
        Between 1 and ``DBA_CHUNKS``; fewer are made if some would be empty.
    n_jobs : int or None
        Numba threads for each partition's tasks.

    Returns
    -------
    list of RowPartition
        In row order; their ``chunks`` together are the single-process chunks.
    """
    rows = chunk_bounds(X.shape[0])
    n_partitions = max(1, min(n_partitions, DBA_CHUNKS, X.shape[0]))
    cuts = chunk_bounds(DBA_CHUNKS, n_partitions)
    while n_partitions > 1 and np.any(np.diff(rows[cuts]) == 0):
        n_partitions -= 1
        cuts = chunk_bounds(DBA_CHUNKS, n_partitions)
    seg = segments(X.shape[1])
    parts = []
    for c0, c1 in zip(cuts[:-1], cuts[1:], strict=True):
        lo, hi = rows[c0], rows[c1]
        Xp = np.ascontiguousarray(X[lo:hi])
        parts.append(
            RowPartition(Xp, w[lo:hi].copy(), paa(Xp, *seg), rows[c0 : c1 + 1] - lo, r, n_jobs)
        )
    return parts


# -- pure functions on one partition (they run on the workers) ---------------


def start_partition(part: RowPartition, k: int) -> RowPartition:
    """Fresh state for a run with ``k`` centers (zero bounds, no warm labels)."""
    return replace(part, lb=np.zeros((part.X.shape[0], k)), labels=None, d2=None, n_dtw=0)


def assign_partition(part: RowPartition, C: np.ndarray, shift: np.ndarray | None) -> RowPartition:
    """Loosen the bounds by ``shift`` (k,), then assign the rows to ``C`` (k, t, d)."""
    assert part.lb is not None, "start_partition() first"
    lb = part.lb.copy()
    with numba_threads(part.n_jobs):
        if shift is not None:
            _decay_bounds(lb, shift)
        labels, d2, n_dtw = assign(part.X, C, part.r, part.labels, lb, part.XP)
    return replace(part, lb=lb, labels=labels, d2=d2, n_dtw=n_dtw)


def assignment_of(part: RowPartition) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels (m,), squared distances (m,) and #DTW of the last assignment."""
    assert part.labels is not None and part.d2 is not None, "assign_partition() first"
    return part.labels, part.d2, part.n_dtw


def relabel_partition(part: RowPartition, rows: np.ndarray, labels: np.ndarray) -> RowPartition:
    """Set ``labels[rows]`` (re-seeded rows, indices local to the partition)."""
    assert part.labels is not None, "assign_partition() first"
    new = part.labels.copy()
    new[rows] = labels
    return replace(part, labels=new)


def row_of(part: RowPartition, i: int) -> np.ndarray:
    """Row ``i`` (local index) of the partition, shape (n_steps, n_variables)."""
    return part.X[i].copy()


def dba_partials(part: RowPartition, C: np.ndarray, active: np.ndarray) -> DBAPartials:
    """One DBA pass's per-chunk partial sums over this partition's rows.

    Parameters
    ----------
    part : RowPartition
        With ``labels`` set.
    C : ndarray of shape (k, n_steps, n_variables)
        Current centers; each row is aligned to ``C[label]``.
    active : ndarray of shape (k,), bool
        Clusters to update; rows of other clusters are skipped.

    Returns
    -------
    sums : ndarray of shape (n_chunks, k, n_steps, n_variables)
    counts : ndarray of shape (n_chunks, k, n_steps)
    costs : ndarray of shape (n_chunks, k)
    """
    with numba_threads(part.n_jobs):
        return _dba_accumulate(part.X, part.w, part.labels, C, part.r, part.chunks, active)


def merge_dba_partials(partials: Sequence[DBAPartials]) -> DBAPartials:
    """Merge partitions' partial sums, given in partition (row) order.

    Chunks are concatenated, not added: ``_dba_finish`` adds them in chunk
    order, exactly as the single-process pass does.
    """
    sums, counts, costs = (np.concatenate([p[i] for p in partials]) for i in range(3))
    return sums, counts, costs


def dba_centers(C: np.ndarray, partials: DBAPartials) -> tuple[np.ndarray, np.ndarray]:
    """New centers ``sums / counts`` (k, t, d) and summed costs (k,) from merged partials."""
    return _dba_finish(C, *partials)


# -- rows objects for lloyd_rows ---------------------------------------------


class PartitionedRows:
    """Rows held as :class:`RowPartition` blocks, processed one after another here.

    Implements the rows interface of :func:`~pipeline.cluster._lloyd.lloyd_rows`
    (see :class:`~pipeline.cluster._lloyd.LocalRows`) with the map-reduce
    steps of a distributed fit; :class:`DaskRows` runs the same steps on
    workers by overriding the three execution hooks ``_place``, ``_submit``
    and ``_gather``.  On its own it is the sequential reference.
    """

    def __init__(self, parts: Sequence[RowPartition]):
        sizes = [part.X.shape[0] for part in parts]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._base = self._place(parts)
        self._handles = list(self._base)
        self._labels: np.ndarray | None = None

    # -- execution hooks ------------------------------------------------------

    def _place(self, parts: Sequence[RowPartition]) -> list[Any]:
        """Handles of the partitions (here: the partitions themselves)."""
        return list(parts)

    def _submit(self, p: int, fn: Callable[..., Any], handle: Any, *args: Any) -> Any:
        """Run ``fn(handle, *args)`` where partition ``p`` lives."""
        return fn(handle, *args)

    def _gather(self, results: list[Any]) -> list[Any]:
        """Values of ``_submit`` results, in order."""
        return results

    def _map(self, fn: Callable[..., Any], handles: Sequence[Any], *args: Any) -> list[Any]:
        return [self._submit(p, fn, h, *args) for p, h in enumerate(handles)]

    # -- the rows interface of lloyd_rows ---------------------------------------

    def start(self, k: int) -> None:
        self._handles = self._map(start_partition, self._base, k)
        self._labels = None

    def assign(
        self, C: np.ndarray, shift: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        self._handles = self._map(assign_partition, self._handles, C, shift)
        outs = self._gather(self._map(assignment_of, self._handles))
        labels = np.concatenate([o[0] for o in outs])
        d2 = np.concatenate([o[1] for o in outs])
        self._labels = labels.copy()  # lloyd_rows re-seeds ``labels`` in place
        return labels, d2, int(sum(o[2] for o in outs))

    def relabel(self, labels: np.ndarray) -> None:
        changed = np.flatnonzero(labels != self._labels)
        owner = np.searchsorted(self.offsets, changed, side="right") - 1
        for p in np.unique(owner):
            rows = changed[owner == p]
            self._handles[p] = self._submit(
                p, relabel_partition, self._handles[p], rows - self.offsets[p], labels[rows]
            )
        self._labels = labels.copy()

    def __getitem__(self, i: int) -> np.ndarray:
        p = int(np.searchsorted(self.offsets, i, side="right") - 1)
        local = int(i - self.offsets[p])
        return self._gather([self._submit(p, row_of, self._handles[p], local)])[0]

    def dba_pass(self, C: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        partials = self._gather(self._map(dba_partials, self._handles, C, active))
        return dba_centers(C, merge_dba_partials(partials))

    def close(self) -> None:
        # Dropping the handles releases Dask futures (and the workers' copies).
        # ``client.cancel`` would also cancel already-released dependents, which
        # trips an assertion in the scheduler.
        self._handles, self._base = [], []


class DaskRows(PartitionedRows):
    """:class:`PartitionedRows` with each partition on a Dask worker.

    Each partition is scattered once to one worker (round-robin over the
    workers, sorted by address) and every task on it is pinned there, so the
    rows never move again: tasks get the centers (and a few flags) and return
    labels, distances or per-chunk DBA partial sums.
    """

    def __init__(self, client: Client, parts: Sequence[RowPartition]):
        workers = sorted(client.scheduler_info()["workers"])
        if not workers:
            raise ValueError("the Dask client has no workers; start some or pass client=None")
        self._client = client
        self._workers = [workers[p % len(workers)] for p in range(len(parts))]
        super().__init__(parts)

    def _place(self, parts: Sequence[RowPartition]) -> list[Any]:
        return [
            self._client.scatter(part, workers=[addr], hash=False)
            for part, addr in zip(parts, self._workers, strict=True)
        ]

    def _submit(self, p: int, fn: Callable[..., Any], handle: Any, *args: Any) -> Any:
        return self._client.submit(
            fn, handle, *args, workers=[self._workers[p]], allow_other_workers=False, pure=False
        )

    def _gather(self, results: list[Any]) -> list[Any]:
        return self._client.gather(results)


def fit_partitioned(
    model: DTWKMeans,
    X: Any,
    *,
    client: Client | None = None,
    n_partitions: int | None = None,
    sample_weight: Any = None,
    callback: Callable[[int, float], None] | None = None,
    n_jobs_per_task: int | None = 1,
) -> DTWKMeans:
    """Fit ``model`` with its rows partitioned, on Dask workers if ``client`` is given.

    The result is bit-identical to ``model.fit(X, sample_weight=sample_weight)``
    (see the module docstring for why).

    Parameters
    ----------
    model : DTWKMeans
        The estimator to fit (its parameters are used as in ``fit``).
    X : array-like of shape (n_locations, n_steps, n_variables)
    client : distributed.Client or None
        Client of the Dask cluster; ``None`` runs the partitions one after
        another in this process.
    n_partitions : int or None
        Number of row partitions, 1 to ``DBA_CHUNKS`` (16); ``None``: one per
        worker (at most 16), or 1 without a client.
    sample_weight : array-like of shape (n_locations,) or None
    callback : callable or None
        Called as ``callback(iteration, inertia)`` after each assignment.
    n_jobs_per_task : int or None, default=1
        Numba threads each partition task uses on its worker (``None``: all
        the worker's cores).  1 suits one single-threaded worker per core.

    Returns
    -------
    model : DTWKMeans
        Fitted, with the same attributes as after ``fit``.
    """
    if n_partitions is None:
        n_workers = len(client.scheduler_info()["workers"]) if client is not None else 1
        n_partitions = max(1, min(n_workers, DBA_CHUNKS))
    if (
        isinstance(n_partitions, bool)
        or not isinstance(n_partitions, numbers.Integral)
        or not 1 <= n_partitions <= DBA_CHUNKS
    ):
        raise ValueError(
            f"n_partitions must be an int from 1 to {DBA_CHUNKS} (partitions are made of "
            f"whole DBA chunks so results match the single-process fit), got {n_partitions!r}"
        )

    def make_rows(Xu: np.ndarray, wu: np.ndarray, r: int) -> PartitionedRows:
        parts = split_rows(Xu, wu, r, int(n_partitions), n_jobs_per_task)
        return PartitionedRows(parts) if client is None else DaskRows(client, parts)

    return model._fit(X, sample_weight, callback, make_rows)
