"""The run's library side, without Prefect: how a run begins, its summary as a typed record,
the artifact contents, the ingest cache key and what a cached ingest keeps."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from pipeline import ingest
from pipeline.run import begin, issue_hour
from pipeline.run.report import replay_markdown, run_markdown, slot_table
from pipeline.settings import Settings
from pipeline.store.summary import ReplayVerdict, RunSummary, Truthfulness, UpperBound


def summary(**changes) -> RunSummary:
    truth = Truthfulness(national=0.9, weighting="zip", per_state={"NY": 0.9, "GU": 0.0},
                         states_below_floor=["GU"], state_floor=0.85,
                         per_slot={"s001": 0.95, "s002": 0.5}, target=0.97,
                         upper_bound=UpperBound(k=2, value=0.91, lp_value=0.91,
                                                converged=True, gap_points=1.0, seconds=0.1))
    values = {"run_id": "20260115T0900Z-morning-synthetic-abc", "source": "synthetic",
              "issue_time": "2026-01-15T09:00:00+00:00", "window": "morning", "n_zips": 10,
              "n_steps": 18, "step_hours": 1, "n_slots": 2,
              "slot_sizes": {"largest": 6, "smallest": 4}, "truthfulness": truth,
              "snapshot": "synthetic/20260115T0900Z", "code": {"git_commit": "abc"},
              "seconds": {"total": 1.5}}
    values.update(changes)
    return RunSummary(**values)


def test_the_summary_is_typed_and_reads_like_its_json():
    """Fields are attributes (typos fail type checking); ``summary["field"]`` reads the same
    value for scripts, and an unknown key is a KeyError, never a silent None."""
    s = summary()
    assert s.truthfulness.states_below_floor == ["GU"]
    assert s["truthfulness"]["states_below_floor"] == ["GU"]
    assert s.get("states_under_floor") is None
    with pytest.raises(KeyError):
        s["states_under_floor"]  # noqa: B018
    assert RunSummary.model_validate_json(s.model_dump_json()) == s


def test_run_markdown_names_the_states_under_the_floor_and_the_bound():
    text = run_markdown(summary(), "https://sheet.example/runs/x")
    assert "| states under the floor | GU |" in text
    assert "| upper bound with 2 slots | 91.0% |" in text
    assert "[Open the review sheet](https://sheet.example/runs/x)" in text


def test_slot_table_rows():
    """One row per slot with its truthfulness from the summary."""
    class Slot:  # the fields the table reads
        def __init__(self, slot_id, n):
            self.slot_id, self.name, self.n_zips = slot_id, f"Area {slot_id}", n
            self.states, self.draft_message = {"NY": n}, "Highs 40-45F, lows 30-35F. Dry."

    rows = slot_table(summary(), [Slot("s001", 6), Slot("s002", 4)])
    assert [r["truthfulness"] for r in rows] == ["95.0%", "50.0%"]
    assert rows[0] == {"slot": "s001", "name": "Area s001", "ZIPs": 6, "states": "NY",
                       "truthfulness": "95.0%",
                       "draft message": "Highs 40-45F, lows 30-35F. Dry."}


def test_replay_markdown_lists_the_differences():
    s = summary(replay_of=ReplayVerdict(run_id="orig", identical=False, n_slots=2, n_zips=10,
                                        differences=["fits differs for 3 ZIPs"]))
    assert "**DIFFERENT slots**" in replay_markdown(s)
    assert "- fits differs for 3 ZIPs" in replay_markdown(s)
    with pytest.raises(ValueError):
        replay_markdown(summary())


def test_a_run_begins_with_the_settings_options_and_the_scheduled_hour(tmp_path):
    """Without an issue time a run takes its scheduled start's hour (a retried crash is the
    same run); options override the settings; a replay id is looked up, not guessed."""
    settings = Settings(data_dir=tmp_path)
    start = begin(settings, scheduled_start="2026-01-15T09:41:00Z", max_slots=7, seed=None)
    assert start.params.issue_time == "2026-01-15T09:00:00+00:00"
    assert start.params.max_slots == 7 and start.params.seed == settings.seed
    assert start.original is None and start.replayed is None
    assert issue_hour("2026-01-15T23:59:59Z") == "2026-01-15T23:00:00+00:00"


def test_ingest_key_and_the_cached_ref():
    """The key changes with what changes the rows; a cached ref never carries the rows."""
    key = lambda **k: ingest.ingest_key("synthetic", "2026-01-15T09:00Z", **{  # noqa: E731
        "states": None, "path": None, "seed": 0, "hours": 72, "data_dir": "/data", **k})
    assert key() == key() and key(seed=1) != key() and key(path="x.csv") != key()
    assert key().startswith("ingest-synthetic-20260115T0900Z-")
    ref = ingest.IngestRef("synthetic/x", "2026-01-15T09:00:00+00:00", {},
                           forecast=pd.DataFrame({"zip": ["10001"]}))
    assert ref.forecast is not None
    assert pickle.loads(pickle.dumps(ref)).forecast is None  # what a result store keeps
