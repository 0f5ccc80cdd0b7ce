"""Persist a run: its folder of files and its database rows, each all-or-nothing.

``data/runs/<run_id>/`` holds forecast.parquet, assignments.parquet, slots.json and
summary.json. The folder is written under a temporary name and renamed into place, and the
database rows go in one transaction, so a crash never leaves half a run behind.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pandas as pd
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from pipeline.files import temp_beside
from pipeline.slots import PreviousRun, Slot
from pipeline.snapshots import file_sha256
from pipeline.store.db import session_scope
from pipeline.store.models import Run, SlotMember
from pipeline.store.models import Slot as SlotRow
from pipeline.store.summary import RunSummary
from pipeline.times import utc

RUN_FILES = ("forecast.parquet", "assignments.parquet", "slots.json", "summary.json")


class RunNotFound(LookupError):
    """No run with that id is stored."""


class StagedForecast:
    """The run folder's ``forecast.parquet``, written early, in a thread beside the run.

    The forecast is known once the ingest is; the flow starts writing it (3M rows, about
    0.6 s) as planning starts, where a core is free (the greedy and the integer program are
    single-threaded), instead of adding it to the store step. The file is written beside
    the run folder under a dot name of its own (two runs of the same id never share it) and
    moved in by :func:`write_run_folder`, so the run folder is never half-written; a failed
    write removes its file, and only a process killed mid-run leaves one behind.
    """

    def __init__(self, runs_dir: Path, run_id: str, forecast: pd.DataFrame) -> None:
        Path(runs_dir).mkdir(parents=True, exist_ok=True)
        self.path = temp_beside(Path(runs_dir), f".{run_id}.forecast.")
        self._done = threading.Event()
        self._error: BaseException | None = None
        self.sha256 = ""
        threading.Thread(target=self._write, args=(forecast,), daemon=True,
                         name=f"forecast-{run_id}").start()

    def _write(self, forecast: pd.DataFrame) -> None:
        try:
            forecast.to_parquet(self.path, index=False)
            self.sha256 = file_sha256(self.path)
        except BaseException as err:  # noqa: BLE001 - raised where the file is wanted
            self._error = err
        finally:
            self._done.set()

    def move_to(self, target: Path) -> str:
        """Wait for the file, move it to ``target`` and return its sha256 (a failed write
        raises here, in the store step; so does a second move)."""
        self._done.wait()
        if self._error is not None:
            self.path.unlink(missing_ok=True)
            raise self._error
        if not self.path.exists():
            raise RuntimeError(f"the early forecast file {self.path.name} was moved already")
        os.replace(self.path, target)
        return self.sha256


def write_run_folder(
    runs_dir: Path,
    run_id: str,
    forecast: pd.DataFrame | StagedForecast,
    assignments: pd.DataFrame,
    slots: list[Slot],
    summary: RunSummary,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Write the run folder atomically and return its path. Adds artifact paths to summary.

    ``forecast`` is the run's forecast rows, or a :class:`StagedForecast` of them (already
    being written). ``extra_files`` maps file names to text content (e.g. ``map.svg``).
    """
    final = runs_dir / run_id
    staging = runs_dir / f".{run_id}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if isinstance(forecast, StagedForecast):
        summary.forecast_sha256 = forecast.move_to(staging / "forecast.parquet")
    else:
        forecast.to_parquet(staging / "forecast.parquet", index=False)
        summary.forecast_sha256 = file_sha256(staging / "forecast.parquet")
    assignments.to_parquet(staging / "assignments.parquet", index=False)
    (staging / "slots.json").write_text(
        json.dumps([s.to_json() for s in slots], indent=1, default=_json_default)
    )
    for name, text in (extra_files or {}).items():
        (staging / name).write_text(text)
    summary.artifacts = {name: str(final / name) for name in [*RUN_FILES, *(extra_files or {})]}
    write_summary(staging, summary)
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    return final


def write_summary(run_dir: Path, summary: RunSummary) -> None:
    """Replace ``summary.json`` atomically (write beside it, then rename)."""
    staging = run_dir / ".summary.json.partial"
    staging.write_text(summary.model_dump_json(indent=2))
    staging.replace(run_dir / "summary.json")


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def save_run(
    url: str,
    *,
    run_id: str,
    issue_time: pd.Timestamp,
    source: str,
    window: str,
    params: dict[str, Any],
    summary: RunSummary,
    run_dir: Path,
    slots: list[Slot],
    assignments: pd.DataFrame,
    status: str = "complete",
) -> None:
    """Insert the run, its slots and members in one transaction (replacing a rerun's rows).

    ``status`` is ``complete``, or ``replay`` for a recomputation (``--replay``), which is kept
    for comparison only: dispatch, deadlines and the next run's slot ids ignore it.
    """
    with session_scope(url) as session:
        session.execute(delete(SlotMember).where(SlotMember.run_id == run_id))
        session.execute(delete(SlotRow).where(SlotRow.run_id == run_id))
        session.execute(delete(Run).where(Run.id == run_id))
        session.add(
            Run(
                id=run_id,
                created_at=datetime.now(UTC),
                issue_time=issue_time.to_pydatetime(),
                source=source,
                window=window,
                status=status,
                n_zips=int(len(assignments)),
                n_slots=len(slots),
                params=json.loads(json.dumps(params, default=_json_default)),
                summary=summary.to_json(),
                run_dir=str(run_dir),
            )
        )
        session.flush()
        session.execute(
            insert(SlotRow),
            [
                {
                    "id": f"{run_id}/{s.slot_id}",
                    "run_id": run_id,
                    "slot_id": s.slot_id,
                    "rank": rank,
                    "name": s.name,
                    "headline": s.headline,
                    "n_zips": s.n_zips,
                    "n_fit": s.n_fit,
                    "states": s.states,
                    "facts": json.loads(json.dumps(s.facts, default=_json_default)),
                    "representative": s.representative,
                    "medoid_zip": s.medoid_zip,
                    "draft_message": s.draft_message,
                    "carried_from": getattr(s, "carried_from", None),
                }
                for rank, s in enumerate(slots, start=1)
            ],
        )
        # 41k members: a Core insert on the session's connection (the same transaction)
        # skips the ORM's per-row bookkeeping, half the time of session.execute
        session.connection().execute(
            insert(cast(Table, SlotMember.__table__)),
            [
                {"run_id": run_id, "zip": z, "slot_id": sid, "distance": d,
                 "fits": ok, "automatic": auto}
                for z, sid, d, ok, auto in zip(
                    *(assignments[c].tolist() for c in ("zip", "slot_id")),
                    assignments["distance"].to_numpy(float).tolist(),
                    assignments["fits"].to_numpy(bool).tolist(),
                    assignments["automatic"].to_numpy(bool).tolist(), strict=True,
                )
            ],
        )


def previous_run(url: str, params: Any, *, run_id: str | None = None) -> PreviousRun | None:
    """The newest stored run before this one with the same source, window and states; or,
    given ``run_id`` (a replay names the one its original followed), that run."""
    with session_scope(url) as session:
        if run_id is not None:
            run = session.get(Run, run_id)
        else:
            candidates = session.scalars(
                select(Run)
                .where(Run.source == params.source, Run.window == params.window,
                       Run.id != params.run_id, Run.status != "replay",
                       Run.issue_time < pd.Timestamp(params.issue_time).to_pydatetime())
                .order_by(Run.issue_time.desc(), Run.created_at.desc())
            )
            run = next((r for r in candidates if r.params.get("states") == params.states),
                       None)
        if run is None:
            return None
        members = session.execute(
            select(SlotMember.zip, SlotMember.slot_id).where(SlotMember.run_id == run.id)
        ).all()
        names = {s.slot_id: s.name for s in run.slots}
        return PreviousRun(
            run_id=run.id,
            membership=pd.Series(dict(members), dtype=object),
            names=names,
        )


def load_run(url: str, run_id: str | None = None) -> dict[str, Any]:
    """The stored run (newest when ``run_id`` is None) with its slots, as plain dicts."""
    with session_scope(url) as session:
        query = select(Run).order_by(Run.created_at.desc()).limit(1)
        if run_id is not None:
            query = select(Run).where(Run.id == run_id)
        run = session.scalars(query).first()
        if run is None:
            raise RunNotFound(
                f"no run {run_id!r} in the database" if run_id else "no runs stored yet: "
                "run `zipcast run` first"
            )
        return {
            "id": run.id,
            "issue_time": run.issue_time,
            "source": run.source,
            "window": run.window,
            "n_zips": run.n_zips,
            "n_slots": run.n_slots,
            "summary": run.summary,
            "params": run.params,
            "run_dir": run.run_dir,
            "slots": [
                {"slot_id": s.slot_id, "name": s.name, "n_zips": s.n_zips, "states": s.states,
                 "facts": s.facts, "draft_message": s.draft_message}
                for s in run.slots
            ],
        }


class RunMissing(LookupError):
    """No such run (or no runs at all)."""


def pick_run(db: Session, run_id: str | None) -> Run:
    """The run to dispatch: ``run_id``, or the newest run by issue time (not a replay)."""
    if run_id:
        run = db.get(Run, run_id)
        if run is None:
            raise RunMissing(f"no run {run_id!r}; see `zipcast runs`")
        return run
    run = db.scalars(select(Run).where(Run.status != "replay")
                     .order_by(Run.issue_time.desc(), Run.created_at.desc())
                     .limit(1)).first()
    if run is None:
        raise RunMissing("no runs stored yet: run `zipcast run` first")
    return run


def open_runs(db: Session, now: datetime, lookback: timedelta = timedelta(hours=36)
              ) -> list[Run]:
    """The runs dispatch still works on: per window, the newest national run issued within
    ``lookback`` (a morning run's last time zones get their message many hours after issue), or
    the newest run of some states when there is no national one. Replays never go out."""
    def rank(run: Run) -> tuple[bool, datetime, datetime]:
        return (not (run.params or {}).get("states"), utc(run.issue_time), utc(run.created_at))

    best: dict[str, Run] = {}
    for run in db.scalars(select(Run).where(Run.issue_time >= now - lookback,
                                            Run.status != "replay")):
        if run.window not in best or rank(run) > rank(best[run.window]):
            best[run.window] = run
    return sorted(best.values(), key=lambda r: (utc(r.issue_time), r.window))


def recent_runs(db: Session, limit: int = 10) -> list[Run]:
    """Stored runs, newest first."""
    return list(db.scalars(select(Run).order_by(Run.created_at.desc()).limit(limit)))
