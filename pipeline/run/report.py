"""What a run tells people besides its folder: the slots table and the markdown summary that
the flow publishes as Prefect artifacts, and a replay's verdict."""

from __future__ import annotations

from typing import Any

from pipeline.slots import Slot
from pipeline.store.summary import RunSummary


def slot_table(summary: RunSummary, slots: list[Slot]) -> list[dict[str, Any]]:
    """One row per slot: id, name, ZIPs, states, truthfulness and the draft message."""
    per_slot = summary.truthfulness.per_slot
    return [{"slot": s.slot_id, "name": s.name, "ZIPs": s.n_zips,
             "states": ", ".join(list(s.states)[:6]),
             "truthfulness": f"{per_slot.get(s.slot_id, 0.0):.1%}",
             "draft message": s.draft_message} for s in slots]


def run_markdown(summary: RunSummary, sheet_url: str) -> str:
    """A short markdown summary linking to the review sheet."""
    truth = summary.truthfulness
    bound = truth.upper_bound
    lines = [
        f"# {summary.window.title()} run `{summary.run_id}`",
        "",
        f"**[Open the review sheet]({sheet_url})** — {summary.n_slots} slots for "
        f"{summary.n_zips:,} ZIPs.",
        "",
        "| | |", "|---|---|",
        f"| truthfulness | {truth.national:.1%} (target {truth.target:.0%}) |",
    ]
    if bound is not None:
        lines.append(f"| upper bound with {bound.k} slots | {bound.value:.1%} |")
    lines += [
        f"| states under the floor | {', '.join(truth.states_below_floor) or 'none'} |",
        f"| source | {summary.source}, snapshot `{summary.snapshot}` |",
        f"| forecast issued | {summary.forecast_issue_time} |",
        f"| code | `{summary.code.get('git_commit')}` |",
        f"| seconds | {summary.seconds.get('total', '?')} |",
    ]
    if summary.replay_of is not None:
        lines += ["", f"Replay of `{summary.replay_of.run_id}`: "
                      f"{'identical slots' if summary.replay_of.identical else 'DIFFERENT slots'}."]
    return "\n".join(lines)


def replay_markdown(summary: RunSummary) -> str:
    """A replay's verdict: identical, or the differences."""
    verdict = summary.replay_of
    if verdict is None:
        raise ValueError(f"{summary.run_id} is not a replay")
    lines = [f"# Replay of `{verdict.run_id}`", "",
             f"**{'Identical slots' if verdict.identical else 'DIFFERENT slots'}** — "
             f"{verdict.n_slots} slots, {verdict.n_zips:,} ZIPs, replay run "
             f"`{summary.run_id}` from snapshot `{summary.snapshot}`."]
    return "\n".join(lines + [f"- {d}" for d in verdict.differences])
