"""What a person sees while a run works: one line per step, a bar for clustering, a table."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # `zipcast runs` uses console() without the planning stack (numba, sklearn)
    from pipeline.run import Clustering, RunParams
    from pipeline.slots import Slot
    from pipeline.store.summary import ReplayVerdict, RunSummary


def console(*, stderr: bool = False) -> Console:
    """A console that wraps at the terminal's width, and never at 80 columns in a log file or
    a pipe (where lines are read by grep and people scrolling, not a window)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=240, soft_wrap=True)


#: what each planner sub-step (see pipeline.planning.plan_slots) is doing, in words
PLANNING_STAGES = {
    "greedy": "covering the ZIPs, a slot at a time",
    "baseline_starts": "k-means starts and the upper bound",
    "milp_select": "choosing the best slots (integer program)",
    "dtw_membership": "DTW: each ZIP to its nearest true slot",
}


class PlanningBar:
    """The planning bar's callbacks: ``slot(n_slots, truth)`` and ``stage(name)``; they do
    nothing when the display is off."""

    def __init__(self, slot: Callable[[int, float], None] | None = None,
                 stage: Callable[[str], None] | None = None) -> None:
        self.slot: Callable[[int, float], None] = slot or (lambda n_slots, truth: None)
        self.stage: Callable[[str], None] = stage or (lambda name: None)


class RunDisplay:
    """Progress on stderr (stdout stays clean for ``--json``); silent when not enabled."""

    def __init__(self, params: RunParams, *, enabled: bool) -> None:
        self.enabled = enabled
        self.console = console(stderr=True)
        if enabled:
            where = ", ".join(params.states) if params.states else "the nation"
            self.console.print(
                f"[bold]zipcast run[/] {params.run_id}: {params.source} forecast issued "
                f"{params.issue_time}, {params.window} window, up to {params.max_slots} slots, "
                f"{where}"
            )

    def note(self, line: str) -> None:
        if self.enabled:
            self.console.print(f"    [yellow]![/] {line}")

    def notes(self, lines: list[str], quality: dict[str, Any] | None = None) -> None:
        """The ingest's report lines; flagged "!" only when some ZIP was not fresh and good."""
        clean = quality is not None and not (quality.get("n_stale") or quality.get("n_left_out")
                                             or quality.get("n_quarantined"))
        for line in lines:
            if clean and self.enabled:
                self.console.print(f"    {line}", highlight=False)
            else:
                self.note(line)

    @staticmethod
    def planned(clustering: Clustering, params: RunParams) -> str:
        """The cluster step's line: slots, truthfulness, target and the bound."""
        line = (f"{len(clustering.statements)} slots, truthfulness {clustering.truth:.1%} "
                f"(target {params.target_truth:.0%}")
        bound = clustering.bound
        return line + (f"; at most {bound.value:.1%} with {bound.k} slots)" if bound else ")")

    def replayed(self, verdict: ReplayVerdict) -> None:
        self.note(f"replay of {verdict.run_id}: " + (
            "identical slots" if verdict.identical
            else "DIFFERENT: " + "; ".join(verdict.differences)))

    def step_done(self, name: str, seconds: float, detail: str) -> None:
        if self.enabled:
            self.console.print(f"  [green]✓[/] {name:<10} {seconds:7.2f} s  {detail}")

    @contextmanager
    def slots(self, max_slots: int) -> Iterator[PlanningBar]:
        """A bar of slots planned so far, the truthfulness they reach and the planner's stage
        (after the cover, the bar stays full for most of the planning: the stage says why)."""
        if not self.enabled:
            yield PlanningBar()
            return
        columns = (
            TextColumn("  planning slots"), BarColumn(), TextColumn("{task.completed} slots"),
            TextColumn("truthfulness {task.fields[truth]}"), TextColumn("{task.fields[stage]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as bar:
            job = bar.add_task("slots", total=max_slots, truth="…", stage="")

            def tick(n_slots: int, truth: float) -> None:
                bar.update(job, completed=n_slots, truth=f"{truth:.1%}")

            def stage(name: str) -> None:
                bar.update(job, stage=PLANNING_STAGES.get(name, name))

            yield PlanningBar(tick, stage)

    @contextmanager
    def downloads(self) -> Iterator[Callable[[int, int, str], None] | None]:
        """A bar of model steps in the cache (the model feed calls it; others never do)."""
        if not self.enabled:
            yield None
            return
        columns = (TextColumn("  downloading"), BarColumn(),
                   TextColumn("{task.completed}/{task.total} steps"),
                   TextColumn("{task.fields[what]}"), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=True) as bar:
            job = bar.add_task("steps", total=None, what="", visible=False)

            def tick(done: int, total: int, what: str) -> None:
                bar.update(job, completed=done, total=total, what=what, visible=True)

            yield tick

    def finish(self, summary: RunSummary, slots: list[Slot]) -> None:
        if not self.enabled:
            return
        truth = summary.truthfulness
        table = Table(title=f"{summary.n_slots} slots for {summary.n_zips:,} ZIPs "
                      f"(largest 10 shown)", title_justify="left")
        for column in ("slot", "name", "ZIPs", "true for", "draft message"):
            table.add_column(column, overflow="fold")
        for slot in slots[:10]:
            table.add_row(slot.slot_id, slot.name, f"{slot.n_zips:,}",
                          f"{slot.n_fit / slot.n_zips:.0%}", slot.draft_message)
        self.console.print(table)
        floor = ", ".join(truth.states_below_floor) or "none"
        with_auto = (f" (with them {truth.with_automatic:.1%} read a true message)"
                     if truth.with_automatic is not None else "")
        self.console.print(
            f"truthfulness {truth.national:.1%} (target {truth.target:.0%}, "
            f"{'reached' if truth.reached_target else 'NOT reached'}); states below "
            f"{truth.state_floor:.0%}: {floor}; automatic messages: {truth.n_automatic:,}"
            + with_auto)
        bound = truth.upper_bound
        if bound:
            self.console.print(
                f"upper bound: no {bound.k} slots can be true for more than "
                f"{bound.value:.1%} under this rule"
                + ("" if bound.converged else " (LP cut short: a looser bound)"))
        if summary.baselines:
            self.console.print("baselines at the same slot count: " + ", ".join(
                f"{k} {v['truthfulness']:.1%}" for k, v in summary.baselines.items()))
        seconds = summary.seconds
        self.console.print(
            f"done in {seconds['total']:.1f} s ("
            + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items() if k != "total")
            + f")\nrun folder: {summary.artifacts['summary.json'].rsplit('/', 1)[0]}"
        )

    def hand_over(self, sheet_url: str, send_at: str) -> None:
        """What the on-call person does next: the sheet, and when messages go out."""
        if self.enabled:
            self.console.print(f"review sheet: {sheet_url}\nsend time: {send_at} — slots "
                               "approved by then go out; see `zipcast runs` for the gate")
