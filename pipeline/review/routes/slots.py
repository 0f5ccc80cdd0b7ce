"""Saving, previewing and approving slot messages.

Each answer is for one row. A save from the sheet's script (``X-Requested-With: fetch``) gets
the re-rendered row back and the browser swaps only that row, so text typed in other rows is
never thrown away; without the script the browser follows a redirect back to the sheet after
a save, and gets a page with just the row (and the editor's text) when the save was refused
or needs an answer first.

Nothing is approved or un-approved without the editor having seen why:

- saving a draft over an approved message asks first (``action=save-unapprove`` confirms);
- approving a message longer than one SMS segment asks first (``action=approve-long``);
- approving a message with a claim that is false for more than
  ``ZIPCAST_REVIEW__MAX_FALSE_SHARE`` of the slot's subscribers is refused, with each claim
  and its share; a lead may approve it anyway with a written reason (``action=override``),
  kept in the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from pipeline.editorial.gate import set_policy
from pipeline.editorial.messages import (
    ApprovalBlocked,
    FactCheckBlocked,
    SlotConflict,
    approve_remaining,
    messages_of,
    save,
)
from pipeline.editorial.models import Editor, Message
from pipeline.editorial.render import RenderReport, check, draft_problems
from pipeline.editorial.sms import count
from pipeline.review.checking import slot_check
from pipeline.review.deps import (
    EditorDep,
    SessionDep,
    current_editor,
    get_run,
    get_slot,
    page,
)
from pipeline.review.rows import slot_row
from pipeline.review.sheet import assets_for, audience
from pipeline.store.models import Slot

router = APIRouter(tags=["slots"], dependencies=[Depends(current_editor)])

SAVE_ACTIONS = ("save", "save-unapprove")
MAX_SLOTS = 1000  # entries read from an approve-all confirmation
MAX_REASON_CHARS = 500
APPROVE_ACTIONS = ("approve", "approve-long", "override")


def _back(run_id: str, slot_id: str) -> RedirectResponse:
    return RedirectResponse(f"/runs/{run_id}#slot-{slot_id}", status_code=303)


def _from_script(request: Request) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def render_row(request: Request, db: Any, editor: Editor, slot: Slot, *,
               flash: dict[str, Any] | None = None, text: str | None = None,
               version: int | None = None, status_code: int = 200):
    """The slot's row alone: a fragment for the script, else a page holding just the row.

    ``text`` and ``version`` keep what the editor typed (and the version it now replaces)
    when a save was refused, conflicted or needs an answer.
    """
    assets = assets_for(request.app.state.run_cache, slot.run)
    message = messages_of(db, [slot.id]).get(slot.id)
    reach = audience(assets, request.app.state.subscriber_counts)
    row = slot_row(slot, message, assets.head_of(slot), reach.get(slot.slot_id, 0), text=text)
    if version is not None:
        row.version = version
    row.check = slot_check(request, slot, row.text)
    if slot.carried_from:
        row.previous = messages_of(db, [slot.carried_from]).get(slot.carried_from)
    context = {"row": row, "flash": flash, "max_false_share": request.app.state.review
               .max_false_share, "dirty": text is not None}
    name = "partials/slot_row.html" if _from_script(request) else "review/row.html"
    return page(request, name, context, status_code=status_code, editor=editor)


def answer(request: Request, db: Any, editor: Editor, slot: Slot, kind: str,
            lines: list[str], *, text: str | None = None, version: int | None = None,
            ask: str | None = None, status_code: int = 200):
    """Done: back to the sheet (or the row for the script). Not done: the row, text kept."""
    flash = {"slot": slot.slot_id, "kind": kind, "lines": lines, "ask": ask}
    if kind == "ok" and not _from_script(request):
        request.session["flash"] = flash
        return _back(slot.run_id, slot.slot_id)
    return render_row(request, db, editor, slot, flash=flash, text=text, version=version,
                      status_code=status_code)


def conflict_lines(slot_id: str, theirs: Message | None) -> list[str]:
    if theirs is None:
        return [f"{slot_id}: the message you started from was removed; your text is still "
                "in the box — save again to keep it."]
    return [f"Someone else saved {slot_id} while you were editing: {theirs.updated_by} at "
            f"{theirs.updated_at:%H:%M:%S} UTC ({theirs.status}, v{theirs.version}).",
            f"Their text: “{theirs.text}”",
            "Your text is still in the box, not saved: save again to replace theirs, or "
            "reload the sheet to keep theirs."]


@router.post("/runs/{run_id}/slots/{slot_id}/message")
def save_message(
    request: Request, run_id: str, slot_id: str, db: SessionDep, editor: EditorDep,
    version: Annotated[int, Form()], text: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "save", reason: Annotated[str, Form()] = "",
):
    """Save (``save``) or approve (``approve``) the text edited from ``version``.

    ``save-unapprove`` confirms saving a draft over an approved message, ``approve-long``
    confirms approving a message of more than one SMS, ``override`` is a lead's approval of
    a message the fact check refused, with ``reason``.
    """
    if action not in SAVE_ACTIONS + APPROVE_ACTIONS:
        raise HTTPException(422, f"unknown action {action!r}")
    slot = get_slot(db, run_id, slot_id)
    text = text.replace("\r\n", "\n")
    approve = action in APPROVE_ACTIONS
    if not text.strip():
        return answer(request, db, editor, slot, "error", [
            f"{slot_id} was not saved: the message is empty. Write one, or reload the sheet "
            "to get the saved text back."], status_code=422, text=text, version=version)
    if refused := draft_problems(text):
        also = " and not approved" if approve else ""
        return answer(request, db, editor, slot, "error",
                      [f"{slot_id} was not saved{also}:", *refused], status_code=422,
                      text=text, version=version)
    current = messages_of(db, [slot.id]).get(slot.id)
    if (action == "save" and current is not None and current.status == "approved"
            and current.text != text and current.version == version):
        return answer(request, db, editor, slot, "question", [
            f"{slot_id} is approved. Saving this text as a draft un-approves it: nobody "
            "gets it until someone approves again."], ask="unapprove", text=text, version=version)
    if (approve and current is not None and current.status == "approved"
            and current.text == text and current.version == version):
        return answer(request, db, editor, slot, "ok", [f"{slot_id} is already approved."])
    assets = assets_for(request.app.state.run_cache, slot.run)
    members = assets.members_of(slot)
    # an approval fills the text for every member and fact-checks it once, here
    report = check(text, members) if approve else None
    fc = slot_check(request, slot, text) if approve else None
    if (report is not None and action != "override" and current is not None
            and current.status == "approved" and current.text != text
            and current.version == version):
        # a refused approval saves the text as a draft: over an approved text, ask first
        problems = report.problems
        limit = request.app.state.review.max_false_share
        if not problems and fc is not None and fc.blocked(limit):
            problems = fc.problems(limit)
        if problems:
            return answer(request, db, editor, slot, "question", [
                f"{slot_id} is approved, and this text cannot be approved as it is:",
                *problems, "Save it as a draft (the slot is then un-approved), or keep "
                "editing."], ask="unapprove-only", text=text, version=version)
    if action == "approve" and report is not None:
        # what subscribers get: the placeholders filled
        segments = report.max_segments if members else count(text).segments
        if segments > 1:
            subscribers = audience(assets, request.app.state.subscriber_counts).get(
                slot.slot_id, 0)
            return answer(request, db, editor, slot, "question", [
                f"This message takes up to {segments} SMS segments per subscriber: "
                f"{segments * subscribers:,} segments for {subscribers:,} subscribers "
                f"(one segment would be {subscribers:,}). Approve it anyway?"],
                ask="long", text=text, version=version)
    if action == "override":
        if editor.role != "lead":
            raise HTTPException(403, "only a lead can approve over the fact check")
        if len(reason) > MAX_REASON_CHARS:
            return answer(request, db, editor, slot, "error", [
                f"The reason holds at most {MAX_REASON_CHARS} characters, this one "
                f"{len(reason)}."], ask="override", status_code=422, text=text,
                version=version)
        if not reason.strip():
            return answer(request, db, editor, slot, "error", [
                "Write why this message may go out although the fact check refused it."],
                ask="override", status_code=422, text=text, version=version)
    try:
        save(db, slot, text, version, editor, approve=approve,
             now=request.app.state.now(), members=members,
             check=fc,
             override_reason=reason.strip() if action == "override" else None,
             max_false_share=request.app.state.review.max_false_share)
    except SlotConflict as conflict:
        theirs = conflict.current
        return answer(request, db, editor, slot, "error", conflict_lines(slot_id, theirs),
                       text=text, version=theirs.version if theirs else 0, status_code=409)
    except FactCheckBlocked as blocked:
        was = " (it was approved: it is not any more)" if current is not None and \
            current.status == "approved" else ""
        return answer(request, db, editor, slot, "error", [
            f"{slot_id} was saved as a draft but not approved{was}: the fact check refused "
            "it.",
            *blocked.problems], ask="override" if editor.role == "lead" else None)
    except ApprovalBlocked as blocked:
        was = " (it was approved: it is not any more)" if current is not None and \
            current.status == "approved" else ""
        return answer(request, db, editor, slot, "error", [
            f"{slot_id} was saved as a draft but not approved{was}:", *blocked.problems])
    if approve:
        done = "approved over the fact check (reason kept in the history)" \
            if action == "override" else "approved"
    else:
        done = "saved as a draft" + (" and un-approved" if action == "save-unapprove" else "")
    return answer(request, db, editor, slot, "ok", [f"{slot_id} {done}."])


@router.post("/runs/{run_id}/slots/{slot_id}/preview")
def preview(request: Request, run_id: str, slot_id: str, db: SessionDep, editor: EditorDep,
            text: Annotated[str, Form()]):
    """A fragment: the fact check of the text, the text filled for a few members, and every
    problem over all members."""
    slot = get_slot(db, run_id, slot_id)
    text = text.replace("\r\n", "\n")
    if refused := draft_problems(text):  # too long or not plain text: say so, fill nothing
        return page(request, "partials/preview.html", {
            "report": RenderReport(problems=refused), "sms": count(text), "slot": slot,
            "fc": None, "text": text,
            "max_false_share": request.app.state.review.max_false_share}, editor=editor)
    members = assets_for(request.app.state.run_cache, slot.run).members_of(slot)
    return page(request, "partials/preview.html",
                {"report": check(text, members), "sms": count(text), "slot": slot,
                 "fc": slot_check(request, slot, text), "text": text,
                 "max_false_share": request.app.state.review.max_false_share},
                editor=editor)


def _versions(db: Any, slots: list[Slot]) -> dict[str, int]:
    saved = messages_of(db, [s.id for s in slots])
    return {s.slot_id: saved[s.id].version if s.id in saved else 0 for s in slots}


@router.post("/runs/{run_id}/approve-all")
def approve_all(request: Request, run_id: str, db: SessionDep, editor: EditorDep,
                confirm: Annotated[str, Form()] = "", seen: Annotated[str, Form()] = ""):
    """Lead only: approve every slot not yet approved (saved draft, else pipeline draft).

    Without ``confirm=yes`` it only shows what it would do: the slots it would approve (with
    the text each would go out with) and the ones it would skip, with why; the page carries
    the version of each text shown (``seen``: "s002:3 s005:0"). Confirmed, it approves only
    those texts: a slot someone saved since is skipped and named. Then a report per slot.
    """
    if editor.role != "lead":
        raise HTTPException(403, "only a lead can approve all remaining drafts")
    run = get_run(db, run_id)
    assets = assets_for(request.app.state.run_cache, run)
    checker = lambda slot, text: slot_check(request, slot, text)  # noqa: E731
    slots = list(run.slots)
    versions = _versions(db, slots)
    changed: dict[str, list[str]] = {}
    left_out: list[Slot] = []  # listed as skipped on the page the lead confirmed
    if confirm == "yes":
        shown = dict(item.split(":", 1) for item in seen.split()[:MAX_SLOTS] if ":" in item)
        for slot in list(slots):
            if shown.get(slot.slot_id) == "skip":
                slots.remove(slot)
                left_out.append(slot)
            elif slot.slot_id not in shown:
                slots.remove(slot)  # not on the page the lead confirmed
            elif shown[slot.slot_id] != str(versions[slot.slot_id]):
                slots.remove(slot)
                changed[slot.slot_id] = ["someone saved it after you looked; read it and "
                                         "approve it on its row"]
    limit = request.app.state.review.max_false_share
    approved, skipped = approve_remaining(
        db, slots, editor, now=request.app.state.now(), members_of=assets.members_of,
        check_of=checker, max_false_share=limit, dry_run=confirm != "yes")
    if left_out:  # why they were skipped, as they are now (nothing is written)
        _, why = approve_remaining(db, left_out, editor, now=request.app.state.now(),
                                   members_of=assets.members_of, check_of=checker,
                                   max_false_share=limit, dry_run=True)
        changed.update({s.slot_id: why.get(s.slot_id, ["listed as skipped when you "
                                                        "confirmed"]) for s in left_out})
    skipped = {**changed, **skipped}
    by_id = {s.slot_id: s for s in run.slots}
    saved = messages_of(db, [s.id for s in run.slots])
    text_of = {sid: (saved[by_id[sid].id].text if by_id[sid].id in saved
                     else by_id[sid].draft_message) for sid in approved}
    return page(request, "review/approve_all.html", {
        "run": run, "done": confirm == "yes",
        "approved": [(sid, by_id[sid].name, text_of[sid]) for sid in approved],
        "skipped": [(sid, by_id[sid].name, problems) for sid, problems in skipped.items()],
        # what the lead confirms: these texts (by version) to approve, these slots skipped
        "seen": " ".join([*(f"{sid}:{versions[sid]}" for sid in approved),
                          *(f"{sid}:skip" for sid in skipped if sid in versions)]),
    }, editor=editor)


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
