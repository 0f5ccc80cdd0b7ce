"""Per-slot comments and history, and who is on which slot now (presence)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse

from pipeline.editorial.comments import add_comment, comments_of, history_of
from pipeline.review.deps import EditorDep, SessionDep, current_editor, get_run, get_slot, page

router = APIRouter(tags=["thread"], dependencies=[Depends(current_editor)])


def _thread(request: Request, db: SessionDep, editor: EditorDep, run_id: str, slot_id: str,
            error: str | None = None, status_code: int = 200):
    slot = get_slot(db, run_id, slot_id)
    fragment = request.headers.get("X-Requested-With") == "fetch"  # else a page of its own
    return page(request, "partials/thread.html" if fragment else "review/thread.html", {
        "slot": slot, "comments": comments_of(db, slot.id), "history": history_of(db, slot.id),
        "error": error}, editor=editor, status_code=status_code)


@router.get("/runs/{run_id}/slots/{slot_id}/thread")
def thread(request: Request, run_id: str, slot_id: str, db: SessionDep, editor: EditorDep):
    """A fragment: the slot's comments (oldest first) and its history (newest first)."""
    return _thread(request, db, editor, run_id, slot_id)


@router.post("/runs/{run_id}/slots/{slot_id}/comments")
def comment(request: Request, run_id: str, slot_id: str, db: SessionDep, editor: EditorDep,
            text: Annotated[str, Form()]):
    """Add a comment; answers with the thread fragment."""
    slot = get_slot(db, run_id, slot_id)
    try:
        add_comment(db, slot.id, editor.name, text, request.app.state.now())
    except ValueError as err:
        return _thread(request, db, editor, run_id, slot_id, error=str(err), status_code=422)
    if request.headers.get("X-Requested-With") != "fetch":
        return RedirectResponse(f"/runs/{run_id}/slots/{slot_id}/thread", status_code=303)
    return _thread(request, db, editor, run_id, slot_id)


@router.post("/runs/{run_id}/presence")
def presence(request: Request, run_id: str, db: SessionDep, editor: EditorDep,
             slot: Annotated[str, Form()] = ""):
    """Report the slot this editor is on (empty: none); answers who is on which slot."""
    run = get_run(db, run_id)
    if slot and slot not in {s.slot_id for s in run.slots}:
        raise HTTPException(422, f"no slot {slot[:20]!r} in this run")
    now = request.app.state.clock()
    request.app.state.presence.report(run_id, editor.name, slot or None, now)
    return JSONResponse(request.app.state.presence.of_run(run_id, now, but=editor.name))
