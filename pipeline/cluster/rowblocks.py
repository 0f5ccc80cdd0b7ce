"""Per-row DTW work on row blocks scattered once to Dask workers (or on local arrays).

:class:`RowBlocks` puts a large ``X`` on the workers in blocks once; :func:`cdist_partitioned`
and :func:`own_center_dtw` then compute the DTW from every row to a few centers block by block,
identically to the single-process kernels. Without a client they run on the array itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.cluster._kernels import _envelope, _nearest_allowed
from pipeline.cluster._lloyd import chunk_bounds
from pipeline.cluster.metrics import cdist_dtw, check_series_set, numba_threads, window_radius

if TYPE_CHECKING:
    from distributed import Client


def _worker_slots(client: Client) -> list[str]:
    """Worker addresses, one entry per worker thread, interleaved across workers."""
    info = client.scheduler_info()["workers"]
    if not info:
        raise ValueError("the Dask client has no workers; start some or pass client=None")
    threads = {addr: max(1, int(info[addr].get("nthreads", 1))) for addr in sorted(info)}
    return [a for t in range(max(threads.values())) for a in threads if threads[a] > t]


class RowBlocks:
    """The rows of a set of series in consecutive blocks, each scattered to one Dask worker.

    Blocks are placed round-robin over the worker threads (one block per
    thread by default) and every task on a block is pinned to its worker, so
    the rows are shipped once however often they are used.  Use as a context
    manager, or call :meth:`close`, to release the workers' copies.

    Parameters
    ----------
    client : distributed.Client
    X : array-like of shape (n_locations, n_steps, n_variables)
        Validated as by :func:`~pipeline.cluster.cdist_dtw` (float64, no NaN).
    n_blocks : int or None
        Number of blocks (at most one per row); ``None``: one per worker thread.
    n_jobs_per_task : int or None, default=1
        Numba threads each block task uses on its worker (``None``: all cores).
    """

    def __init__(
        self,
        client: Client,
        X: Any,
        n_blocks: int | None = None,
        n_jobs_per_task: int | None = 1,
    ):
        X = check_series_set(X)
        slots = _worker_slots(client)
        n_blocks = len(slots) if n_blocks is None else int(n_blocks)
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
        n_blocks = min(n_blocks, X.shape[0])
        self.shape = X.shape
        self.offsets = chunk_bounds(X.shape[0], n_blocks)
        self.n_jobs_per_task = n_jobs_per_task
        self._client = client
        self._workers = [slots[b % len(slots)] for b in range(n_blocks)]
        self._futures = [
            client.scatter(np.ascontiguousarray(X[lo:hi]), workers=[addr], hash=False)
            for lo, hi, addr in zip(self.offsets[:-1], self.offsets[1:], self._workers, strict=True)
        ]

    def __len__(self) -> int:
        return int(self.shape[0])

    def map(self, fn: Callable[..., Any], *args: Any, per_block: Sequence[Any] = ()) -> list[Any]:
        """``fn(block, *args, *per_block[b])`` for every block ``b``, run on its worker.

        ``per_block`` holds one tuple of extra arguments per block (or is empty).
        Returns the results in block (row) order.
        """
        if not self._futures:
            raise ValueError("the row blocks were closed")
        extra = list(per_block) or [()] * len(self._futures)
        futures = [
            self._client.submit(
                fn, fut, *args, *more, workers=[addr], allow_other_workers=False, pure=False
            )
            for fut, addr, more in zip(self._futures, self._workers, extra, strict=True)
        ]
        return self._client.gather(futures)

    def split(self, a: np.ndarray) -> list[tuple[np.ndarray]]:
        """Per-row array ``a`` (n, ...) cut into the blocks' pieces, as ``per_block`` tuples."""
        return [(a[lo:hi],) for lo, hi in zip(self.offsets[:-1], self.offsets[1:], strict=True)]

    def close(self) -> None:
        """Release the scattered blocks (dropping the futures frees the workers' copies)."""
        self._futures = []

    def __enter__(self) -> RowBlocks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def own_center_dtw(
    X: Any,
    centers: Any,
    labels: np.ndarray,
    *,
    window: int | None = None,
    client: Client | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """DTW from every row to its own center, ``dtw(X[i], centers[labels[i]])``.

    Computed label by label with :func:`~pipeline.cluster.cdist_dtw` (the rows of
    one label against their center), so each value is exactly the one
    ``cdist_dtw(X, centers)[i, labels[i]]`` gives.

    Parameters
    ----------
    X : array-like of shape (n_locations, n_steps, n_variables), or RowBlocks
        With :class:`RowBlocks`, every block computes its rows on its worker.
    centers : array-like of shape (k, n_steps, n_variables)
    labels : ndarray of int, shape (n_locations,)
        Values in ``0 .. k - 1``.
    window : int or None
        Sakoe-Chiba radius in steps.
    client : distributed.Client or None
        With an array ``X``: scatter it in row blocks to this client's workers
        for the call.  Ignored when ``X`` is :class:`RowBlocks`.
    n_jobs : int or None
        Threads when computing in this process.

    Returns
    -------
    ndarray of shape (n_locations,)
    """
    labels = np.asarray(labels)
    if isinstance(X, RowBlocks):
        if len(labels) != len(X):
            raise ValueError(f"labels has {len(labels)} entries for {len(X)} rows")
        C = check_series_set(centers, "centers")
        parts = X.map(_own_center_block, C, window, X.n_jobs_per_task, per_block=X.split(labels))
        return np.concatenate(parts)
    if client is not None:
        with RowBlocks(client, X) as blocks:
            return own_center_dtw(blocks, centers, labels, window=window)
    return _own_center_block(np.asarray(X), np.asarray(centers), window, n_jobs, labels)


def _own_center_block(
    X: np.ndarray, centers: Any, window: int | None, n_jobs: int | None, labels: np.ndarray
) -> np.ndarray:
    out = np.empty(len(X))
    for s in np.unique(labels):
        rows = np.flatnonzero(labels == s)
        out[rows] = cdist_dtw(X[rows], centers[s : s + 1], window=window, n_jobs=n_jobs)[:, 0]
    return out


def nearest_allowed(
    X: Any,
    centers: Any,
    allowed: np.ndarray,
    *,
    window: int | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Each row's nearest center by DTW among its ``allowed`` ones (all, where none is).

    The same labels as ``np.where(allowed, D, inf).argmin(axis=1)`` (``D.argmin(axis=1)``
    where a row allows none) with ``D = cdist_dtw(X, centers, window=window)``, ties to the
    lowest index, without computing all of ``D``: most rows allow one or two centers, and the
    rest are pruned by lower bounds and early-abandoned DTW.

    Parameters
    ----------
    X : array-like of shape (n_locations, n_steps, n_variables), or RowBlocks
        With :class:`RowBlocks`, every block computes its rows on its worker.
    centers : array-like of shape (k, n_steps, n_variables)
    allowed : ndarray of bool, shape (n_locations, k)
    window : int or None
        Sakoe-Chiba radius in steps.
    n_jobs : int or None
        Threads when computing in this process.

    Returns
    -------
    ndarray of int, shape (n_locations,)
    """
    allowed = np.ascontiguousarray(allowed, dtype=bool)
    if isinstance(X, RowBlocks):
        if len(allowed) != len(X):
            raise ValueError(f"allowed has {len(allowed)} rows for {len(X)} series")
        C = check_series_set(centers, "centers")
        return np.concatenate(X.map(_nearest_block, C, window, X.n_jobs_per_task,
                                    per_block=X.split(allowed)))
    return _nearest_block(check_series_set(X), check_series_set(centers, "centers"), window,
                          n_jobs, allowed)


def _nearest_block(
    X: np.ndarray, C: np.ndarray, window: int | None, n_jobs: int | None, allowed: np.ndarray
) -> np.ndarray:
    if X.shape[1:] != C.shape[1:]:
        raise ValueError(f"rows are {X.shape[1:]} (steps, variables), centers {C.shape[1:]}")
    if allowed.shape != (len(X), len(C)):
        raise ValueError(f"allowed is {allowed.shape}, expected {(len(X), len(C))}")
    r = window_radius(window, X.shape[1], C.shape[1])
    with numba_threads(n_jobs):
        U, L = _envelope(C, r)
        return _nearest_allowed(X, C, U, L, allowed, r)


def cdist_partitioned(
    X: Any,
    B: Any,
    *,
    window: int | None = None,
    client: Client | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """:func:`~pipeline.cluster.cdist_dtw` ``(X, B)`` with the rows of ``X`` on Dask workers.

    Every row's distances are computed independently, so the result is
    bit-identical to ``cdist_dtw(X, B, window=window)``.

    Parameters
    ----------
    X : array-like of shape (n_a, n_steps, n_variables), or RowBlocks
        With :class:`RowBlocks`, every block computes its rows on its worker.
    B : array-like of shape (n_b, n_steps_b, n_variables)
        Sent whole to every block (centers: small).
    window : int or None
        Sakoe-Chiba radius in steps.
    client : distributed.Client or None
        With an array ``X``: scatter it in row blocks to this client's workers
        for the call; ``None`` computes here.  Ignored when ``X`` is
        :class:`RowBlocks`.
    n_jobs : int or None
        Threads when computing in this process.

    Returns
    -------
    ndarray of shape (n_a, n_b)
    """
    if isinstance(X, RowBlocks):
        B = check_series_set(B, "B")
        return np.concatenate(X.map(_cdist_block, B, window, X.n_jobs_per_task))
    if client is not None:
        with RowBlocks(client, X) as blocks:
            return cdist_partitioned(blocks, B, window=window)
    return cdist_dtw(X, B, window=window, n_jobs=n_jobs)


def _cdist_block(
    X: np.ndarray, B: np.ndarray, window: int | None, n_jobs: int | None
) -> np.ndarray:
    return cdist_dtw(X, B, window=window, n_jobs=n_jobs)
