"""Pick k slot statements from a pool by a small integer program (HiGHS).

The pool (:class:`pipeline.truth.bound.StatementPool`) holds every statement the column
generation for the LP bound priced in, plus the greedy's and the baselines'. Choosing the best
k of them is a maximum-coverage integer program over the pool's merged ZIP classes::

    max  sum_e w_e y_e + (boost - 1) * sum_g u_g
    s.t. y_e <= sum_{S ∋ e} x_S            (a class counts when a chosen statement fits it)
         sum_S x_S <= k
         u_g <= sum_{e in g} w_e y_e,  0 <= u_g <= floor * W_g   (per state)
         x_S in {0, 1},  0 <= y_e <= 1

The ``u_g`` terms weigh what is made true in a state ``boost`` times as long as the state is
under its floor: the same preference as the greedy's, as one concave objective. Because the
LP bound's own columns are in the pool, the program's optimum is usually within a hundredth
of a point of the bound (see ``bench/bench_run.py``). It starts from the best given plan and
stops after a fixed number of branch-and-bound nodes (deterministic, unlike a time limit), so
it is never worse than that start and a replay gives the same slots.
"""

from __future__ import annotations

import numpy as np

from pipeline.truth import Statement
from pipeline.truth.bound import StatementPool, add_statement_columns, quiet_highs

MAX_NODES = 5000  # branch-and-bound nodes: a deterministic work limit


def plan_value(covered: np.ndarray, w: np.ndarray, groups: np.ndarray, floor: float,
               boost: float) -> float:
    """The objective above for a plan that makes ``covered`` true (arrays per ZIP or class)."""
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    total = np.bincount(groups, weights=w, minlength=n_groups)
    done = np.bincount(groups, weights=w * covered, minlength=n_groups)
    return float(done.sum() + (boost - 1) * np.minimum(done, floor * total).sum())


def select_statements(
    pool: StatementPool, k: int, start: list[Statement], *, floor: float, boost: float,
    max_nodes: int = MAX_NODES,
) -> list[Statement]:
    """The best ``k`` statements of the pool for the objective above, from ``start``.

    Returns the chosen statements, in pool order; ``start`` itself when the program finds
    nothing better.
    """
    import highspy

    chosen = pool.add(start)
    w, groups = pool.weights, pool.groups
    n, m = len(w), len(pool.columns)
    n_groups = int(groups.max()) + 1
    group_total = np.bincount(groups, weights=w, minlength=n_groups)
    h = quiet_highs()
    h.setOptionValue("mip_max_nodes", max_nodes)
    h.setOptionValue("mip_rel_gap", 1e-5)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    inf = highspy.kHighsInf
    # rows: n coverage rows, the cardinality row, one row per group
    upper = np.concatenate([np.zeros(n), [float(k)], np.zeros(n_groups)])
    h.addRows(n + 1 + n_groups, np.full(n + 1 + n_groups, -inf), upper, 0,
              np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    # y_e: +1 in its coverage row, -w_e in its group's row
    index = np.stack([np.arange(n), n + 1 + groups], axis=1).ravel().astype(np.int32)
    values = np.stack([np.ones(n), -w], axis=1).ravel()
    h.addCols(n, w.astype(float), np.zeros(n), np.ones(n), 2 * n,
              np.arange(0, 2 * n, 2, dtype=np.int32), index, values)
    # u_g: +1 in its group's row, at most floor * W_g
    h.addCols(n_groups, np.full(n_groups, boost - 1.0), np.zeros(n_groups),
              floor * group_total, n_groups, np.arange(n_groups, dtype=np.int32),
              (n + 1 + np.arange(n_groups)).astype(np.int32), np.ones(n_groups))
    first_x = n + n_groups
    add_statement_columns(h, pool.columns, n, upper=1.0)
    h.changeColsIntegrality(m, np.arange(first_x, first_x + m, dtype=np.int32),
                            np.array([highspy.HighsVarType.kInteger] * m))
    h.setSolution(_start_solution(pool, chosen, floor, group_total, n, m))
    h.run()
    values = np.asarray(h.getSolution().col_value)
    if not h.getSolution().value_valid or len(values) < first_x + m:
        return list(start)
    picked = np.flatnonzero(values[first_x:] > 0.5)
    found = [pool.statements[j] for j in picked]
    return found if _value(pool, picked, floor, boost) > _value(pool, chosen, floor, boost) \
        else list(start)


def _covered(pool: StatementPool, picked) -> np.ndarray:  # type: ignore[no-untyped-def]
    covered = np.zeros(len(pool.weights), dtype=bool)
    for j in picked:
        covered[pool.columns[j]] = True
    return covered


def _value(pool: StatementPool, picked, floor: float, boost: float) -> float:  # type: ignore[no-untyped-def]
    return plan_value(_covered(pool, picked), pool.weights, pool.groups, floor, boost)


def _start_solution(pool: StatementPool, chosen: list[int], floor: float,
                    group_total: np.ndarray, n: int, m: int):  # type: ignore[no-untyped-def]
    import highspy

    covered = _covered(pool, chosen).astype(float)
    done = np.bincount(pool.groups, weights=pool.weights * covered,
                       minlength=len(group_total))
    x = np.zeros(m)
    x[chosen] = 1.0
    solution = highspy.HighsSolution()
    solution.col_value = np.concatenate([covered, np.minimum(done, floor * group_total),
                                         x]).tolist()
    solution.value_valid = True
    return solution
