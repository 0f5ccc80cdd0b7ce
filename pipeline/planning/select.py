"""Pick k slot statements from a pool by a small integer program (HiGHS).

The pool (:class:`pipeline.truth.bound.StatementPool`) holds every statement the column
generation for the LP bound priced in, plus the greedy's and the baselines'. Choosing the best
k of them is a maximum-coverage integer program over the pool's merged ZIP classes::

    max  sum_e w_e y_e
    s.t. y_e <= sum_{S ∋ e} x_S            (a class counts when a chosen statement fits it)
         sum_S x_S <= k
         sum_{e in g} w_e y_e >= floor * W_g   for each state g    (only with ``floor``)
         x_S in {0, 1},  0 <= y_e <= 1

Because the LP bound's own columns are in the pool, the program's optimum is usually within a
hundredth of a point of the bound (see ``bench/bench_run.py``). It starts from the best given
plan and stops after a fixed number of branch-and-bound nodes (deterministic, unlike a time
limit), so it is never worse than that start and a replay gives the same slots.
"""

from __future__ import annotations

import numpy as np

from pipeline.truth import Statement
from pipeline.truth.bound import StatementPool, add_statement_columns, quiet_highs

MAX_NODES = 5000  # branch-and-bound nodes: a deterministic work limit


def select_statements(
    pool: StatementPool, k: int, start: list[Statement], *, floor: float | None = None,
    max_nodes: int = MAX_NODES,
) -> list[Statement]:
    """The best ``k`` statements of the pool (every state at ``floor`` or more, if given).

    Returns the chosen statements in pool order, or ``start`` itself when the program finds
    nothing better (or, when ``start`` breaks a floor, nothing that keeps them all).
    """
    import highspy

    chosen = pool.add(start)
    w, groups = pool.weights, pool.groups
    n, m = len(w), len(pool.columns)
    h = quiet_highs()
    h.setOptionValue("mip_max_nodes", max_nodes)
    h.setOptionValue("mip_rel_gap", 1e-5)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    inf = highspy.kHighsInf
    n_groups = len(pool.group_totals) if floor is not None else 0
    # rows: n coverage rows, the cardinality row, then (with a floor) one row per state
    lower = np.concatenate([np.full(n + 1, -inf),
                            floor * pool.group_totals[:n_groups] if floor is not None else []])
    upper = np.concatenate([np.zeros(n), [float(k)], np.full(n_groups, inf)])
    h.addRows(n + 1 + n_groups, lower - 1e-9 * (lower > -inf), upper, 0,
              np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    if floor is None:  # y_e: +1 in its coverage row
        h.addCols(n, w.astype(float), np.zeros(n), np.ones(n), n,
                  np.arange(n, dtype=np.int32), np.arange(n, dtype=np.int32), np.ones(n))
    else:  # y_e: +1 in its coverage row, w_e in its state's row
        index = np.stack([np.arange(n), n + 1 + groups], axis=1).ravel().astype(np.int32)
        values = np.stack([np.ones(n), w], axis=1).ravel()
        h.addCols(n, w.astype(float), np.zeros(n), np.ones(n), 2 * n,
                  np.arange(0, 2 * n, 2, dtype=np.int32), index, values)
    add_statement_columns(h, pool.columns, n, upper=1.0)
    h.changeColsIntegrality(m, np.arange(n, n + m, dtype=np.int32),
                            np.array([highspy.HighsVarType.kInteger] * m))
    h.setSolution(_start_solution(pool, chosen, m))
    h.run()
    solution = h.getSolution()
    values = np.asarray(solution.col_value)
    if not solution.value_valid or len(values) < n + m:
        return list(start)
    picked = np.flatnonzero(values[n:] > 0.5)
    feasible = h.getModelStatus() in (highspy.HighsModelStatus.kOptimal,
                                      highspy.HighsModelStatus.kSolutionLimit,
                                      highspy.HighsModelStatus.kIterationLimit)
    start_ok = floor is None or _keeps_floor(pool, chosen, floor)
    better = _weight(pool, picked) > _weight(pool, chosen) or not start_ok
    if len(picked) > k or not better or (floor is not None and not (
            feasible and _keeps_floor(pool, picked, floor))):
        return list(start)
    return [pool.statements[j] for j in picked]


def _keeps_floor(pool: StatementPool, picked, floor: float) -> bool:  # type: ignore[no-untyped-def]
    covered = _covered(pool, picked)
    total = pool.group_totals
    done = np.bincount(pool.groups, weights=pool.weights * covered, minlength=len(total))
    return bool((done >= floor * total - 1e-9).all())


def _covered(pool: StatementPool, picked) -> np.ndarray:  # type: ignore[no-untyped-def]
    covered = np.zeros(len(pool.weights), dtype=bool)
    for j in picked:
        covered[pool.columns[j]] = True
    return covered


def _weight(pool: StatementPool, picked) -> float:  # type: ignore[no-untyped-def]
    return float(pool.weights[_covered(pool, picked)].sum())


def _start_solution(pool: StatementPool, chosen: list[int], m: int):  # type: ignore[no-untyped-def]
    import highspy

    x = np.zeros(m)
    x[chosen] = 1.0
    solution = highspy.HighsSolution()
    solution.col_value = np.concatenate([_covered(pool, chosen).astype(float), x]).tolist()
    solution.value_valid = True
    return solution
