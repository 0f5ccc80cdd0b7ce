"""An upper bound on the truthfulness any k slots can reach: the LP relaxation of maximum
coverage over every statement the rule allows, solved by column generation.

Each statement is the set of ZIPs it fits; k slots can make at most the weight of the union
of k such sets true. The LP relaxation

    max  sum_e w_e y_e   s.t.  y_e <= sum_{S ∋ e} x_S,  sum_S x_S <= k,  x >= 0, 0 <= y <= 1

bounds that from above. There are far too many statements to list, so the LP starts from a
few (the planner's) and adds, each round, the statements whose reduced cost is positive:
with the duals λ_e of the coverage rows, ``sum_{e in S} λ_e`` is maximised by the exact
statement search (:class:`pipeline.truth.search.StatementSearch`). Whatever the round, weak
duality gives a valid bound from any λ >= 0:

    k * max_S λ(S) + sum_e max(w_e - λ_e, 0)

and when no statement prices out, this equals the LP optimum. ZIPs whose binned facts are
identical lie in exactly the same statements and are merged into one row first.

The statements found on the way (a :class:`StatementPool`) are also what the planner picks
its slots from (:mod:`pipeline.planning.select`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from pipeline.settings import TruthRules
from pipeline.truth.claims import fits
from pipeline.truth.rule import FactArrays, Statement
from pipeline.truth.search import StatementSearch, category_codes, doubled_bins

_FD1 = threading.Lock()
PER_CATEGORY = 8  # statements priced per category and round


@dataclass(frozen=True)
class CoverageBound:
    """No set of ``k`` statements is true for more than ``value`` of the weight."""

    k: int
    value: float  # the bound, as a share of the total weight
    lp_value: float  # the restricted LP's value at the end (= value when converged)
    converged: bool  # no statement priced out: value is the LP optimum itself
    rounds: int
    n_statements: int  # columns the LP ended with
    n_rows: int  # merged ZIP classes
    seconds: float


def merged_classes(
    f: FactArrays, weights: np.ndarray, groups: np.ndarray | None = None,
) -> tuple[FactArrays, np.ndarray, np.ndarray, np.ndarray]:
    """ZIPs that lie in exactly the same statements (and ``groups``), merged.

    Returns the classes' facts, summed weights, group codes and each ZIP's class (-1 for ZIPs
    without a high and low, or without weight).
    """
    known = ~(np.isnan(f.high) | np.isnan(f.low)) & (weights > 0)
    rows = np.flatnonzero(known)
    group = np.zeros(len(f), dtype=np.int64) if groups is None else np.asarray(groups)
    onset = np.where(f.kind[rows] > 0, np.nan_to_num(f.onset[rows]), -1e6)
    signature = np.stack([group[rows], category_codes(f)[rows], doubled_bins(f.high[rows]),
                          doubled_bins(f.low[rows]), doubled_bins(onset)], axis=1)
    _, first, inverse = np.unique(signature, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    of_zip = np.full(len(f), -1, dtype=np.int64)
    of_zip[rows] = inverse
    merged_w = np.bincount(inverse, weights=weights[rows])
    return f.take(rows[first]), merged_w, group[rows[first]], of_zip


class StatementPool:
    """Merged ZIP classes, the exact search over them, and the statements found so far.

    Parameters
    ----------
    facts : FactArrays of n_locations ZIPs
    weights : ndarray of shape (n_locations,), optional (ZIP-weighted when None)
    rules : TruthRules
    groups : ndarray of int, shape (n_locations,), optional
        Classes never merge ZIPs of different groups (the planner passes states).
    """

    def __init__(self, facts: FactArrays, weights: np.ndarray | None, rules: TruthRules,
                 groups: np.ndarray | None = None) -> None:
        w_all = np.ones(len(facts)) if weights is None else np.asarray(weights, dtype=float)
        self.total = float(w_all.sum())
        self.rules = rules
        # every ZIP's weight per group, those without facts too (a state's floor counts them)
        group_all = np.zeros(len(facts), dtype=np.int64) if groups is None else groups
        self.group_totals = np.bincount(np.asarray(group_all), weights=w_all)
        self.facts, self.weights, self.groups, self.class_of = merged_classes(
            facts, w_all, groups)
        self.search = StatementSearch(self.facts, rules)
        self.statements: list[Statement] = []
        self.columns: list[np.ndarray] = []  # class indices each statement fits
        self._index: dict[Statement, int] = {}

    def add(self, statements: list[Statement] | tuple[Statement, ...]) -> list[int]:
        """Add statements not yet in the pool; return the pool index of every one given."""
        out = []
        for s in statements:
            if s not in self._index:
                self._index[s] = len(self.statements)
                self.statements.append(s)
                self.columns.append(np.flatnonzero(fits(self.facts, s, self.rules)))
            out.append(self._index[s])
        return out

    def bound(self, k: int, *, max_rounds: int = 500, time_limit_s: float = 60.0
              ) -> CoverageBound:
        """Column generation for ``k`` slots (the pool keeps every statement it adds)."""
        t0 = time.perf_counter()
        w = self.weights
        self.add([s for _, s in self.search.each(w)])
        lp = _MasterLP(w, k)
        lp.add(self.columns)
        best_bound, lp_value, converged, rounds = float(w.sum()), 0.0, False, 0
        while rounds < max_rounds:
            rounds += 1
            lam, mu, lp_value = lp.solve()
            # several statements per category a round: the LP's duals tail off slowly when
            # each round adds one (measured: 300 rounds and 17 s vs 55 rounds and 8 s)
            priced = self.search.each(lam, above=mu + 1e-7 * (1.0 + mu),
                                      per_category=PER_CATEGORY)
            # nothing priced above ``above``: every statement's λ-weight is at most that
            top = max([mu + 1e-7 * (1.0 + mu)] + [score for score, _ in priced])
            best_bound = min(best_bound, k * top + float(np.maximum(w - lam, 0).sum()))
            if not priced:
                converged = True
                break
            before = len(self.columns)
            self.add([s for _, s in priced])
            if len(self.columns) == before or time.perf_counter() - t0 > time_limit_s:
                break
            lp.add(self.columns[before:])
        return CoverageBound(k=k, value=round(min(best_bound / self.total, 1.0), 6),
                             lp_value=round(lp_value / self.total, 6), converged=converged,
                             rounds=rounds, n_statements=len(self.columns), n_rows=len(w),
                             seconds=round(time.perf_counter() - t0, 2))


def coverage_bound(
    facts: FactArrays, weights: np.ndarray | None, rules: TruthRules, k: int, *,
    start: list[Statement] | tuple[Statement, ...] = (), max_rounds: int = 500,
    time_limit_s: float = 60.0,
) -> CoverageBound:
    """Upper bound on the weighted share of ZIPs that ``k`` statements can make true.

    Parameters
    ----------
    facts : FactArrays of n_locations ZIPs
    weights : ndarray of shape (n_locations,), optional (ZIP-weighted when None)
    k : the number of slots
    start : statements to seed the LP with (e.g. the planner's); they speed it up only
    max_rounds, time_limit_s : stop column generation early; the bound stays valid
    """
    pool = StatementPool(facts, weights, rules)
    pool.add(list(start))
    return pool.bound(k, max_rounds=max_rounds, time_limit_s=time_limit_s)


def quiet_highs():  # type: ignore[no-untyped-def]
    """A HiGHS instance that prints nothing (its banner goes to fd 1 at construction)."""
    import os

    import highspy

    with _FD1:  # one swap of the process's stdout at a time (the planner calls from threads)
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    h.setOptionValue("output_flag", False)
    # one thread and a fixed seed: the same model gives the same answer on any machine load
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    return h


class _MasterLP:
    """The restricted LP in HiGHS, re-solved warm as statements (columns) are added.

    Rows: ``y_e - sum_S x_S <= 0`` for each merged ZIP class, and ``sum_S x_S <= k``.
    ``x_S`` has no upper bound: ``x_S > 1`` never helps (``y_e <= 1``), and a bound of 1
    would give columns duals of their own, which the pricing and the bound formula omit.
    """

    def __init__(self, w: np.ndarray, k: int) -> None:
        import highspy  # only the bound and the planner's selection need it

        self.n = n = len(w)
        h = self.h = quiet_highs()
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        inf = highspy.kHighsInf
        h.addRows(n + 1, np.full(n + 1, -inf), np.concatenate([np.zeros(n), [float(k)]]),
                  0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        h.addCols(n, w.astype(float), np.zeros(n), np.ones(n), n,
                  np.arange(n, dtype=np.int32), np.arange(n, dtype=np.int32), np.ones(n))

    def add(self, columns: list[np.ndarray]) -> None:
        if columns:
            import highspy

            add_statement_columns(self.h, columns, self.n, upper=highspy.kHighsInf)

    def solve(self) -> tuple[np.ndarray, float, float]:
        """(λ per class, μ of the cardinality row, objective)."""
        self.h.run()
        # maximising with <= rows: HiGHS reports non-negative duals (its sign convention)
        duals = np.asarray(self.h.getSolution().row_dual)
        value = float(self.h.getInfo().objective_function_value)
        return np.clip(duals[: self.n], 0, None), float(max(duals[self.n], 0.0)), value


def add_statement_columns(h, columns: list[np.ndarray], card_row: int, *,  # type: ignore[no-untyped-def]
                          upper: float) -> None:
    """Add one x_S column per statement: -1 in the rows of its classes, +1 in ``card_row``."""
    m = len(columns)
    starts = np.cumsum([0] + [len(c) + 1 for c in columns[:-1]]).astype(np.int32)
    index = np.concatenate([np.append(c, card_row) for c in columns]).astype(np.int32)
    values = np.concatenate([np.append(-np.ones(len(c)), 1.0) for c in columns])
    h.addCols(m, np.zeros(m), np.zeros(m), np.full(m, upper), len(index), starts, index,
              values)
