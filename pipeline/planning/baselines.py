"""Baselines at the same slot count, so the truthful method's gain (or its absence) shows.

- ``per_state``: one slot per state, the way a newsroom without clustering would group.
- ``kmeans_raw``: Euclidean k-means on the flattened scaled series.
- ``dtw_kmeans``: the DTW engine alone, without the truthfulness step.

Each grouping is scored with :func:`pipeline.truth.score_grouping`: every group states its own
best statement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.cluster.kmeans import DTWKMeans
from pipeline.cluster.partitioned import fit_partitioned
from pipeline.settings import TruthRules
from pipeline.truth import FactArrays, score_grouping

if TYPE_CHECKING:
    from distributed import Client


def baseline_labels(
    X: np.ndarray, states: np.ndarray, k: int, *, window: int | None, max_iter: int,
    random_state: int, n_jobs: int | None = None, client: Client | None = None,
) -> dict[str, np.ndarray]:
    """Labels of each baseline grouping for the same ZIPs (k slots; per-state has its own).

    With a Dask ``client`` the DTW k-means fit runs partitioned over its workers
    (:func:`~pipeline.cluster.fit_partitioned`), with identical labels.
    """
    from sklearn.cluster import KMeans  # a second to import: only when baselines are asked

    k = min(k, len(X))
    _, per_state = np.unique(states, return_inverse=True)
    flat = X.reshape(len(X), -1)
    kmeans = KMeans(k, n_init=1, random_state=random_state).fit(flat).labels_
    model = DTWKMeans(k, window=window, max_iter=max_iter, random_state=random_state,
                      n_jobs=n_jobs)
    dtw = (model.fit(X) if client is None else fit_partitioned(model, X, client=client)).labels_
    return {"per_state": per_state, "kmeans_raw": kmeans, "dtw_kmeans": dtw}


def score_baselines(
    groupings: dict[str, np.ndarray], facts: FactArrays, weights: np.ndarray | None,
    rules: TruthRules,
) -> dict[str, dict[str, Any]]:
    """Truthfulness and slot count of each baseline grouping."""
    out = {}
    for name, labels in groupings.items():
        truth, _ = score_grouping(labels, facts, weights, rules)
        out[name] = {"truthfulness": truth, "n_slots": int(len(np.unique(labels)))}
    return out
