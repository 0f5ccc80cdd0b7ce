"""The integer program's share of a national run, and what a faster solve would change.

Usage::

    .venv/bin/python bench/bench_milp.py            # January, July, December synthetic, real Eta
    .venv/bin/python bench/bench_milp.py --no-real  # without ../shared

The planner's integer program (:func:`pipeline.planning.select.select_statements`, HiGHS on one
core) is 5-6 s of a national run's planning; issue 17 asks for planning in 4 s *and* for results
identical to today's. This benchmark says whether both can hold. For each case it plans the
national run as the flow does (the same inputs, :func:`pipeline.run.cluster_locations`),
records every call of the integer program (pool, slot count, start, floor), then solves each
again: as shipped, and with each HiGHS setting of :data:`VARIANTS` that could make it faster.
Per call and setting: the seconds, the covered weight (the objective: the plan's
truthfulness), and whether the chosen statements are the shipped ones.

When a setting finds the same covered weight but other statements, the program has more than
one best answer, and which one comes out depends on the solver's path: any change to that path
(a setting, a warm start, a HiGHS upgrade) changes the slots editors get, not their
truthfulness. That is the decision this file leaves to the product (see the README).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

#: HiGHS settings that could shorten the solve (each alone; ``{}`` is the shipped program)
VARIANTS: dict[str, dict[str, Any]] = {
    "shipped": {},
    "no_root_reduced_cost_heuristic": {"mip_heuristic_run_root_reduced_cost": False},
    "no_rins_rens": {"mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False},
    "no_feasibility_jump": {"mip_heuristic_run_feasibility_jump": False},
    "heuristic_effort_0": {"mip_heuristic_effort": 0.0},
    "presolve_off": {"presolve": "off"},
    "rel_gap_1e-4": {"mip_rel_gap": 1e-4},
    # a smaller deterministic work limit (the shipped one is select.MAX_NODES; a probe of the
    # fewest-slots bisection keeps its own when that is smaller): may give up some truth
    "max_nodes_1000": {"max_nodes": 1000},
    "max_nodes_200": {"max_nodes": 200},
}

CASES = {
    "synthetic_january": {"issue_time": "2026-01-15T09:00Z"},
    "synthetic_july": {"issue_time": "2026-07-15T09:00Z"},
    # a slow day: the forecast of 2026-12-04 17Z, whose program took 14.5 s in `make run`
    "synthetic_december": {"issue_time": "2026-12-04T17:00Z"},
    "real_eta": {"issue_time": None, "source": "gridded", "window": "full"},
}


def plan_inputs(case: dict[str, Any], data_dir: Path) -> tuple[Any, ...]:
    """The flow's planning inputs for one case: series, facts, states, params, settings."""
    os.environ["ZIPCAST_DATA_DIR"] = str(data_dir)
    from pipeline import geo, ingest, sources
    from pipeline.features import build_series, zip_facts
    from pipeline.run.params import RunParams
    from pipeline.settings import Settings

    settings = Settings()
    zips = geo.load_zips()
    source = case.get("source", "synthetic")
    raw = sources.fetch_raw(source, zips, case["issue_time"], seed=settings.seed,
                            hours=settings.horizon_hours, path=case.get("path"),
                            settings=settings)
    got = ingest.check_and_keep(raw, zips, source=source, issue_time=case["issue_time"],
                                settings=settings, options={})
    zips = ingest.covered_zips(zips, got, None)
    params = RunParams.from_settings(settings, issue_time=got.issue_time, source=source,
                                     window=case.get("window"))
    series = build_series(got.forecast, zips, window=params.window, settings=settings,
                          issue_time=got.issue_time)
    return series, zip_facts(series, settings.facts), zips["state"].to_numpy(), params, settings


def recorded_calls(series, facts, states, params, settings) -> tuple[list[dict], Any, float]:  # type: ignore[no-untyped-def]
    """Plan once, recording each call of the integer program; also the plan and its seconds."""
    import pipeline.planning.plan as plan_module
    from pipeline.run import cluster_locations

    calls: list[dict[str, Any]] = []
    shipped = plan_module.select_statements

    def recording(pool, k, start, **options):  # type: ignore[no-untyped-def]
        chosen = shipped(pool, k, start, **options)
        calls.append({"statements": list(pool.statements), "k": k, "start": list(start),
                      "options": options, "chosen": list(chosen)})
        return chosen

    plan_module.select_statements = recording
    try:
        start = time.perf_counter()
        clustering = cluster_locations(series, facts, states, params, settings.truth)
        seconds = time.perf_counter() - start
    finally:
        plan_module.select_statements = shipped
    return calls, clustering, seconds


def solve_again(call: dict[str, Any], facts, states, rules, options: dict[str, Any]  # type: ignore[no-untyped-def]
                ) -> dict[str, Any]:
    """One recorded call solved again with HiGHS ``options`` on top of the shipped ones
    (``max_nodes``: the program's own node limit, lowered)."""
    import pipeline.planning.select as select
    from pipeline.truth import FactArrays, StatementPool

    _, codes = np.unique(states, return_inverse=True)
    pool = StatementPool(FactArrays.from_frame(facts), None, rules, groups=codes)
    pool.add(call["statements"])  # the same columns in the same order
    quiet = select.quiet_highs

    def configured():  # type: ignore[no-untyped-def]
        h = quiet()
        for name, value in options.items():
            h.setOptionValue(name, value)
        return h

    kwargs = dict(call["options"])
    if "max_nodes" in options:  # select_statements sets the node limit itself
        options = dict(options)
        nodes = options.pop("max_nodes")
        kwargs["max_nodes"] = min(nodes, kwargs.get("max_nodes") or select.MAX_NODES)
    select.quiet_highs = configured
    try:
        start = time.perf_counter()
        chosen = select.select_statements(pool, call["k"], call["start"], **kwargs)
        seconds = time.perf_counter() - start
    finally:
        select.quiet_highs = quiet
    return {"seconds": round(seconds, 2),
            "covered_weight": select._weight(pool, pool.add(chosen)),
            "same_statements": chosen == call["chosen"],
            "statements_not_shipped": len(set(chosen) - set(call["chosen"]))}


def run_case(name: str, case: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zipcast-milp-") as data_dir:
        inputs = plan_inputs(case, Path(data_dir))
    calls, clustering, plan_seconds = recorded_calls(*inputs)
    facts, states, settings = inputs[1], inputs[2], inputs[4]
    out: dict[str, Any] = {
        "n_zips": len(states), "slots": len(clustering.statements),
        "truthfulness": clustering.truth, "chosen_from": clustering.chosen_from,
        "planning_seconds": round(plan_seconds, 2), "planning": clustering.seconds,
        "calls": [],
    }
    for i, call in enumerate(calls):
        row: dict[str, Any] = {"k": call["k"], "pool": len(call["statements"]),
                               "floor": call["options"].get("floor"),
                               "max_nodes": call["options"].get("max_nodes"), "variants": {}}
        for variant, options in VARIANTS.items():
            row["variants"][variant] = solve_again(call, facts, states, settings.truth, options)
            print(f"{name} call {i + 1}/{len(calls)} {variant}: {row['variants'][variant]}",
                  flush=True)
        out["calls"].append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-real", action="store_true", help="skip the real Eta case")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "milp.json")
    args = parser.parse_args()
    from importlib.metadata import version

    from bench_run import machine, real_eta_dir

    cases = dict(CASES)
    if args.no_real:
        cases.pop("real_eta")
    else:
        cases["real_eta"] = {**cases["real_eta"], "path": str(real_eta_dir()),
                             "issue_time": "2004-12-08T00:00Z"}
    try:
        results = {name: run_case(name, case) for name, case in cases.items()}
    finally:
        if "path" in cases.get("real_eta", {}):
            shutil.rmtree(Path(cases["real_eta"]["path"]).parent, ignore_errors=True)
    shipped = [c["variants"]["shipped"] for r in results.values() for c in r["calls"]]
    report = {
        "benchmark": "the planner's integer program solved again with faster HiGHS settings: "
                     "seconds, covered weight, same statements as shipped",
        "command": ".venv/bin/python bench/bench_milp.py",
        "machine": {**machine(), "highspy": version("highspy")},
        "variants": VARIANTS,
        "shipped_reproduced": all(c["same_statements"] for c in shipped),
        "cases": results,
        "verdict": verdict(results),
    }
    args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(json.dumps(report["verdict"], indent=1))
    print(f"wrote {args.out}")


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """Per variant: seconds saved over all calls, and in how many calls it picked other
    statements covering the same weight (another best answer), more, or less."""
    out = {}
    for variant in VARIANTS:
        saved, same, more, less, calls = 0.0, 0, 0, 0, 0
        for result in results.values():
            for call in result["calls"]:
                got, base = call["variants"][variant], call["variants"]["shipped"]
                calls += 1
                saved += base["seconds"] - got["seconds"]
                if got["same_statements"]:
                    continue
                gain = got["covered_weight"] - base["covered_weight"]
                same += abs(gain) <= 1e-9
                more += gain > 1e-9
                less += gain < -1e-9
        out[variant] = {"seconds_saved": round(saved, 2), "calls": calls,
                        "other_statements_same_truthfulness": same,
                        "other_statements_more_truthful": more,
                        "other_statements_less_truthful": less}
    return out


if __name__ == "__main__":
    main()
