"""Truthful slot planning: the fewest slots whose messages are true for the most subscribers.

Clustering raw shapes is not enough: a slot's message must be *true* for each member
(:mod:`pipeline.truth`). The method works in two passes.

1. **Cover by what messages say.** Greedily add the slot statement (high and low ranges,
   precipitation type and onset, wind, hazards) that fits the most not-yet-covered subscriber
   weight — :func:`pipeline.truth.best_statement` finds it exactly with prefix sums. ZIPs in
   states under the floor weigh more, so no state is left behind. Stop at the target (the
   fewest slots that reach it) or at the editors' budget.
2. **Shape by DTW.** Many ZIPs fit several statements. Each joins, among the slots that fit
   it, the one whose DTW barycenter (banded DBA, :class:`DTWKMeans`) is nearest: same facts,
   and the same shape of the day and timing. ZIPs that fit no slot join the nearest slot by DTW
   and are flagged for an automatic factual message of their own.

With a Dask ``client`` (:func:`plan_slots`) the DTW work runs on its workers -- the DTW-only
baseline fit partitioned (:func:`~pipeline.cluster.fit_partitioned`), the slots' barycenters
as worker tasks (a slot with at least ``PARTITION_MIN_ROWS`` members partitioned in turn), the
DTW from every ZIP to the barycenters in scattered row blocks
(:mod:`pipeline.cluster.partitioned`) -- and the plan is bit-identical to the single-process
one. The statement search (greedy cover, refinement) stays in this process.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.cluster.baselines import baseline_labels
from pipeline.cluster.kmeans import DTWKMeans
from pipeline.cluster.partitioned import (
    RowBlocks,
    cdist_partitioned,
    fit_partitioned,
    own_center_dtw,
)
from pipeline.settings import TruthRules
from pipeline.truth import FactArrays, Statement, best_statement, fits

if TYPE_CHECKING:
    from distributed import Client

STATE_BOOST = 4.0  # extra weight on uncovered ZIPs of states under the floor

#: With a Dask client, a slot with at least this many members fits its barycenter partitioned
#: over the workers; smaller slots are fitted whole, one worker task (one thread) per slot.
PARTITION_MIN_ROWS = 5000


@dataclass
class SlotPlan:
    """The planned slots. Arrays are per ZIP, in the input order."""

    labels: np.ndarray  # (n_locations,) slot index
    fits: np.ndarray  # (n_locations,) bool: the slot's statement is true here
    statements: list[Statement]
    centers: np.ndarray  # (n_slots, n_steps, n_variables), DBA barycenters (scaled units)
    distances: np.ndarray  # (n_locations,) DTW distance to the own slot's barycenter
    truth: float  # weighted share that fits
    target: float
    reached_target: bool
    coverage_curve: list[float] = field(default_factory=list)  # truth after each slot added
    chosen_from: str = "greedy"  # which statement set won: greedy, kmeans_raw or dtw_kmeans
    baseline_groupings: dict[str, np.ndarray] = field(default_factory=dict)


def _state_weights(
    covered: np.ndarray, w: np.ndarray, state_codes: np.ndarray, floor: float,
    national_done: bool,
) -> np.ndarray:
    """Per-ZIP weights for the next statement, and whether any state is under the floor.

    Before the national target holds, ZIPs of states under the floor weigh STATE_BOOST times
    more. After it holds, only states under the floor count, each by the *share* of the state
    a statement would fix, so three ZIPs in the Northern Marianas can win a slot over a few
    hundred in Texas.
    """
    n_states = int(state_codes.max()) + 1
    total = np.bincount(state_codes, weights=w, minlength=n_states)
    done = np.bincount(state_codes, weights=w * covered, minlength=n_states)
    below = done < floor * total - 1e-9
    if national_done:
        return np.where(below[state_codes], w / total[state_codes], 0.0)
    return w * np.where(below[state_codes], STATE_BOOST, 1.0)


def _score(fit_matrix: np.ndarray, w: np.ndarray, state_codes: np.ndarray,
           floor: float) -> tuple[int, float]:
    """(-states under the floor, weight that fits): compare plans floor first, then truth."""
    fitting = fit_matrix.any(axis=1)
    n_states = int(state_codes.max()) + 1
    total = np.bincount(state_codes, weights=w, minlength=n_states)
    done = np.bincount(state_codes, weights=w * fitting, minlength=n_states)
    return -int((done < floor * total - 1e-9).sum()), float(w[fitting].sum())


def greedy_statements(
    facts: FactArrays,
    weights: np.ndarray,
    state_codes: np.ndarray,
    *,
    max_slots: int,
    target: float,
    rules: TruthRules,
    step_hours: int,
    on_slot: Callable[[int, float], None] | None = None,
) -> tuple[list[Statement], np.ndarray, list[float]]:
    """Add statements until the target and state floor hold, the budget is spent, or no gain.

    Returns
    -------
    statements : list of Statement
    fit_matrix : ndarray of bool, shape (n_locations, n_slots)
    curve : truthfulness after each statement
    """
    covered = np.zeros(len(facts), dtype=bool)
    total = weights.sum()
    statements: list[Statement] = []
    columns: list[np.ndarray] = []
    curve: list[float] = []
    while len(statements) < max_slots:
        national_done = weights[covered].sum() / total >= target
        priority = _state_weights(covered, weights, state_codes, rules.state_floor,
                                  national_done)
        if national_done and not priority.any():
            break  # the target and every state's floor hold: the fewest slots that do
        statement, mask = best_statement(facts, priority * ~covered, rules, step_hours)
        if not (mask & ~covered).any():
            break  # nothing left that a new statement can make true
        statements.append(statement)
        columns.append(mask)
        covered |= mask
        curve.append(round(float(weights[covered].sum() / total), 4))
        if on_slot:
            on_slot(len(statements), curve[-1])
    return statements, np.stack(columns, axis=1), curve


def _barycenters(
    X: np.ndarray, labels: np.ndarray, k: int, window: int, seed: int, n_jobs: int | None,
    client: Client | None = None,
) -> np.ndarray:
    """Banded-DBA barycenter of each slot's members (k-means with one cluster each).

    With a Dask ``client``, slots of fewer than ``PARTITION_MIN_ROWS`` members are fitted on
    the workers, one single-threaded task per slot (the fit does not depend on the thread
    count), and larger ones partitioned over the workers (:func:`fit_partitioned`, identical
    to ``fit``) while those tasks run.
    """
    centers = np.empty((k, X.shape[1], X.shape[2]))
    small: list[tuple[int, DTWKMeans, np.ndarray]] = []
    large: list[tuple[int, DTWKMeans, np.ndarray]] = []
    for slot in range(k):
        members = X[labels == slot]
        start = members.mean(axis=0, keepdims=True)
        model = DTWKMeans(1, window=window, init=start, max_iter=3, tol=0.0,
                          random_state=seed, n_jobs=n_jobs)
        if client is None:
            centers[slot] = model.fit(members).cluster_centers_[0]
        else:
            (large if len(members) >= PARTITION_MIN_ROWS else small).append(
                (slot, model, members))
    if client is None:
        return centers
    futures = []
    if small:
        data = client.scatter([members for _, _, members in small])
        futures = [client.submit(_fit_center, model.set_params(n_jobs=1), fut, pure=False)
                   for (_, model, _), fut in zip(small, data, strict=True)]
    for slot, model, members in large:
        centers[slot] = fit_partitioned(model, members, client=client).cluster_centers_[0]
    for (slot, _, _), center in zip(small, client.gather(futures), strict=True):
        centers[slot] = center
    return centers


def _fit_center(model: DTWKMeans, members: np.ndarray) -> np.ndarray:
    """The one center of ``model`` fitted to ``members`` (runs on a Dask worker)."""
    return model.fit(members).cluster_centers_[0]


def _statement_sets(
    X: np.ndarray, facts: FactArrays, w: np.ndarray, states: np.ndarray, k: int,
    rules: TruthRules, step_hours: int, window: int | None, seed: int, n_jobs: int | None,
    client: Client | None = None,
) -> tuple[dict[str, list[Statement]], dict[str, np.ndarray]]:
    """Each baseline grouping at k slots, and the best statement of each of its groups."""
    groupings = baseline_labels(X, states, k, window=window, max_iter=20,
                                random_state=seed, n_jobs=n_jobs, client=client)
    sets = {}
    for name in ("kmeans_raw", "dtw_kmeans"):
        labels = groupings[name]
        sets[name] = [
            best_statement(facts.take(rows), w[rows], rules, step_hours)[0]
            for rows in (np.flatnonzero(labels == g) for g in np.unique(labels))
        ]
    return sets, groupings


def _fit_matrix(
    facts: FactArrays, statements: list[Statement], rules: TruthRules, step_hours: int
) -> np.ndarray:
    return np.stack([fits(facts, s, rules, step_hours) for s in statements], axis=1)


def _assign(fit_matrix: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Nearest fitting slot by DTW; nearest slot of all for ZIPs that fit none."""
    constrained = np.where(fit_matrix, distances, np.inf)
    return np.where(fit_matrix.any(axis=1), constrained.argmin(axis=1),
                    distances.argmin(axis=1))


def _refine(
    facts: FactArrays, w: np.ndarray, state_codes: np.ndarray, statements: list[Statement],
    fit_matrix: np.ndarray, distances: np.ndarray, rules: TruthRules, step_hours: int,
    rounds: int = 3,
) -> tuple[list[Statement], np.ndarray, np.ndarray]:
    """Lloyd-style: restate each slot for its current members while that helps — never at
    the cost of a state falling under the floor."""
    labels = _assign(fit_matrix, distances)
    best = _score(fit_matrix, w, state_codes, rules.state_floor)
    for _ in range(rounds):
        restated = [
            best_statement(facts.take(rows), w[rows], rules, step_hours)[0] if len(rows)
            else statements[s]
            for s, rows in enumerate(np.flatnonzero(labels == s)
                                     for s in range(len(statements)))
        ]
        matrix = _fit_matrix(facts, restated, rules, step_hours)
        score = _score(matrix, w, state_codes, rules.state_floor)
        if score <= best:
            break
        statements, fit_matrix, best = restated, matrix, score
        labels = _assign(fit_matrix, distances)
    return statements, fit_matrix, labels


def plan_slots(
    X: np.ndarray,
    facts: FactArrays,
    states: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    max_slots: int = 60,
    target: float = 0.95,
    rules: TruthRules | None = None,
    step_hours: int = 1,
    window: int | None = 3,
    random_state: int = 0,
    n_jobs: int | None = None,
    on_slot: Callable[[int, float], None] | None = None,
    client: Client | None = None,
) -> SlotPlan:
    """Plan slots for every ZIP: statements by greedy cover, membership by DTW.

    After the greedy cover settles the slot count k, the raw k-means and DTW-only groupings at
    the same k also propose statements (each group's best); the set with the fewest states
    under the floor, then the most subscribers' messages true, wins and is refined
    Lloyd-style. So the plan is never less truthful than those baselines (unless one of them
    leaves more states under the floor), whose labels it returns for scoring.

    Parameters
    ----------
    X : ndarray of shape (n_locations, n_steps, n_variables)
        Scaled series (see :func:`pipeline.features.scale_series`).
    facts : FactArrays of the same n_locations
    states : ndarray of str, shape (n_locations,)
    weights : ndarray of shape (n_locations,), optional
        Subscribers per ZIP; ``None`` weighs every ZIP alike.
    max_slots : int
        The editors' budget.
    target : float
        The truthfulness goal; the plan stops adding slots once it and the state floor hold.
    client : distributed.Client, optional
        Run the DTW work on this Dask cluster's workers (see the module docstring); the plan
        is bit-identical to the one without. Workers use one numba thread per task, so start
        them with one thread per core.
    """
    rules = rules or TruthRules()
    w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=float)
    _, state_codes = np.unique(states, return_inverse=True)
    greedy, greedy_matrix, curve = greedy_statements(
        facts, w, state_codes, max_slots=max_slots, target=target, rules=rules,
        step_hours=step_hours, on_slot=on_slot,
    )
    k = len(greedy)
    candidates, groupings = _statement_sets(X, facts, w, states, k, rules, step_hours,
                                            window, random_state, n_jobs, client)
    candidates["greedy"] = greedy
    matrices = {name: (greedy_matrix if name == "greedy"
                       else _fit_matrix(facts, sts, rules, step_hours))
                for name, sts in candidates.items()}
    chosen = max(matrices, key=lambda n: (*_score(matrices[n], w, state_codes,
                                                   rules.state_floor), n == "greedy"))
    statements, fit_matrix = candidates[chosen], matrices[chosen]
    first = np.where(fit_matrix.any(axis=1), fit_matrix.argmax(axis=1), 0)
    # With a client, X goes to the workers once, in row blocks, for both distance passes.
    blocks: Any = nullcontext(X) if client is None else RowBlocks(client, X)
    with blocks as rows:
        centers = _barycenters(X, first, len(statements), window or 0, random_state, n_jobs,
                               client)
        distances = cdist_partitioned(rows, centers, window=window, n_jobs=n_jobs)
        statements, fit_matrix, labels = _refine(facts, w, state_codes, statements,
                                                 fit_matrix, distances, rules, step_hours)
        labels, statements, centers, fit_matrix = _drop_empty(labels, statements, centers,
                                                              fit_matrix)
        centers = _barycenters(X, labels, len(statements), window or 0, random_state, n_jobs,
                               client)
        dist = own_center_dtw(rows, centers, labels, window=window, n_jobs=n_jobs)
    fit = fit_matrix[np.arange(len(X)), labels]
    truth = float(w[fit].sum() / w.sum())
    return SlotPlan(labels=labels, fits=fit, statements=statements, centers=centers,
                    distances=dist, truth=round(truth, 4), target=target,
                    reached_target=truth >= target, coverage_curve=curve,
                    chosen_from=chosen, baseline_groupings=groupings)


def _drop_empty(
    labels: np.ndarray, statements: list[Statement], centers: np.ndarray,
    fit_matrix: np.ndarray,
) -> tuple[np.ndarray, list[Statement], np.ndarray, np.ndarray]:
    """Remove slots no ZIP chose; renumber the rest in order."""
    used = np.flatnonzero(np.bincount(labels, minlength=len(statements)) > 0)
    remap = np.full(len(statements), -1)
    remap[used] = np.arange(len(used))
    return (remap[labels], [statements[i] for i in used], centers[used],
            fit_matrix[:, used])
