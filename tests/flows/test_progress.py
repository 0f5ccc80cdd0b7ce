"""What a person sees while planning runs: the slots bar says which stage the planner is in."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress

from flows.progress import PLANNING_STAGES, RunDisplay
from pipeline.run import RunParams


def test_the_planning_bar_shows_slots_truth_and_the_stage(monkeypatch):
    shown = []
    update = Progress.update
    monkeypatch.setattr(Progress, "update", lambda self, task, **fields: (
        shown.append(fields), update(self, task, **fields)))
    display = RunDisplay(RunParams(issue_time="2026-01-15T09:00:00+00:00"), enabled=True)
    display.console = Console(record=True, width=200, force_terminal=True)
    with display.slots(60) as bar:
        bar.slot(12, 0.5)
        bar.stage("milp_select")
        bar.stage("something new")  # a stage without words shows its name
    assert shown == [{"completed": 12, "truth": "50.0%"},
                     {"stage": PLANNING_STAGES["milp_select"]}, {"stage": "something new"}]


def test_a_quiet_display_takes_the_callbacks_and_shows_nothing():
    display = RunDisplay(RunParams(), enabled=False)
    display.console = Console(record=True, width=200)
    with display.slots(60) as bar:
        bar.slot(3, 0.2)
        bar.stage("greedy")
    assert display.console.export_text() == ""
