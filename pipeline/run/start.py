"""How a run begins: its parameters from the settings and options, or a replay's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.ingest import Ingest
from pipeline.run.params import RunParams, issue_hour
from pipeline.run.replay import load_replay
from pipeline.settings import Settings
from pipeline.store.runs import PreviousRun, previous_run


@dataclass
class RunStart:
    """What a run works with before its first step."""

    params: RunParams
    settings: Settings  # with the run's own rules in force (a replay's recorded ones)
    original: dict[str, Any] | None = None  # the stored run a replay recomputes
    replayed: Ingest | None = None  # the ingest a replay reads instead of fetching

    def previous(self) -> PreviousRun | None:
        """The run whose slot ids this one carries on: the newest earlier run of the same
        source, window and states; for a replay, exactly the one its original followed — none
        when it followed none, even if an earlier run has been stored since (else the replay
        would number its slots differently and report the same slots as different)."""
        recorded = ((self.original or {}).get("summary") or {}).get("previous_run_id", "")
        if recorded is None:  # ("": not a replay, or a run stored before the key was)
            return None
        return previous_run(self.settings.db_url, self.params, run_id=recorded or None)


def begin(settings: Settings, *, replay: str | None = None, issue_time: str | None = None,
          scheduled_start: Any | None = None, **options: Any) -> RunStart:
    """The run's parameters: a stored run's own when ``replay`` names one; else the settings
    with ``options`` (source, window, max_slots, target_truth, states, seed, path) applied.

    Without ``issue_time`` (and no replay) the run takes the hour of ``scheduled_start``, so a
    crashed run retried later is the same run.
    """
    if issue_time is None and not replay:
        issue_time = issue_hour(scheduled_start)
    params, original, replayed = load_replay(replay, settings) if replay else (None, None, None)
    if params is None:
        if replayed is not None:  # a snapshot: it says which source and issue time
            options["source"] = replayed.snapshot_id.split("/")[0]
            issue_time = replayed.issue_time.isoformat()
        params = RunParams.from_settings(settings, issue_time=issue_time, replay=replay,
                                         **options)
    return RunStart(params, params.settings_for(settings), original, replayed)
