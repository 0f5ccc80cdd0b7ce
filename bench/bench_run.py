"""Benchmark a national run: time, memory, truthfulness against its LP bound over k, baselines.

Usage::

    .venv/bin/python bench/bench_run.py                      # synthetic, 2026-01-15 09Z
    .venv/bin/python bench/bench_run.py --issue-time 2026-07-15T09:00Z --out run-summer.json
    .venv/bin/python bench/bench_run.py --real               # real Eta GRIB bytes, 24 h, 3-hourly
    .venv/bin/python bench/bench_run.py --prefect local --out bench/results/run_profile.json
    .venv/bin/python bench/bench_run.py --prefect local --under-load --out run_load.json

The flow runs in a fresh child process (cold: nothing imported, an empty numba cache unless
``--warm-cache``) on Prefect's temporary server, or with ``--prefect local`` on the shared
local server of ``zipcast server start`` (started first when none answers: a machine keeps
one up), twice (cold, then warm in the same process). ``--under-load`` starts a second
national run in another process at the same moment.
``profile`` says where every second goes, measured from the child's process start: the
interpreter, the imports, the Prefect server's start, and for each run the flow call's wall
time split into the steps, the cluster step's planning sub-steps (greedy, baseline starts,
LP bound, MILP select, DTW membership) and Prefect's own overhead, with the child's peak
memory. ``flow_seconds`` is the sum of the run's own steps; ``wall_seconds`` also counts
Prefect. Then, from the run's own facts (skip with ``--no-curve``), the truthfulness curve:
for each slot count k, what the planner's statements make true (greedy cover, then swaps) and
the LP upper bound on what any k statements could (:mod:`pipeline.truth.bound`); the gap
between them is the planner's to close, the rest is the rule's.

Then, unless ``--under-load``, the same run as a person types it (``zipcast run`` with the
same options, a fresh data folder, the project's numba cache): ``command`` is its wall time
from spawn to the process's exit, which is what the issue's 15 s is about
(``profile_seconds.zipcast_run_command_wall``), and how long the exit took after its last line.

``--real`` builds 8 three-hourly GRIB2 files from the real Eta messages in
``../shared/data/real-forecasts`` (``tests/pipeline/sources/grib_steps.py``: the real grid and
fields, a diurnal swing added) and runs ``--source gridded --window full`` on them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from flows.env import quiet_prefect  # noqa: E402

quiet_prefect()
# measure the whole job every time: no reuse of a cached ingest of the same issue time
os.environ.setdefault("ZIPCAST_FLOWS__INGEST_CACHE_HOURS", "0")

CURVE_K = (10, 20, 30, 40, 50, 60)


def machine() -> dict:
    """The machine (see bench/machine.py) and the commit measured."""
    from machine import machine_info

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    return {**machine_info(), "git_commit": commit}


def truth_curve(run_dir: Path, ks: tuple[int, ...]) -> list[dict]:
    """Planner vs LP bound at each k, from the run folder's facts (ZIP-weighted)."""
    import pandas as pd

    from pipeline.planning.plan import plan_statements
    from pipeline.settings import get_settings
    from pipeline.truth import FactArrays, coverage_bound

    rules = get_settings().truth
    assignments = pd.read_parquet(run_dir / "assignments.parquet")
    facts = FactArrays.from_frame(assignments)
    states = assignments["state"].to_numpy()
    points = []
    for k in ks:
        start = time.perf_counter()
        found = plan_statements(facts, states, max_slots=k, target=1.0, rules=rules)
        planned = float(found.fit_matrix.any(axis=1).mean())
        plan_s = time.perf_counter() - start
        bound = coverage_bound(facts, None, rules, k, start=found.statements, time_limit_s=300)
        points.append({"k": k, "planner": round(planned, 4), "bound": round(bound.value, 4),
                       "bound_converged": bound.converged,
                       "gap_points": round(100 * (bound.value - planned), 2),
                       "plan_seconds": round(plan_s, 2), "bound_seconds": bound.seconds})
        print(json.dumps(points[-1]), file=sys.stderr)
    return points


def real_eta_dir() -> Path:
    """8 three-hourly GRIB2 files from the real Eta messages (needs ../shared)."""
    from tests.pipeline.sources.grib_steps import make_gridded_dir

    source = ROOT.parent / "shared" / "data" / "real-forecasts" / "eta_grid211_f24.grib1"
    if not source.exists():
        sys.exit(f"--real needs {source}")
    dest = Path(tempfile.mkdtemp(prefix="zipcast-eta-")) / "run"
    make_gridded_dir(source, dest, n_steps=8)
    return dest


def since_start() -> float:
    """Seconds since this process started (the interpreter's own start-up included)."""
    import psutil

    return time.time() - psutil.Process().create_time()


def child(options: dict, out: Path) -> None:
    """The measured process: imports, Prefect's server, a cold run and a warm run."""
    profile: dict[str, Any] = {"interpreter_seconds": round(since_start(), 2)}
    start = time.perf_counter()
    from flows.server import attach
    from pipeline.settings import get_settings

    chosen = attach(get_settings())  # as `zipcast run` does, before Prefect reads settings
    import pipeline.run  # noqa: F401 - timed: what `zipcast run` imports
    from flows.twice_daily import twice_daily

    profile["import_seconds"] = round(time.perf_counter() - start, 2)
    profile["import_modules"] = len(sys.modules)
    if hasattr(sys.modules["flows.twice_daily"], "import_later_steps"):
        # as `zipcast run` does before the flow: the later steps' modules load in a thread
        sys.modules["flows.twice_daily"].import_later_steps()
    start = time.perf_counter()
    if chosen.url:
        profile["prefect_server"] = chosen.how
    else:  # the temporary server the flow call would start: started here to time it alone
        from prefect.server.api.server import SubprocessASGIServer

        SubprocessASGIServer().start()
        profile["prefect_server"] = "temporary (embedded)"
    profile["prefect_server_start_seconds"] = round(time.perf_counter() - start, 2)
    import flows.runners

    # as `zipcast run` does: a run started by hand sends no Prefect heartbeats
    by_hand = getattr(flows.runners, "by_hand", contextlib.nullcontext)
    runs = []
    for attempt in ("cold", "warm"):
        start = time.perf_counter()
        with by_hand():
            summary = twice_daily(**options).to_json()  # plain JSON types
        wall = time.perf_counter() - start
        steps = summary["seconds"]
        runs.append({
            "run": attempt, "wall_seconds": round(wall, 2), "steps": steps,
            "planning": summary["clustering"].get("seconds", {}),
            "prefect_overhead_seconds": round(wall - steps["total"], 2),
            "since_process_start_seconds": round(since_start(), 2),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "summary": summary,
        })
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "summary"}),
              file=sys.stderr)
    profile["runs"] = runs
    out.write_text(json.dumps(profile))


def numba_cache_files(where: Path) -> int:
    """How many numba cache index files (``*.nbi``) lie under ``where``."""
    return sum(1 for _ in where.rglob("*.nbi")) if where.exists() else 0


def local_server() -> str:
    """The shared local Prefect server (`zipcast server start`), started if none answers."""
    from flows.server import answers, local_url, start
    from pipeline.settings import get_settings

    settings = get_settings()
    if not answers(local_url(settings)):
        start(settings, say=lambda line: print(line, file=sys.stderr))
    return local_url(settings)


def profiled(options: dict, warm_cache: bool, prefect: str = "temporary",
             load: bool = False) -> dict[str, Any]:
    """Run :func:`child` in a fresh process; its profile, with the numba cache state.

    ``prefect``: ``temporary`` (the child starts Prefect's own temporary server, timed) or
    ``local`` (the shared server of `zipcast server start`, as a deployed machine has it).
    ``load``: a second national run in another process at the same time (own data folder),
    started with the measured one.
    """
    env = dict(os.environ)
    env["ZIPCAST_FLOWS__PREFECT_SERVER"] = "ephemeral" if prefect == "temporary" else "auto"
    scratch = Path(tempfile.mkdtemp(prefix="zipcast-bench-"))
    if warm_cache:
        cache = Path(env.get("NUMBA_CACHE_DIR") or ROOT / "pipeline")
    else:
        cache = scratch / "numba-cache"
        cache.mkdir()
        env["NUMBA_CACHE_DIR"] = str(cache)
    cache_state = {"dir": str(cache), "nbi_files_before": numba_cache_files(cache),
                   "mode": "project cache (warm disk cache possible)" if warm_cache
                   else "empty NUMBA_CACHE_DIR: every kernel compiles (cold)"}
    out = scratch / "profile.json"
    start = time.perf_counter()
    command = [sys.executable, __file__, "--child", str(out), "--options", json.dumps(options)]
    other = None
    if load:
        (scratch / "load").mkdir()
        other = subprocess.Popen(  # noqa: S603 - this script, this interpreter
            [*command[:3], str(scratch / "load" / "profile.json"), *command[4:]],
            env={**env, "ZIPCAST_DATA_DIR": str(scratch / "load")}, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(command, env=env, check=True, cwd=ROOT)  # noqa: S603
    if other is not None:
        other.wait()
    profile = json.loads(out.read_text())
    profile["process_wall_seconds"] = round(time.perf_counter() - start, 2)
    cache_state["nbi_files_after"] = numba_cache_files(cache)
    profile["numba_cache"] = cache_state
    # the child's children (the Prefect server, Dask workers) are not in its own maxrss
    profile["peak_rss_mib_children"] = (
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
    return profile


def command_wall(options: dict, prefect: str) -> dict[str, Any]:
    """The same run as the command a person types (``zipcast run``), from spawn to exit.

    The child above times the flow call; a person also waits for the interpreter to exit
    (1.2 s at national scale before ``flows.cli.main`` froze the garbage collector). It uses
    the project's numba cache (as a command after ``make setup`` does), also when the child
    ran with an empty one.
    """
    flags = {"issue_time": "--issue-time", "seed": "--seed", "target_truth": "--target-truth",
             "source": "--source", "path": "--path", "window": "--window"}
    # `zipcast` is flows.cli:main; run from this checkout (a worktree has no .venv of its own)
    args = [sys.executable, "-m", "flows.cli", "run"]
    for key, flag in flags.items():
        if options.get(key) is not None:
            args += [flag, str(options[key])]
    if options.get("states"):
        args += ["--states", ",".join(options["states"])]
    output: list[str] = []
    with tempfile.TemporaryDirectory(prefix="zipcast-bench-cmd-") as data:
        env = {**os.environ, "ZIPCAST_DATA_DIR": data,
               "ZIPCAST_FLOWS__PREFECT_SERVER": "ephemeral" if prefect == "temporary"
               else "auto"}
        start = time.perf_counter()
        last = start
        with subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE,  # noqa: S603
                              stderr=subprocess.STDOUT, text=True) as command:
            assert command.stdout is not None
            for line in command.stdout:
                last = time.perf_counter()
                output.append(line)
        wall = time.perf_counter() - start
    if command.returncode:
        sys.stderr.writelines(output[-40:])
        raise SystemExit(f"{' '.join(args)} failed ({command.returncode}); its last lines above")
    return {"command": " ".join(["zipcast", *args[3:]]), "wall_seconds": round(wall, 2),
            "last_line_at": round(last - start, 2),
            "exit_after_last_line_seconds": round(wall - (last - start), 2)}


def breakdown(profile: dict[str, Any]) -> dict[str, Any]:
    """Top level: where the cold process's seconds went, from its start."""
    cold = profile["runs"][0]
    return {
        "interpreter": profile["interpreter_seconds"],
        "imports": profile["import_seconds"],
        "prefect_server_start": profile["prefect_server_start_seconds"],
        "prefect_flow_overhead": cold["prefect_overhead_seconds"],
        "flow_steps": cold["steps"]["total"],
        "cold_run_done_at": cold["since_process_start_seconds"],
        "warm_run_wall": profile["runs"][1]["wall_seconds"],
        **({"zipcast_run_command_wall": profile["command"]["wall_seconds"]}
           if "command" in profile else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", default=None)
    parser.add_argument("--issue-time", default="2026-01-15T09:00:00Z")
    parser.add_argument("--target-truth", type=float, default=0.97)
    parser.add_argument("--real", action="store_true",
                        help="real Eta GRIB bytes, 24 h, 3-hourly, --window full")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--warm-cache", action="store_true",
                        help="keep the project's numba cache (default: an empty one, cold)")
    parser.add_argument("--no-curve", action="store_true",
                        help="skip the truthfulness curve (LP bounds at several k)")
    parser.add_argument("--prefect", choices=("temporary", "local"), default="temporary",
                        help="temporary: Prefect's own server, started by the run (default); "
                        "local: the shared server of `zipcast server start`")
    parser.add_argument("--under-load", action="store_true",
                        help="a second national run in another process at the same time")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--options", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.options), args.child)
        return

    states = args.states.split(",") if args.states else None
    options: dict = {"issue_time": args.issue_time, "states": states, "seed": 0,
                     "target_truth": args.target_truth}
    case = f"synthetic, morning window, issue time {args.issue_time}"
    if args.real:
        options.update(source="gridded", path=str(real_eta_dir()), window="full",
                       issue_time="2004-12-08T00:00:00Z")
        case = "real Eta grid-211 GRIB messages (8 three-hourly steps), --window full"
    out = args.out or ROOT / "bench" / "results" / ("run_real.json" if args.real else "run.json")
    if args.prefect == "local":
        local_server()
    profile = profiled(options, args.warm_cache, args.prefect, args.under_load)
    if not args.under_load:  # alone, after the child: what a person waits for
        profile["command"] = command_wall(options, args.prefect)
    runs = []
    for measured in profile["runs"]:
        summary = measured.pop("summary")
        truth = summary["truthfulness"]
        runs.append({"run": measured["run"], "wall_seconds": measured["wall_seconds"],
                     "flow_seconds": summary["seconds"]["total"],
                     "seconds": summary["seconds"],
                     "planning_seconds": measured["planning"],
                     "n_zips": summary["n_zips"],
                     "n_slots": summary["n_slots"], "truthfulness": truth["national"],
                     "upper_bound": truth.get("upper_bound"),
                     "states_below_floor": truth["states_below_floor"],
                     "n_automatic": truth["n_automatic"],
                     "baselines": summary["baselines"]})
    run_dir = Path(summary["artifacts"]["summary.json"]).parent
    ks = tuple(sorted({*(k for k in CURVE_K if k <= summary["n_slots"]), summary["n_slots"]}))
    curve = [] if args.no_curve else truth_curve(run_dir, ks)
    last = runs[-1]
    result = {
        "benchmark": f"national zipcast run ({case}, budget 60 slots, target truthfulness "
                     f"{args.target_truth})",
        "command": " ".join([".venv/bin/python bench/bench_run.py", *sys.argv[1:]]),
        "prefect": args.prefect,
        "under_load": args.under_load,
        "machine": machine(),
        "rule": summary["truthfulness"].get("rule"),
        "profile_seconds": breakdown(profile),
        "profile": profile,
        "runs": runs,
        "truth_curve": curve,
        "peak_rss_mib": max(r["peak_rss_mib"] for r in profile["runs"]),
        "targets": {
            "truthfulness_min": 0.97 if not args.real else 0.95,
            "truthfulness_met": last["truthfulness"] >= (0.95 if args.real else 0.97),
            "no_state_below_floor": not last["states_below_floor"],
            "within_1_point_of_bound": (last["upper_bound"] or {}).get("gap_points", 99) <= 1,
            "beats_every_baseline": all(last["truthfulness"] > b["truthfulness"]
                                        for b in last["baselines"].values()),
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
