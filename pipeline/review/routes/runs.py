"""The run list and the review sheet of one run."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from pipeline.drawing.charts import sparkline_svg
from pipeline.editorial.gate import gate_of
from pipeline.editorial.messages import messages_of
from pipeline.editorial.models import Message
from pipeline.editorial.render import PLACEHOLDERS
from pipeline.review.checking import slot_check
from pipeline.review.deps import (
    EditorDep,
    SessionDep,
    SettingsDep,
    current_editor,
    get_run,
    get_slot,
    page,
)
from pipeline.review.rows import slot_rows
from pipeline.review.sheet import assets_for, audience, bands, deadline, slot_maps
from pipeline.store.models import Run, Slot, Verification
from pipeline.store.verification import read_verification

router = APIRouter(tags=["runs"], dependencies=[Depends(current_editor)])



@router.get("/")
def home():
    """The run list is home."""
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs")
def run_list(request: Request, db: SessionDep, editor: EditorDep):
    """Stored runs, newest issue time first, with how many messages are approved."""
    runs = db.scalars(select(Run).order_by(Run.issue_time.desc(), Run.created_at.desc())).all()
    approved = dict(db.execute(
        select(Slot.run_id, func.count()).join(Message, Message.slot_id == Slot.id)
        .where(Message.status == "approved").group_by(Slot.run_id)).all())
    observed = {v.run_id: v for v in db.scalars(select(Verification))}
    return page(request, "review/runs.html", {"runs": runs, "approved": approved,
                                              "observed": observed}, editor=editor)


@router.get("/runs/{run_id}")
def run_sheet(request: Request, run_id: str, db: SessionDep, editor: EditorDep):
    """The sheet: one row per slot, largest audience first, each with its message editor."""
    run = get_run(db, run_id)
    assets = assets_for(request.app.state.run_cache, run)
    saved = messages_of(db, [s.id for s in run.slots])
    reach = audience(assets, request.app.state.subscriber_counts)
    rows = slot_rows(run, saved, assets.head_of, reach)
    previous = messages_of(db, [s.carried_from for s in run.slots if s.carried_from])
    observed = carried_scores(db, run.slots)
    for row in rows:
        row.previous = previous.get(row.slot.carried_from or "")  # "copy last run's message"
        row.observed = observed.get(row.slot.carried_from or "")
        if row.message is not None:  # saved text: check it (the pipeline's drafts are true)
            row.check = slot_check(request, row.slot, row.text)
    counts = {"approved": sum(r.status == "approved" for r in rows)}
    counts["remaining"] = len(rows) - counts["approved"]
    cost = {"segments": sum(r.cost for r in rows),
            "subscribers": sum(r.n_subscribers for r in rows),
            "long": [r for r in rows if r.segments > 1]}
    states = sorted({state for r in rows for state in r.slot.states})
    hazards = sorted({h for r in rows for h in r.hazards})
    return page(request, "review/sheet.html", {
        "run": run, "rows": rows, "counts": counts, "cost": cost, "states": states,
        "hazards": hazards, "max_false_share": request.app.state.review.max_false_share,
        "deadline": deadline(run, request.app.state.review,
                             request.app.state.now()),
        "gate": gate_of(db, run, request.app.state.review, request.app.state.now()),
        "n_subscribers": sum(reach.values()),
        "flash": request.session.pop("flash", None), "placeholders": PLACEHOLDERS,
    }, editor=editor)


def carried_scores(db, slots) -> dict[str, tuple[float | None, float, str]]:  # type: ignore[no-untyped-def]
    """"<previous run>/<slot>" -> that slot's observed truthfulness, for carried-over slots
    whose previous run was verified (what the sheet shows beside them)."""
    out: dict[str, tuple[float | None, float, str]] = {}
    by_run: dict[str, list[str]] = {}
    for slot in slots:
        if slot.carried_from:
            run_id, _, slot_id = slot.carried_from.rpartition("/")
            by_run.setdefault(run_id, []).append(slot_id)
    for run_id, slot_ids in by_run.items():
        previous = db.get(Run, run_id)
        summary = read_verification(previous.run_dir) if previous is not None else None
        if summary is None:
            continue
        per_slot = summary.messages["sent"].per_slot
        for slot_id in slot_ids:
            if slot_id in per_slot:
                score = per_slot[slot_id]
                out[f"{run_id}/{slot_id}"] = (score.true_share, score.verifiable_share, run_id)
    return out


@router.get("/runs/{run_id}/slots/{slot_id}/map.svg")
def slot_map(request: Request, run_id: str, slot_id: str, db: SessionDep):
    """A small map of the slot within its run, with insets for Alaska, Hawaii, Puerto Rico
    and the Pacific where it has members."""
    run = get_run(db, run_id)
    svg = slot_maps(assets_for(request.app.state.run_cache, run)).get(slot_id)
    if svg is None:
        raise HTTPException(404, f"no map for slot {slot_id!r}")
    return Response(svg, media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=3600"})


@router.get("/runs/{run_id}/slots/{slot_id}/spark.svg")
def slot_sparkline(request: Request, run_id: str, slot_id: str, db: SessionDep,
                   settings: SettingsDep):
    """The slot's sparkline: temperature and precipitation chance of its representative
    series over the members' 10th–90th percentile bands (labelled)."""
    slot = get_slot(db, run_id, slot_id)
    assets = assets_for(request.app.state.run_cache, slot.run)
    band = bands(assets, slot.run, settings).get(slot.slot_id, {})
    rep = slot.representative or {}
    bary = rep.get("barycenter", {})
    svg = sparkline_svg(rep.get("local_hour", []), bary.get("temperature_f", []),
                        bary.get("precip_probability", []), band.get("temperature_f"),
                        band.get("precip_probability"),
                        label=f"{slot.name}: temperature and precipitation chance")
    if not svg:
        raise HTTPException(404, f"no series for slot {slot_id!r}")
    return Response(svg, media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=3600"})
