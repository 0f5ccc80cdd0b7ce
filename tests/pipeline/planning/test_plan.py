"""Tests for truthful slot planning on real synthetic weather for a few states."""

import numpy as np
import pytest

from pipeline.features import build_series, scale_series, zip_facts
from pipeline.geo import load_zips
from pipeline.planning.baselines import score_baselines
from pipeline.planning.plan import plan_slots
from pipeline.settings import Settings
from pipeline.sources import fetch_forecast
from pipeline.truth import FactArrays, fits

SETTINGS = Settings()


@pytest.fixture(scope="module")
def region():
    """Colorado, Kansas and Nebraska on a January morning (about 1,900 ZIPs)."""
    zips = load_zips(["CO", "KS", "NE"])
    forecast = fetch_forecast("synthetic", zips, "2026-01-15T09:00Z", seed=0)
    series = build_series(forecast, zips, window="morning", settings=SETTINGS)
    facts = zip_facts(series, SETTINGS.facts)
    X, _ = scale_series(series, SETTINGS.scales)
    return zips, FactArrays.from_frame(facts), X


def plan(region, **options):
    zips, facts, X = region
    return plan_slots(X, facts, zips["state"].to_numpy(), rules=SETTINGS.truth, **options)


def test_every_fitting_member_really_fits_its_slot(region):
    """Each ZIP flagged as fitting satisfies its own slot's statement under the fit rule."""
    result = plan(region, max_slots=12, target=0.95)
    _, facts, _ = region
    for s, statement in enumerate(result.statements):
        rows = np.flatnonzero(result.labels == s)
        recomputed = fits(facts.take(rows), statement, SETTINGS.truth)
        assert (recomputed == result.fits[rows]).all()
    assert result.truth == round(result.fits.mean(), 4)


def test_reaches_the_target_within_budget_and_beats_baselines(region):
    """With enough budget it reaches the target, and beats k-means and DTW-only at equal k."""
    result = plan(region, max_slots=30, target=0.95)
    assert result.reached_target and len(result.statements) <= 30
    _, facts, _ = region
    scores = score_baselines(result.baseline_groupings, facts, None, SETTINGS.truth)
    assert result.truth >= scores["kmeans_raw"]["truthfulness"]
    assert result.truth >= scores["dtw_kmeans"]["truthfulness"]


def test_budget_is_respected_and_shortfall_reported(region):
    """A tiny budget caps the slot count and says the target was not reached."""
    result = plan(region, max_slots=2, target=0.99)
    assert len(result.statements) <= 2
    assert not result.reached_target and result.truth < 0.99
    assert len(result.labels) == len(region[0])  # every ZIP still has a slot


def test_same_seed_same_plan(region):
    """A fixed seed gives identical slots; reporting the stages changes nothing, and they
    come in order, each once, from the planning thread (the flow starts work on them)."""
    import threading

    stages = []
    a = plan(region, max_slots=8, random_state=3)
    b = plan(region, max_slots=8, random_state=3,
             on_stage=lambda name: stages.append((name, threading.current_thread())))
    assert (a.labels == b.labels).all() and a.statements == b.statements
    assert [name for name, _ in stages] == ["greedy", "baseline_starts", "milp_select",
                                            "dtw_membership"]
    assert {thread for _, thread in stages} == {threading.current_thread()}


def test_plan_is_within_a_point_of_the_lp_bound(region):
    """At the same slot count no plan can beat the LP bound; ours is within one point, and
    the bound it reports is the one an independent bound computation finds."""
    from pipeline.truth import coverage_bound

    result = plan(region, max_slots=15, target=1.0)
    _, facts, _ = region
    bound = coverage_bound(facts, None, SETTINGS.truth, len(result.statements))
    assert result.bound.k == len(result.statements)
    assert result.bound.value == pytest.approx(bound.value, abs=1e-6)
    assert result.truth <= bound.value + 1e-9
    assert bound.value - result.truth <= 0.01, (bound, result.truth)


def test_the_program_never_does_worse_than_its_start_and_keeps_floors(region):
    """The integer program's choice makes at least as much true as the greedy's; asked to,
    it keeps every state at its floor."""
    from pipeline.planning.plan import greedy_statements
    from pipeline.planning.select import select_statements
    from pipeline.truth import StatementPool

    zips, facts, _ = region
    _, codes = np.unique(zips["state"].to_numpy(), return_inverse=True)
    w = np.ones(len(facts))
    greedy, matrix, _ = greedy_statements(facts, w, codes, max_slots=10, target=1.0,
                                          rules=SETTINGS.truth)
    pool = StatementPool(facts, w, SETTINGS.truth, groups=codes)
    pool.bound(10)
    chosen = select_statements(pool, 10, greedy)
    assert len(chosen) <= 10
    after = np.stack([fits(facts, s, SETTINGS.truth) for s in chosen], axis=1).any(axis=1)
    assert after.sum() >= matrix.any(axis=1).sum()
    floor = 0.4  # a floor every state keeps with the greedy's plan here
    per_state = np.bincount(codes, matrix.any(axis=1)) / np.bincount(codes)
    assert (per_state >= floor).all()
    kept = select_statements(pool, 10, greedy, floor=floor)
    covered = np.stack([fits(facts, s, SETTINGS.truth) for s in kept], axis=1).any(axis=1)
    assert (np.bincount(codes, covered) / np.bincount(codes) >= floor - 1e-9).all()
    assert covered.sum() >= matrix.any(axis=1).sum()


def test_sky_is_stated_only_where_every_fitting_member_shares_it(region):
    """A slot says "sunny" only when each member it fits (and that chose it) is sunny."""
    from pipeline.truth import SKY_CATEGORIES

    result = plan(region, max_slots=12, target=1.0)
    _, facts, _ = region
    for s, statement in enumerate(result.statements):
        rows = np.flatnonzero((result.labels == s) & result.fits)
        if statement.sky is not None:
            assert (facts.sky[rows] == SKY_CATEGORIES.index(statement.sky)).all()
        else:
            assert len(set(facts.sky[rows].tolist())) != 1 or len(rows) == 0


def test_barycenters_are_the_same_in_one_thread_or_many(region, monkeypatch):
    """Small slots fit their barycenters in one thread (SERIAL_MAX_ROWS): the plan is the
    same, bit for bit, as with every slot fitted on all threads, or every slot in one."""
    import pipeline.planning.plan as planning

    plans = []
    for serial_below in (0, planning.SERIAL_MAX_ROWS, 10**9):
        monkeypatch.setattr(planning, "SERIAL_MAX_ROWS", serial_below)
        plans.append(plan(region, max_slots=10, n_jobs=2))
    for other in plans[1:]:
        assert np.array_equal(other.labels, plans[0].labels)
        assert np.array_equal(other.centers.view(np.int64), plans[0].centers.view(np.int64))
        assert np.array_equal(other.distances.view(np.int64), plans[0].distances.view(np.int64))


def test_barycenters_side_by_side_are_the_ones_fitted_in_turn(region, monkeypatch):
    """The slots' centers are fitted in threads beside each other (largest first): the plan is
    the one fitting them in turn gives (one worker, or a threading layer that takes no calls
    from several threads), bit for bit; also when every slot's own fit is multi-threaded
    (``SERIAL_MAX_ROWS`` 0: parallel regions started from several pool threads at once)."""
    import pipeline.planning.plan as planning
    from pipeline.cluster.metrics import n_threads

    in_turn = []
    monkeypatch.setattr(planning, "_numba_takes_threads", lambda: False)
    in_turn.append(plan(region, max_slots=10, n_jobs=2))
    monkeypatch.undo()
    in_turn.append(plan(region, max_slots=10, n_jobs=1))
    pools: list[int] = []
    real_pool = planning.ThreadPoolExecutor

    def counting_pool(*args, **kwargs):  # type: ignore[no-untyped-def]
        pools.append(args[0])
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(planning, "ThreadPoolExecutor", counting_pool)
    side_by_side = [plan(region, max_slots=10, n_jobs=2)]
    monkeypatch.setattr(planning, "SERIAL_MAX_ROWS", 0)
    side_by_side.append(plan(region, max_slots=10, n_jobs=2))
    # the barycenters' pools (the LP bound's has one thread), where this machine has them
    threads_here = n_threads(2) >= 2 and planning._numba_takes_threads()
    assert pools.count(2) == (4 if threads_here else 0), pools
    for threaded in side_by_side:
        for other in in_turn:
            assert np.array_equal(other.labels, threaded.labels)
            assert np.array_equal(other.centers.view(np.int64), threaded.centers.view(np.int64))
            assert np.array_equal(other.distances.view(np.int64),
                                  threaded.distances.view(np.int64))


def test_numba_takes_threads_knows_its_layer():
    """Before any parallel kernel has run, numba has chosen no layer: fit in turn. After one,
    omp and tbb take calls from several threads; workqueue does not."""
    from tests.test_imports import printed

    code = (
        "import json, numba, numpy as np\n"
        "from pipeline.planning.plan import _numba_takes_threads\n"
        "from pipeline.cluster import cdist_dtw\n"
        "before = _numba_takes_threads()\n"
        "cdist_dtw(np.zeros((3, 4, 1)), np.ones((2, 4, 1)), window=1)\n"
        "print(json.dumps([before, _numba_takes_threads(), numba.threading_layer()]))\n"
    )
    before, after, layer = printed(code)
    assert before is False
    assert after == (layer in ("omp", "tbb"))
