""""How did we do?": a run's messages checked against the weather that happened.

Reads what ``zipcast verify`` stored (``verification.json``, ``verification.parquet`` and
``verification.svg`` in the run folder, the ``verifications`` table) and the subscribers'
"wrong?" replies; computes nothing about the weather itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from markupsafe import Markup

from pipeline.dispatch.replies import reply_rates
from pipeline.drawing.charts import trend_svg
from pipeline.editorial.messages import messages_of
from pipeline.review.deps import EditorDep, SessionDep, current_editor, get_run, page
from pipeline.store.models import Slot
from pipeline.store.verification import (
    KIND_NAMES,
    KINDS,
    MAP_FILE,
    NOT_DECIDED,
    SCORE_BINS,
    TOPICS,
    Score,
    read_verification,
    recent_verifications,
    score_color,
    slot_topics,
)


@dataclass(frozen=True)
class Replies:
    sent: int
    wrong: int
    rate: float | None


@dataclass(frozen=True)
class SlotScore:
    """One slot's line: its observed scores, what it said, and the replies to it."""

    slot: Slot
    score: Score | None
    automatic: Score | None
    forecast: Score | None
    text: str
    approved: bool
    topics: dict[str, float | None]
    color: str
    replies: Replies | None


router = APIRouter(tags=["verification"], dependencies=[Depends(current_editor)])
WORST = 10
FAILING = 0.85  # a claim type true for fewer of a slot's subscribers than this is marked


@router.get("/runs/{run_id}/verification")
def verification_page(request: Request, run_id: str, db: SessionDep, editor: EditorDep,
                      kind: str | None = None):
    """National and per-state scores, the map by slot, the worst slots with their claims,
    reply rates, and the trend over the last verified runs; ``kind`` picks the messages the
    tables and the map are about (default: what was sent, or the drafts when nothing was)."""
    run = get_run(db, run_id)
    summary = read_verification(run.run_dir)
    context: dict[str, Any] = {"run": run, "summary": summary, "history": []}
    if summary is None:
        return page(request, "review/verification.html", context, editor=editor)
    saved = messages_of(db, [s.id for s in run.slots])
    if kind not in KINDS:
        anything_approved = any(m.status == "approved" for m in saved.values())
        kind = "sent" if anything_approved else "automatic"
    sent = summary.messages[kind]
    replies = reply_rates(db, run_id)
    topics = slot_topics(run.run_dir, kind)
    slots = []
    for slot in run.slots:
        score = sent.per_slot.get(slot.slot_id)
        message = saved.get(slot.id)
        approved = message is not None and message.status == "approved"
        reply = None
        if slot.slot_id in replies.index:
            row = replies.loc[slot.slot_id]
            rate = row["rate"]
            reply = Replies(int(row["sent"]), int(row["wrong"]),
                            None if rate != rate else float(rate))  # NaN: nothing sent
        slots.append(SlotScore(
            slot=slot, score=score,
            automatic=summary.messages["automatic"].per_slot.get(slot.slot_id),
            forecast=summary.messages["forecast"].per_slot.get(slot.slot_id),
            text=message.text if message is not None and approved else slot.draft_message,
            approved=approved, topics=topics.get(slot.slot_id, {}),
            color=score_color(score.true_share if score else None), replies=reply))
    decided = [s for s in slots if s.score is not None and s.score.true_share is not None]
    worst = sorted(decided, key=lambda s: (s.score.true_share or 0.0 if s.score else 0.0,
                                           s.slot.rank))[:WORST]
    states = sorted(sent.per_state.items(), key=lambda kv: (
        2.0 if kv[1].true_share is None else kv[1].true_share, kv[0]))
    history = list(reversed(recent_verifications(db, 30)))
    trend = trend_svg(
        [h.window_end.strftime("%b %d") if h.window_end else h.run_id for h in history],
        {"sent": [h.sent_true_share for h in history],
         "own forecast": [((h.summary.get("messages") or {}).get("forecast") or {})
                          .get("national", {}).get("true_share") for h in history]},
        {"sent": "#0f766e", "own forecast": "#7c3aed"},
        label="observed truthfulness of the last verified runs")
    context.update({
        "kind": kind, "kinds": KIND_NAMES, "sent": sent, "slots": slots, "worst": worst,
        "states": states,
        "state_floor": request.app.state.settings.truth.state_floor,
        "bins": SCORE_BINS, "not_decided": NOT_DECIDED, "topics": TOPICS,
        "failing": FAILING, "history": list(reversed(history)), "trend": Markup(trend),
        "has_map": (Path(run.run_dir) / MAP_FILE.format(kind=kind)).exists(),
        "replies_total": {"sent": int(replies["sent"].sum()) if len(replies) else 0,
                          "wrong": int(replies["wrong"].sum()) if len(replies) else 0},
    })
    return page(request, "review/verification.html", context, editor=editor)


@router.get("/runs/{run_id}/verification-{kind}.svg")
def verification_map(run_id: str, kind: str, db: SessionDep):
    """The national map with each slot coloured by its ``kind`` messages' observed
    truthfulness."""
    run = get_run(db, run_id)
    if kind not in KINDS:
        raise HTTPException(404, f"no map of {kind!r}; one of {', '.join(KINDS)}")
    path = Path(run.run_dir) / MAP_FILE.format(kind=kind)
    if not path.exists():
        raise HTTPException(404, f"run {run_id} is not verified yet: zipcast verify {run_id}")
    return Response(path.read_text(), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=600"})
