"""Saving, previewing and approving slot messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from pipeline.editorial.gate import set_policy
from pipeline.editorial.messages import ApprovalBlocked, SlotConflict, approve_remaining, save
from pipeline.editorial.render import check, draft_problems
from pipeline.editorial.sms import count
from pipeline.review.deps import (
    EditorDep,
    SessionDep,
    current_editor,
    get_run,
    get_slot,
    page,
)
from pipeline.review.sheet import assets_for

router = APIRouter(tags=["slots"], dependencies=[Depends(current_editor)])



def _back(run_id: str, slot_id: str) -> RedirectResponse:
    return RedirectResponse(f"/runs/{run_id}#slot-{slot_id}", status_code=303)


@router.post("/runs/{run_id}/slots/{slot_id}/message")
def save_message(
    request: Request, run_id: str, slot_id: str, db: SessionDep, editor: EditorDep,
    text: Annotated[str, Form()], version: Annotated[int, Form()],
    action: Annotated[str, Form()] = "save",
):
    """Save (and with ``action=approve`` approve) the text edited from ``version``.

    A newer stored version answers 409 with both texts; a text that cannot be filled for
    every member is saved as a draft and the reasons are shown on the sheet. A text that is
    too long or is not plain text with ``{{ name }}`` placeholders is not saved at all.
    """
    slot = get_slot(db, run_id, slot_id)
    text = text.replace("\r\n", "\n")
    if refused := draft_problems(text):
        also = " and not approved" if action == "approve" else ""
        request.session["flash"] = {"slot": slot_id, "kind": "error", "lines": [
            f"{slot_id} was not saved{also}:", *refused]}
        return _back(run_id, slot_id)
    members = assets_for(request.app.state.run_cache, slot.run).members_of(slot)
    try:
        save(db, slot, text, version, editor, approve=action == "approve",
             now=request.app.state.now(), members=members)
    except SlotConflict as conflict:
        return page(request, "review/conflict.html", {
            "slot": slot, "mine": text, "theirs": conflict.current,
            "version": conflict.current.version if conflict.current else 0,
        }, status_code=409, editor=editor)
    except ApprovalBlocked as blocked:
        request.session["flash"] = {"slot": slot_id, "kind": "error", "lines": [
            f"{slot_id} was saved as a draft but not approved:", *blocked.problems]}
        return _back(run_id, slot_id)
    done = "approved" if action == "approve" else "saved"
    request.session["flash"] = {"slot": slot_id, "kind": "ok", "lines": [f"{slot_id} {done}."]}
    return _back(run_id, slot_id)


@router.post("/runs/{run_id}/slots/{slot_id}/preview")
def preview(request: Request, run_id: str, slot_id: str, db: SessionDep, editor: EditorDep,
            text: Annotated[str, Form()]):
    """A fragment: the text filled for a few members, and every problem over all members."""
    slot = get_slot(db, run_id, slot_id)
    members = assets_for(request.app.state.run_cache, slot.run).members_of(slot)
    text = text.replace("\r\n", "\n")
    return page(request, "partials/preview.html",
                {"report": check(text, members), "sms": count(text), "slot": slot},
                editor=editor)


@router.post("/runs/{run_id}/approve-all")
def approve_all(request: Request, run_id: str, db: SessionDep, editor: EditorDep):
    """Lead only: approve every slot not yet approved (saved draft, else pipeline draft)."""
    if editor.role != "lead":
        raise HTTPException(403, "only a lead can approve all remaining drafts")
    run = get_run(db, run_id)
    assets = assets_for(request.app.state.run_cache, run)
    approved, skipped = approve_remaining(db, list(run.slots), editor,
                                          now=request.app.state.now(),
                                          members_of=assets.members_of)
    lines = [f"Approved {len(approved)} slot{'s' if len(approved) != 1 else ''}."]
    lines += [f"{sid} not approved: {'; '.join(problems)}" for sid, problems in skipped.items()]
    request.session["flash"] = {"slot": None, "kind": "error" if skipped else "ok",
                                "lines": lines}
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/gate")
def set_gate_policy(request: Request, run_id: str, db: SessionDep, editor: EditorDep,
                    policy: Annotated[str, Form()]):
    """Lead only: what unapproved slots get at the deadline (hold, or the automatic message)."""
    if editor.role != "lead":
        raise HTTPException(403, "only a lead can set the policy for unapproved slots")
    get_run(db, run_id)
    try:
        set_policy(db, run_id, policy, editor.name, request.app.state.now())
    except ValueError as err:
        raise HTTPException(422, str(err)) from None
    fate = "held" if policy == "hold" else "sent the automatic factual message"
    request.session["flash"] = {"slot": None, "kind": "ok", "lines": [
        f"At the deadline, unapproved slots will be {fate}."]}
    return RedirectResponse(f"/runs/{run_id}", status_code=303)
