"""Replays: recompute a stored run from its own snapshot and parameters, and compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import ingest
from pipeline.run.params import RunParams
from pipeline.settings import Settings
from pipeline.store import load_run
from pipeline.store.assignments import read_assignments


def replay_params(stored: dict[str, Any]) -> RunParams:
    """The parameters of a stored run (``store.load_run``), reading its ingest snapshot.

    Every parameter comes from the run's own record, not from today's settings, so
    ``zipcast run --replay RUN_ID`` recomputes the run exactly as it was made.
    """
    snapshot = (stored.get("summary") or {}).get("snapshot")
    if not snapshot:
        raise ValueError(f"run {stored['id']} recorded no ingest snapshot, so it cannot be "
                         "replayed; runs made since snapshots exist can")
    known = set(RunParams.__dataclass_fields__)
    values = {k: v for k, v in (stored.get("params") or {}).items() if k in known}
    values["replay"] = snapshot
    return RunParams(**values)


def compare_runs(original: Path, replayed: Path, limit: int = 10) -> dict[str, Any]:
    """Do two run folders hold identical slots? Membership (ZIP → slot), each ZIP's fit and
    distance, and each slot's name, facts, statement and draft message are compared."""
    differences: list[str] = []
    a, b = (_assignments(folder) for folder in (original, replayed))
    if not a.index.equals(b.index):
        differences.append(f"ZIPs differ: {len(a.index.symmetric_difference(b.index))} "
                           "in only one run")
    else:
        for column in sorted(set(a.columns) & set(b.columns)):
            left, right = a[column], b[column]
            same = (left == right) | (left.isna() & right.isna())
            if not same.all():
                bad = same.index[~same.to_numpy()][:3]
                differences.append(f"{column} differs for {int((~same).sum())} ZIPs, e.g. "
                                   + ", ".join(f"{z}: {left[z]!r} vs {right[z]!r}" for z in bad))
    slots_a = json.loads((Path(original) / "slots.json").read_text())
    slots_b = json.loads((Path(replayed) / "slots.json").read_text())
    if len(slots_a) != len(slots_b):
        differences.append(f"{len(slots_a)} slots vs {len(slots_b)}")
    for x, y in zip(slots_a, slots_b, strict=False):
        for key in sorted(set(x) | set(y)):
            if key in ("run_id",):
                continue
            if x.get(key) != y.get(key):
                differences.append(f"slot {x.get('slot_id')}: {key} differs")
    return {"identical": not differences, "n_slots": len(slots_b),
            "n_zips": int(len(b)), "differences": differences[:limit]}


def _assignments(run_dir: str | Path) -> pd.DataFrame:
    frame = read_assignments(run_dir)
    if frame is None:
        raise FileNotFoundError(f"{run_dir} has no assignments.parquet")
    return frame.set_index("zip").sort_index()


def load_replay(replay: str, settings: Settings
                ) -> tuple[RunParams | None, dict[str, Any] | None, ingest.Ingest]:
    """What ``--replay`` names: a snapshot id ("source/stamp") gives its ingest only; a
    stored run id gives the run's own parameters, its record and its snapshot's ingest."""
    if "/" in replay:
        return None, None, ingest.replay(replay, settings)
    original = load_run(settings.db_url, replay)
    params = replay_params(original)
    got = ingest.replay(params.replay or "", settings)
    recorded = (original["summary"] or {}).get("snapshot_sha256")
    if recorded and recorded != got.sha256:
        got.log_lines.append(f"warning: snapshot {got.snapshot_id} changed since run {replay} "
                             f"(sha256 {recorded[:12]}… then, {got.sha256[:12]}… now)")
    return params, original, got
