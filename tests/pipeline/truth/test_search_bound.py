"""The exact statement search and the LP bound, against brute force over every statement."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import LinearConstraint, linprog, milp

from pipeline.settings import TruthRules
from pipeline.truth import FactArrays, best_statement, coverage_bound, fits
from tests.pipeline.truth.conftest import facts

RULES = TruthRules()


def random_facts(seed: int, n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kind = rng.choice(["none", "rain", "snow"], n, p=[0.5, 0.35, 0.15])
    return facts(
        high_f=np.round(rng.normal(50, 6, n), 1), low_f=np.round(rng.normal(33, 5, n), 1),
        precip_type=kind,
        precip_onset_h=np.where(kind != "none", rng.integers(6, 24, n), np.nan).astype(float),
        wind_category=rng.choice(["calm", "breezy"], n, p=[0.8, 0.2]),
        hazards=np.where(rng.random(n) < 0.2, "freeze", ""),
    )


def every_statement(f: pd.DataFrame) -> list[np.ndarray]:
    """The member set of every statement the rule allows, written out again: every category
    present, every whole-degree box, every whole onset hour (distinct sets only)."""
    high, low = f["high_f"].to_numpy(), f["low_f"].to_numpy()
    onset = f["precip_onset_h"].to_numpy()
    sets: set[tuple[int, ...]] = set()
    for kind, wind, hazards in {tuple(r) for r in
                                f[["precip_type", "wind_category", "hazards"]].values}:
        same = ((f["precip_type"] == kind) & (f["wind_category"] == wind)
                & (f["hazards"] == hazards)).to_numpy()
        for a, c in itertools.product(range(int(high.min()) - 9, int(high.max()) + 3),
                                      range(int(low.min()) - 9, int(low.max()) + 3)):
            ok = same & (high >= a - 2) & (high <= a + 7) & (low >= c - 2) & (low <= c + 7)
            if kind == "none":
                sets.add(tuple(np.flatnonzero(ok)))
                continue
            for s in range(24):
                d = np.abs(onset - s)
                sets.add(tuple(np.flatnonzero(ok & (np.minimum(d, 24 - d) <= 2))))
    return [np.array(s, dtype=int) for s in sets if s]


def incidence(sets: list[np.ndarray], n: int) -> np.ndarray:
    a = np.zeros((n, len(sets)))
    for j, members in enumerate(sets):
        a[members, j] = 1
    return a


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_best_statement_is_the_best_of_every_statement(seed):
    """The prefix-sum search fits as many members as the best of all statements."""
    f = random_facts(seed)
    statement, mask = best_statement(f, None, RULES)
    assert mask.sum() == max(len(s) for s in every_statement(f))
    assert statement.high_f[1] - statement.high_f[0] == RULES.stated_range_f
    assert (fits(f, statement, RULES) == mask).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_search_is_exact(seed):
    """With uneven weights too (the greedy's and the LP's), the search finds the maximum."""
    f = random_facts(seed)
    w = np.random.default_rng(seed + 10).random(len(f))
    _, mask = best_statement(f, w, RULES)
    assert w[mask].sum() == pytest.approx(max(w[s].sum() for s in every_statement(f)))


@pytest.mark.parametrize("k", [2, 4])
def test_bound_is_the_lp_over_every_statement_and_above_the_best_plan(k):
    """Column generation reaches the LP optimum over all statements; that bound is above the
    true best k statements (a MILP over all of them), which is above the greedy's."""
    f = random_facts(3, n=60)
    n = len(f)
    sets = every_statement(f)
    a = incidence(sets, n)
    m = len(sets)
    # LP relaxation over every statement, solved directly
    c = np.concatenate([np.zeros(m), -np.ones(n)])
    a_ub = np.block([[-a, np.eye(n)], [np.ones((1, m)), np.zeros((1, n))]])
    b_ub = np.concatenate([np.zeros(n), [k]])
    lp = -linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method="highs").fun / n
    # the true optimum
    exact = milp(c, constraints=LinearConstraint(a_ub, -np.inf, b_ub),
                 integrality=np.concatenate([np.ones(m), np.zeros(n)]), bounds=(0, 1))
    best = -exact.fun / n
    bound = coverage_bound(FactArrays.from_frame(f), None, RULES, k)
    assert bound.converged
    assert bound.value == pytest.approx(lp, abs=1e-6)
    assert bound.value >= best - 1e-9
    covered = np.zeros(n, bool)  # the greedy, for comparison
    for _ in range(k):
        _, mask = best_statement(f, (~covered).astype(float), RULES)
        covered |= mask
    assert covered.mean() <= best + 1e-9


def test_a_bound_cut_short_is_still_a_bound():
    """Stopped after one round of column generation, the bound is weaker but still valid."""
    f = random_facts(4, n=60)
    full = coverage_bound(FactArrays.from_frame(f), None, RULES, 3)
    short = coverage_bound(FactArrays.from_frame(f), None, RULES, 3, max_rounds=1)
    assert short.value >= full.value - 1e-9


def numpy_box_sums(hist: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """The box sums as numpy computes them: prefix sums along each axis, differences at the
    ends of the box from every even bin (what the numba kernel replaced)."""
    out = hist
    for axis, width in enumerate(widths):
        n = out.shape[axis]
        shape = list(out.shape)
        shape[axis] = n + 1
        c = np.zeros(shape)
        tail = [slice(None)] * out.ndim
        tail[axis] = slice(1, None)
        np.cumsum(out, axis=axis, out=c[tuple(tail)])
        starts = np.arange(0, n, 2)
        out = np.take(c, np.minimum(starts + width, n), axis=axis) - np.take(c, starts, axis=axis)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_box_sums_are_bit_for_bit_numpys_prefix_sums(seed):
    """Sparse histograms of real-valued weights (LP duals), 1 to 3 axes, odd and even sizes,
    boxes wider than the axis, signed zeros: the same bits as numpy's cumsum-and-take, so
    plans don't move."""
    from pipeline.truth.search import box_sums

    rng = np.random.default_rng(seed)
    for _ in range(150):
        ndim = int(rng.integers(1, 4))
        shape = tuple(int(x) for x in rng.integers(1, 30, ndim))
        widths = tuple(int(x) for x in rng.integers(1, 25, ndim))
        hist = rng.random(shape) * (rng.random(shape) < rng.random()) * 10.0 ** rng.integers(-3, 4)
        hist *= rng.choice([-1.0, 1.0], shape)  # signed zeros too: -0.0 stays -0.0
        got, want = box_sums(hist, widths), numpy_box_sums(hist, widths)
        assert got.shape == want.shape
        assert np.array_equal(got.view(np.int64), want.view(np.int64))


def test_box_sums_refuse_negative_widths():
    from pipeline.truth.search import box_sums

    with pytest.raises(ValueError, match="widths must be 0 or more"):
        box_sums(np.arange(3.0), (-10,))


@pytest.mark.parametrize("seed", range(3))
def test_the_compiled_best_box_is_numpys_bit_for_bit(seed):
    """The one-call box (the planner's hot path) gives numpy's box: weight to the bit, the
    same stated values, whatever the members: dry or with an onset, whole and fractional
    values, below zero, many ties (integer weights on few values, where the medians pick),
    LP duals, an onset span that rules boxes out or rules every box out."""
    from pipeline.settings import TruthRules
    from pipeline.truth.search import best_box, best_box_numpy

    rng = np.random.default_rng(seed)
    for _ in range(150):
        n = int(rng.integers(1, 300))
        spread = float(rng.choice([2, 8, 20]))
        high = rng.normal(rng.uniform(-20, 100), spread, n)
        low = high - rng.uniform(0, 25, n)
        if rng.random() < 0.5:  # whole degrees, as forecasts mostly are: ties
            high, low = np.round(high), np.round(low)
        if rng.random() < 0.3:
            high[rng.random(n) < 0.3] += 0.5
        onset = None if rng.random() < 0.4 else np.round(rng.uniform(0, 24, n) * 2) / 2
        weight = (rng.integers(1, 4, n).astype(float) if rng.random() < 0.5
                  else rng.random(n) * 10.0 ** rng.integers(-4, 2))
        rules = TruthRules(temperature_slack_f=float(rng.choice([0, 1, 2])),
                           stated_range_f=float(rng.choice([3, 5])))
        tol = float(rng.choice([1.0, 1.5, 2.0]))
        span = tuple(sorted(rng.uniform(-5, 30, 2))) if rng.random() < 0.5 else (-1e9, 1e9)
        got = best_box(high, low, onset, weight, rules, tol, span)
        want = best_box_numpy(high, low, onset, weight, rules, tol, span)
        assert np.float64(got.weight).view(np.int64) == np.float64(want.weight).view(np.int64)
        assert (got.high, got.low, got.onset) == (want.high, want.low, want.onset)


@pytest.mark.parametrize("span", [(float("nan"), float("nan")), (-np.inf, np.inf)])
def test_a_dry_box_ignores_the_onset_span(span):
    """Without an onset the span plays no part, whatever it holds (as numpy's box)."""
    from pipeline.settings import TruthRules
    from pipeline.truth.search import best_box, best_box_numpy

    args = (np.array([50.0, 51.0]), np.array([40.0, 39.0]), None, np.ones(2), TruthRules(),
            2.0, span)
    assert best_box(*args) == best_box_numpy(*args)
