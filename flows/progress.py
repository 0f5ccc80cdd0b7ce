"""What a person sees while a run works: one line per step, a bar for clustering, a table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.run import RunParams
from pipeline.slots import Slot


class RunDisplay:
    """Progress on stderr (stdout stays clean for ``--json``); silent when not enabled."""

    def __init__(self, params: RunParams, *, enabled: bool) -> None:
        self.enabled = enabled
        self.console = Console(stderr=True)
        if enabled:
            where = ", ".join(params.states) if params.states else "the nation"
            self.console.print(
                f"[bold]zipcast run[/] {params.run_id}: {params.source} forecast issued "
                f"{params.issue_time}, {params.window} window, up to {params.max_slots} slots, "
                f"{where}"
            )

    def step_done(self, name: str, seconds: float, detail: str) -> None:
        if self.enabled:
            self.console.print(f"  [green]✓[/] {name:<10} {seconds:7.2f} s  {detail}")

    @contextmanager
    def iterations(self, max_iter: int) -> Iterator[Callable[[int, float], None] | None]:
        if not self.enabled:
            yield None
            return
        columns = (
            TextColumn("  clustering"), BarColumn(), TextColumn("iter {task.completed}"),
            TextColumn("inertia {task.fields[inertia]}"), TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as bar:
            job = bar.add_task("cluster", total=max_iter, inertia="…")

            def tick(iteration: int, inertia: float) -> None:
                bar.update(job, completed=iteration, inertia=f"{inertia:.3f}")

            yield tick

    def finish(self, summary: dict[str, Any], slots: list[Slot]) -> None:
        if not self.enabled:
            return
        table = Table(title=f"{summary['n_slots']} slots for {summary['n_zips']:,} ZIPs "
                      f"(largest 10 shown)", title_justify="left")
        for column in ("slot", "ZIPs", "states", "draft message"):
            table.add_column(column, overflow="fold")
        for slot in slots[:10]:
            table.add_row(slot.slot_id, f"{slot.n_zips:,}", ", ".join(list(slot.states)[:4]),
                          slot.draft_message)
        self.console.print(table)
        seconds = summary["seconds"]
        self.console.print(
            f"done in {seconds['total']:.1f} s ("
            + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items() if k != "total")
            + f")\nrun folder: {summary['artifacts']['summary.json'].rsplit('/', 1)[0]}"
        )
