"""Truthful slot planning: the slots whose messages are true for the most subscribers.

Clustering raw shapes is not enough: a slot's message must be *true* for each member
(:mod:`pipeline.truth`). The method works in three passes.

1. **Cover by what messages say.** Greedily add the slot statement (high and low ranges,
   precipitation type and onset, wind, hazards) that fits the most not-yet-covered subscriber
   weight -- :class:`pipeline.truth.StatementSearch` finds it exactly with prefix sums. ZIPs
   in states under the floor weigh more, so no state is left behind. Stop at the target (the
   fewest slots that reach it) or at the editors' budget: that sets the slot count k.
2. **Choose the best k.** Column generation for the LP upper bound at k
   (:mod:`pipeline.truth.bound`) collects the statements that matter; a small integer program
   over them, the greedy's and the baselines' (:mod:`pipeline.planning.select`) picks the best
   k. Greedy maximum coverage stops where one more set helps most and pays for its early
   choices; the program does not, and its result sits next to the bound it is judged by.
3. **Shape by DTW.** Many ZIPs fit several statements. Each joins, among the slots that fit
   it, the one whose DTW barycenter (banded DBA, :class:`DTWKMeans`) is nearest: same facts,
   and the same shape of the day and timing. ZIPs that fit no slot join the nearest slot by DTW
   and are flagged for an automatic factual message of their own. A slot states its sky when
   every member that chose it and fits it shares one.

With a Dask ``client`` (:func:`plan_slots`) the DTW work runs on its workers -- the DTW-only
baseline fit partitioned (:func:`~pipeline.cluster.fit_partitioned`), the slots' barycenters
as worker tasks (a slot with at least ``PARTITION_MIN_ROWS`` members partitioned in turn), the
DTW from every ZIP to the barycenters in scattered row blocks
(:mod:`pipeline.cluster.partitioned`) -- and the plan is bit-identical to the single-process
one. The statement search stays in this process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.cluster.kmeans import DTWKMeans
from pipeline.cluster.metrics import n_threads
from pipeline.cluster.partitioned import fit_partitioned
from pipeline.cluster.rowblocks import RowBlocks, nearest_allowed, own_center_dtw
from pipeline.planning.baselines import baseline_labels
from pipeline.planning.select import select_statements
from pipeline.settings import TruthRules
from pipeline.truth import (
    SKY_CATEGORIES,
    CoverageBound,
    FactArrays,
    Statement,
    StatementPool,
    StatementSearch,
    best_statement,
    fits,
)

if TYPE_CHECKING:
    from distributed import Client

STATE_BOOST = 4.0  # extra weight on uncovered ZIPs of states under the floor

#: With a Dask client, a slot with at least this many members fits its barycenter partitioned
#: over the workers; smaller slots are fitted whole, one worker task (one thread) per slot.
PARTITION_MIN_ROWS = 5000

#: A slot with fewer members fits its barycenter in one thread. The fit is the same with any
#: thread count; a small slot's is a few milliseconds of work in many short parallel regions,
#: each of which waits for every thread: with another run on the machine, descheduled threads
#: made membership take 13 s instead of 0.7 s (two plans at once, measured).
SERIAL_MAX_ROWS = 2000

#: branch-and-bound nodes for each probe of the fewest-slots bisection (a deterministic limit)
PROBE_NODES = 1000


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
    bound: CoverageBound | None = None  # the LP bound at len(statements) slots
    seconds: dict[str, float] = field(default_factory=dict)  # per sub-step, see _timed


@contextmanager
def _timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's wall seconds to ``seconds[name]`` (a plan's sub-step timings).

    Sub-steps: ``setup`` (statement pool and search), ``greedy`` (cover, sets k),
    ``baseline_starts`` (k-means and DTW-only groupings at k, their statements), ``lp_bound``
    (column generation, every call; the first beside ``baseline_starts``), ``lp_bound_wait``
    (what is left of it once the starts are done), ``milp_select`` (the integer program, and
    the fewest-slots bisection), ``dtw_membership`` (barycenters, DTW distances, assignment,
    sky).
    """
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - start, 3)


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


def _meets(fit_matrix: np.ndarray, w: np.ndarray, state_codes: np.ndarray, target: float,
           floor: float) -> bool:
    """The national target and every state's floor hold."""
    fitting = fit_matrix.any(axis=1)
    n_states = int(state_codes.max()) + 1
    total = np.bincount(state_codes, weights=w, minlength=n_states)
    done = np.bincount(state_codes, weights=w * fitting, minlength=n_states)
    return bool(w[fitting].sum() >= target * w.sum() - 1e-9
                and (done >= floor * total - 1e-9).all())


def greedy_statements(
    facts: FactArrays,
    weights: np.ndarray,
    state_codes: np.ndarray,
    *,
    max_slots: int,
    target: float,
    rules: TruthRules,
    on_slot: Callable[[int, float], None] | None = None,
    search: StatementSearch | None = None,
) -> tuple[list[Statement], np.ndarray, list[float]]:
    """Add statements until the target and state floor hold, the budget is spent, or no gain.

    Returns
    -------
    statements : list of Statement
    fit_matrix : ndarray of bool, shape (n_locations, n_slots)
    curve : truthfulness after each statement
    """
    search = search or StatementSearch(facts, rules)
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
        residual = priority * ~covered
        if not residual.any():
            break
        _, statement = search.best(residual)
        mask = fits(facts, statement, rules)
        if not (mask & ~covered).any():
            break  # nothing left that a new statement can make true
        statements.append(statement)
        columns.append(mask)
        covered |= mask
        curve.append(round(float(weights[covered].sum() / total), 4))
        if on_slot:
            on_slot(len(statements), curve[-1])
    if not columns:
        return [], np.zeros((len(facts), 0), dtype=bool), []
    return statements, np.stack(columns, axis=1), curve


@dataclass
class StatementPlan:
    """The statement half of a plan (see :func:`plan_statements`)."""

    statements: list[Statement]
    fit_matrix: np.ndarray  # (n_locations, n_slots) bool
    curve: list[float]  # the greedy's truthfulness after each slot
    bound: CoverageBound  # at len(statements) slots
    chosen_from: str  # "program", or the start it could not improve on
    greedy_k: int
    pool: StatementPool = field(repr=False)
    seconds: dict[str, float] = field(default_factory=dict)  # per sub-step, see _timed


def plan_statements(
    facts: FactArrays, states: np.ndarray, *, weights: np.ndarray | None = None,
    max_slots: int = 60, target: float = 0.97, rules: TruthRules | None = None,
    candidates_for: Callable[[int], dict[str, list[Statement]]] | None = None,
    on_slot: Callable[[int, float], None] | None = None,
    bound_rounds: int = 300, bound_seconds: float = 300.0,
    on_stage: Callable[[str], None] | None = None,
) -> StatementPlan:
    """Greedy cover for k, then the best k statements of the pool, with the LP bound at k.

    Truthfulness depends only on the statements (membership picks among fitting slots), so
    this is also what a truthfulness-vs-slots curve needs, without the DTW work.

    Parameters
    ----------
    candidates_for : callable, optional
        ``k -> {name: statements}``: more plans to start from (the baselines').
    bound_rounds, bound_seconds : column generation limits (rounds are deterministic; the
        time limit is a safety net, and a bound cut short is still a bound)
    on_stage : callable, optional
        Called with the name of each sub-step as it starts (``greedy``, ``baseline_starts``,
        ``milp_select``; :func:`plan_slots` adds ``dtw_membership``), from this thread.
    """
    rules = rules or TruthRules()
    seconds: dict[str, float] = {}
    stage = on_stage or (lambda name: None)
    w = np.ones(len(facts)) if weights is None else np.asarray(weights, dtype=float)
    _, codes = np.unique(states, return_inverse=True)
    with _timed(seconds, "setup"):
        pool = StatementPool(facts, w, rules, groups=codes)
        search = StatementSearch(facts, rules)
    stage("greedy")
    with _timed(seconds, "greedy"):
        greedy, greedy_matrix, curve = greedy_statements(
            facts, w, codes, max_slots=max_slots, target=target, rules=rules,
            on_slot=on_slot, search=search)
    if not greedy:
        raise ValueError("no ZIP has the facts a statement needs (high and low)")
    k = len(greedy)

    def lp_bound() -> CoverageBound:
        with _timed(seconds, "lp_bound"):
            return pool.bound(k, max_rounds=bound_rounds, time_limit_s=bound_seconds)

    # The LP bound (HiGHS, which lets go of the GIL, and numpy) runs beside the baselines'
    # starts (numba k-means): neither reads what the other writes, and the integer program
    # after them sees the pool exactly as it would in turn, so the plan is the same
    with ThreadPoolExecutor(1, thread_name_prefix="lp-bound") as beside:
        bounding = beside.submit(lp_bound)
        stage("baseline_starts")
        with _timed(seconds, "baseline_starts"):
            starts = {"greedy": greedy, **(candidates_for(k) if candidates_for else {})}
            matrices = {name: greedy_matrix if name == "greedy" else
                        _fit_matrix(facts, sts, rules) for name, sts in starts.items()}
        with _timed(seconds, "lp_bound_wait"):
            bound = bounding.result()
    best = max(matrices, key=lambda n: (_score(matrices[n], w, codes, rules.state_floor),
                                        n == "greedy"))
    stage("milp_select")
    with _timed(seconds, "milp_select"):
        pool.add([s for sts in starts.values() for s in sts])
        # Where the greedy met the target and every floor, the program must keep every
        # floor; elsewhere it maximises the truthfulness itself (measured on national runs:
        # weighing states under the floor more there left as many of them under it, and cost
        # up to a point nationally)
        floors = _meets(matrices[best], w, codes, target, rules.state_floor)
        floor = rules.state_floor if floors else None
        statements = select_statements(pool, k, starts[best], floor=floor)
        matrix = _fit_matrix(facts, statements, rules)
        chosen = "program" if statements != starts[best] else best
        if floors:  # the fewest slots that still hold the target and every floor
            statements, matrix = _fewest(pool, facts, w, codes, statements, matrix, target,
                                         rules)
            chosen = "program" if statements != starts[best] else chosen
    if len(statements) != bound.k:
        with _timed(seconds, "lp_bound"):
            bound = pool.bound(len(statements), max_rounds=bound_rounds,
                               time_limit_s=bound_seconds)
    return StatementPlan(statements, matrix, curve, bound, chosen, k, pool, seconds)


def _fewest(
    pool: StatementPool, facts: FactArrays, w: np.ndarray, codes: np.ndarray,
    statements: list[Statement], matrix: np.ndarray, target: float, rules: TruthRules,
) -> tuple[list[Statement], np.ndarray]:
    """Bisect the slot count: the smallest k whose program still meets target and floors."""
    lo, hi = 0, len(statements)  # hi meets them; lo is not known to
    while hi - lo > 1:
        mid = (lo + hi) // 2
        start = _drop_weakest(statements, matrix, w, mid)
        fewer = select_statements(pool, mid, start, floor=rules.state_floor,
                                  max_nodes=PROBE_NODES)
        fewer_matrix = _fit_matrix(facts, fewer, rules)
        if _meets(fewer_matrix, w, codes, target, rules.state_floor):
            hi, statements, matrix = mid, fewer, fewer_matrix
        else:
            lo = mid
    return statements, matrix


def _drop_weakest(statements: list[Statement], matrix: np.ndarray, w: np.ndarray, k: int
                  ) -> list[Statement]:
    """The statements without those whose removal loses the least weight, down to ``k``."""
    keep = list(range(len(statements)))
    while len(keep) > k:
        sub = matrix[:, keep]
        count = sub.sum(axis=1)
        alone = [(w * (sub[:, i] & (count == 1))).sum() for i in range(len(keep))]
        keep.pop(int(np.argmin(alone)))
    return [statements[i] for i in keep]


def state_sky(
    facts: FactArrays, statements: list[Statement], labels: np.ndarray, fit: np.ndarray,
) -> list[Statement]:
    """Each slot states the sky where every member that chose it, and fits it, shares one.

    Stating the sky can only narrow a statement, so the search never does; here it costs
    nothing: the members it is said to are exactly those it is true for.
    """
    out = []
    for slot, statement in enumerate(statements):
        rows = np.flatnonzero((labels == slot) & fit)
        skies = np.unique(facts.sky[rows])
        if len(rows) and len(skies) == 1 and skies[0] >= 0:
            statement = replace(statement, sky=SKY_CATEGORIES[int(skies[0])])
        out.append(statement)
    return out


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
    fits: list[tuple[int, DTWKMeans, np.ndarray]] = []
    for slot in range(k):
        members = X[labels == slot]
        start = members.mean(axis=0, keepdims=True)
        model = DTWKMeans(1, window=window, init=start, max_iter=3, tol=0.0,
                          random_state=seed,
                          n_jobs=1 if len(members) < SERIAL_MAX_ROWS else n_jobs)
        fits.append((slot, model, members))
    if client is None:
        _fit_side_by_side(fits, centers, n_jobs)
        return centers
    small = [fit for fit in fits if len(fit[2]) < PARTITION_MIN_ROWS]
    large = [fit for fit in fits if len(fit[2]) >= PARTITION_MIN_ROWS]
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


def _fit_side_by_side(fits: list[tuple[int, DTWKMeans, np.ndarray]], centers: np.ndarray,
                      n_jobs: int | None) -> None:
    """Fit each slot's center into ``centers[slot]``, the slots side by side in threads.

    Most slots are small, so each fit is a few milliseconds in one thread (see
    ``SERIAL_MAX_ROWS``) and fitting them in turn left the other cores idle. A fit depends on
    nothing but its own members, and not on its thread count, so the centers are the ones
    fitted in turn, bit for bit (numba's kernels let go of the GIL; its ``omp`` and ``tbb``
    layers take calls from several threads). The largest slots start first. Measured on
    national runs (2 cores): two passes 1.0 -> 0.6 s.
    """
    workers = min(n_threads(n_jobs), len(fits))
    if workers <= 1 or not _numba_takes_threads():
        for slot, model, members in fits:
            centers[slot] = _fit_center(model, members)
        return
    largest_first = sorted(fits, key=lambda fit: -len(fit[2]))
    with ThreadPoolExecutor(workers, thread_name_prefix="barycenter") as pool:
        done = pool.map(lambda fit: _fit_center(fit[1], fit[2]), largest_first)
        for (slot, _, _), center in zip(largest_first, done, strict=True):
            centers[slot] = center


def _numba_takes_threads() -> bool:
    """Whether numba's threading layer takes parallel calls from several threads at once
    (``omp``, ``tbb``; not ``workqueue``), once a parallel kernel has chosen it."""
    import numba

    try:
        return numba.threading_layer() in ("omp", "tbb")
    except ValueError:  # no parallel kernel has run yet: the layer is not chosen
        return False


def _fit_center(model: DTWKMeans, members: np.ndarray) -> np.ndarray:
    """The one center of ``model`` fitted to ``members`` (in a thread, or on a Dask worker)."""
    return model.fit(members).cluster_centers_[0]


def _statement_sets(
    X: np.ndarray, facts: FactArrays, w: np.ndarray, states: np.ndarray, k: int,
    rules: TruthRules, window: int | None, seed: int, n_jobs: int | None,
    client: Client | None = None,
) -> tuple[dict[str, list[Statement]], dict[str, np.ndarray]]:
    """Each baseline grouping at k slots, and the best statement of each of its groups."""
    groupings = baseline_labels(X, states, k, window=window, max_iter=20,
                                random_state=seed, n_jobs=n_jobs, client=client)
    sets = {}
    for name in ("kmeans_raw", "dtw_kmeans"):
        labels = groupings[name]
        sets[name] = [
            best_statement(facts.take(rows), w[rows], rules)[0]
            for rows in (np.flatnonzero(labels == g) for g in np.unique(labels))
        ]
    return sets, groupings


def _fit_matrix(facts: FactArrays, statements: list[Statement], rules: TruthRules
                ) -> np.ndarray:
    return np.stack([fits(facts, s, rules) for s in statements], axis=1)


def plan_slots(
    X: np.ndarray,
    facts: FactArrays,
    states: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    max_slots: int = 60,
    target: float = 0.97,
    rules: TruthRules | None = None,
    window: int | None = 3,
    random_state: int = 0,
    n_jobs: int | None = None,
    on_slot: Callable[[int, float], None] | None = None,
    client: Client | None = None,
    bound_rounds: int = 300,
    bound_seconds: float = 300.0,
    on_stage: Callable[[str], None] | None = None,
) -> SlotPlan:
    """Plan slots for every ZIP: statements by :func:`plan_statements`, membership by DTW.

    After the greedy cover settles the slot count k, the raw k-means and DTW-only groupings at
    the same k also propose statements (each group's best); they join the pool the integer
    program chooses from and can be its start, so the plan is never worse than them by its
    objective. Their labels come back for scoring as baselines.

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
    bound_rounds, bound_seconds : column generation limits for the LP bound
    on_stage : callable, optional
        Called with each sub-step's name as it starts (see :func:`plan_statements`; then
        ``dtw_membership``): a progress display's stage, or work that can use the core the
        integer program (``milp_select``, single-threaded) leaves idle.
    """
    rules = rules or TruthRules()
    stage = on_stage or (lambda name: None)
    w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=float)
    _, state_codes = np.unique(states, return_inverse=True)
    groupings: dict[str, np.ndarray] = {}

    def baseline_statements(k: int) -> dict[str, list[Statement]]:
        sets, found = _statement_sets(X, facts, w, states, k, rules, window, random_state,
                                      n_jobs, client)
        groupings.update(found)
        return sets

    found = plan_statements(facts, states, weights=w, max_slots=max_slots, target=target,
                            rules=rules, candidates_for=baseline_statements, on_slot=on_slot,
                            bound_rounds=bound_rounds, bound_seconds=bound_seconds,
                            on_stage=on_stage)
    statements, fit_matrix, chosen = found.statements, found.fit_matrix, found.chosen_from
    seconds = found.seconds
    first = np.where(fit_matrix.any(axis=1), fit_matrix.argmax(axis=1), 0)
    # With a client, X goes to the workers once, in row blocks, for both distance passes.
    blocks: Any = nullcontext(X) if client is None else RowBlocks(client, X)
    stage("dtw_membership")
    with _timed(seconds, "dtw_membership"), blocks as rows:
        centers = _barycenters(X, first, len(statements), window or 0, random_state, n_jobs,
                               client)
        labels = nearest_allowed(rows, centers, fit_matrix, window=window, n_jobs=n_jobs)
        labels, statements, centers, fit_matrix = _drop_empty(labels, statements, centers,
                                                              fit_matrix)
        centers = _barycenters(X, labels, len(statements), window or 0, random_state, n_jobs,
                               client)
        dist = own_center_dtw(rows, centers, labels, window=window, n_jobs=n_jobs)
        fit = fit_matrix[np.arange(len(X)), labels]
        statements = state_sky(facts, statements, labels, fit)
    truth = float(w[fit].sum() / w.sum())
    bound = found.bound
    if bound.k != len(statements):  # a slot no ZIP chose was dropped: bound the plan's k
        with _timed(seconds, "lp_bound"):
            bound = found.pool.bound(len(statements), max_rounds=bound_rounds,
                                     time_limit_s=bound_seconds)
    return SlotPlan(labels=labels, fits=fit, statements=statements, centers=centers,
                    distances=dist, truth=round(truth, 4), target=target,
                    reached_target=truth >= target, coverage_curve=found.curve,
                    chosen_from=chosen, baseline_groupings=groupings, bound=bound,
                    seconds=seconds)


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
