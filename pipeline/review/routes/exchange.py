"""Messages in and out as a spreadsheet, and copying a carried-over slot's last message."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from pipeline.editorial.messages import ApprovalBlocked, SlotConflict, messages_of, save
from pipeline.editorial.models import Editor, Message
from pipeline.editorial.render import draft_problems
from pipeline.review.checking import slot_check
from pipeline.review.deps import EditorDep, SessionDep, current_editor, get_run, get_slot
from pipeline.review.routes.slots import answer, conflict_lines
from pipeline.review.rows import slot_rows
from pipeline.review.sheet import assets_for, audience
from pipeline.review.spreadsheet import (
    CSV_MEDIA_TYPE,
    MAX_UPLOAD_BYTES,
    XLSX_MEDIA_TYPE,
    ImportRow,
    RowProblem,
    SheetUnreadable,
    parse,
    sheet_rows,
    to_csv,
    to_xlsx,
)
from pipeline.store.models import Run, Slot

router = APIRouter(tags=["exchange"], dependencies=[Depends(current_editor)])

# the result of an import travels in the signed session cookie (about 4 KB in browsers),
# so only the first problems are listed, each cut short
MAX_FLASH_PROBLEMS = 8
MAX_FLASH_LINE = 180


@dataclass
class ImportOutcome:
    """What an import did: slot ids saved and approved, rows unchanged, rows refused."""

    saved: list[str] = field(default_factory=list)
    approved: list[str] = field(default_factory=list)
    unapproved: list[str] = field(default_factory=list)  # were approved, now a draft again
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    def lines(self, filename: str) -> list[str]:
        """The flash lines: a summary, the slots saved, approved and un-approved by name,
        then the first problems by row."""
        n = len(self.saved)
        summary = (f"Imported {filename}: {n} message{'s' if n != 1 else ''} saved"
                   f"{f' ({len(self.approved)} approved)' if self.approved else ''}, "
                   f"{self.unchanged} unchanged"
                   f"{f', {len(self.problems)} with problems' if self.problems else ''}.")
        named = [_cut(f"{what}: {', '.join(ids)}.") for what, ids in (
            ("Saved", self.saved), ("Approved", self.approved),
            ("Un-approved (they were approved; the file changed their text, so they are "
             "drafts again)", self.unapproved)) if ids]
        shown = [_cut(str(p)) for p in sorted(self.problems, key=lambda p: p.row)]
        more = len(shown) - MAX_FLASH_PROBLEMS
        return [summary, *named, *shown[:MAX_FLASH_PROBLEMS],
                *([f"… and {more} more; fix those rows and import the file again."]
                  if more > 0 else [])]


def _cut(line: str) -> str:
    return line if len(line) <= MAX_FLASH_LINE else line[:MAX_FLASH_LINE - 1] + "…"


def apply_import(db: Session, run: Run, rows: Sequence[ImportRow], editor: Editor, *,
                 now: datetime,
                 members_of: Callable[[Slot], Sequence[Mapping[str, Any]]],
                 check_of: Callable[[Slot, str], Any] | None = None) -> ImportOutcome:
    """Save each changed row through :func:`messages.save` (action ``import``).

    A row is unchanged when its text is what the sheet shows (the saved message, else the
    pipeline's draft) and it does not ask for an approval the slot lacks. A stale version is
    a conflict: reported, not written. Approval that cannot fill for every member leaves a
    draft, reported like on the sheet.
    """
    slots = {slot.slot_id: slot for slot in run.slots}
    saved = messages_of(db, [slot.id for slot in run.slots])
    outcome = ImportOutcome()
    for row in rows:
        if row.run is not None and row.run != run.id:
            outcome.problems.append(RowProblem(row.row, f"{row.slot_id} was exported from run "
                                               f"{row.run}, not {run.id}; import it on that "
                                               f"run's sheet"))
            continue
        slot = slots.get(row.slot_id)
        if slot is None:
            outcome.problems.append(RowProblem(row.row, f"no slot {row.slot_id!r} in this run"))
            continue
        current = saved.get(slot.id)
        shown = current.text if current else slot.draft_message
        already_approved = current is not None and current.status == "approved"
        if row.message == shown and (not row.approve or already_approved):
            outcome.unchanged += 1
            continue
        try:
            save(db, slot, row.message, row.version, editor, approve=row.approve, now=now,
                 members=members_of(slot) if row.approve else (), action="import",
                 check=check_of(slot, row.message) if row.approve and check_of else None)
        except SlotConflict as conflict:
            outcome.problems.append(RowProblem(row.row, _conflict_reason(row, conflict.current)))
            continue
        except ApprovalBlocked as blocked:
            outcome.saved.append(row.slot_id)
            if already_approved and row.message != shown:
                outcome.unapproved.append(row.slot_id)
            outcome.problems.append(RowProblem(row.row, f"{row.slot_id} saved as a draft but "
                                               f"not approved: {'; '.join(blocked.problems)}"))
            continue
        outcome.saved.append(row.slot_id)
        if row.approve:
            outcome.approved.append(row.slot_id)
        elif already_approved and row.message != shown:
            outcome.unapproved.append(row.slot_id)
    return outcome


def _conflict_reason(row: ImportRow, current: Message | None) -> str:
    if current is None:
        return (f"{row.slot_id} has no saved message, but the file says version "
                f"{row.version}; not written")
    return (f"{row.slot_id} was saved by {current.updated_by} (v{current.version}) after "
            f"this file's v{row.version}; not written: export again and redo this row")


def _download(content: bytes, media_type: str, run_id: str, extension: str) -> Response:
    name = "zipcast-" + re.sub(r"[^A-Za-z0-9._-]", "_", run_id) + f".{extension}"
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})


def _export_records(request: Request, db: Session, run_id: str) -> tuple[Run, list[dict]]:
    run = get_run(db, run_id)
    assets = assets_for(request.app.state.run_cache, run)
    rows = slot_rows(run, messages_of(db, [s.id for s in run.slots]), assets.head_of,
                     audience(assets, request.app.state.subscriber_counts))
    return run, sheet_rows(rows)


@router.get("/runs/{run_id}/export.csv")
def export_csv(request: Request, run_id: str, db: SessionDep):
    """The sheet as CSV: one row per slot in sheet order, formula-safe."""
    run, records = _export_records(request, db, run_id)
    return _download(to_csv(records), CSV_MEDIA_TYPE, run.id, "csv")


@router.get("/runs/{run_id}/export.xlsx")
def export_xlsx(request: Request, run_id: str, db: SessionDep):
    """The sheet as XLSX: one row per slot in sheet order, every text cell a string."""
    run, records = _export_records(request, db, run_id)
    return _download(to_xlsx(records), XLSX_MEDIA_TYPE, run.id, "xlsx")


@router.post("/runs/{run_id}/import")
def import_sheet(request: Request, run_id: str, db: SessionDep, editor: EditorDep,
                 file: Annotated[UploadFile | None, File()] = None):
    """Apply an edited export (CSV or XLSX); the outcome is shown on the sheet."""
    run = get_run(db, run_id)
    back = RedirectResponse(f"/runs/{run_id}", status_code=303)
    if file is None or not file.filename:
        request.session["flash"] = {"slot": None, "kind": "error",
                                    "lines": ["Choose a CSV or XLSX file to import."]}
        return back
    filename = _cut(file.filename)
    content = file.file.read(MAX_UPLOAD_BYTES + 1)  # parse() refuses anything longer
    try:
        rows, problems = parse(content, file.filename)
    except SheetUnreadable as err:
        request.session["flash"] = {"slot": None, "kind": "error", "lines": [
            _cut(f"Nothing imported from {filename}: {err}.")]}
        return back
    assets = assets_for(request.app.state.run_cache, run)
    outcome = apply_import(db, run, rows, editor, now=request.app.state.now(),
                           members_of=assets.members_of,
                           check_of=lambda slot, text: slot_check(request, slot, text))
    outcome.problems[:0] = problems
    request.session["flash"] = {"slot": None, "kind": "error" if outcome.problems else "ok",
                                "lines": outcome.lines(filename)}
    return back


@router.post("/runs/{run_id}/slots/{slot_id}/copy-previous")
def copy_previous(request: Request, run_id: str, slot_id: str, db: SessionDep,
                  editor: EditorDep, version: Annotated[int, Form()]):
    """Save the message of the slot this one carried over from as this slot's draft.

    The copy is fact-checked against this run's weather: claims that no longer hold are
    named at once (the weather under a carried-over slot may have changed overnight).
    """
    slot = get_slot(db, run_id, slot_id)
    previous = (messages_of(db, [slot.carried_from]).get(slot.carried_from)
                if slot.carried_from else None)
    if previous is None:
        raise HTTPException(404, f"{slot_id} has no message from a previous run to copy")
    current = messages_of(db, [slot.id]).get(slot.id)
    if current is not None and current.status == "approved":
        return answer(request, db, editor, slot, "error", [
            f"{slot_id} is approved: copying last run's message would un-approve it. Put "
            "that text in the box yourself and save it as a draft if you mean to."],
            status_code=409)
    if refused := draft_problems(previous.text):  # saved before placeholders were checked
        return answer(request, db, editor, slot, "error",
                      [f"{slot_id}: last run's message was not copied:", *refused])
    try:
        save(db, slot, previous.text, version, editor, approve=False,
             now=request.app.state.now(), action="copy_previous")
    except SlotConflict as conflict:
        theirs = conflict.current
        return answer(request, db, editor, slot, "error", conflict_lines(slot_id, theirs),
                      text=previous.text, version=theirs.version if theirs else 0,
                      status_code=409)
    fc = slot_check(request, slot, previous.text)
    problems = fc.problems(request.app.state.review.max_false_share) if fc else []
    if problems:
        return answer(request, db, editor, slot, "error", [
            f"{slot_id}: copied last run's message as a draft, but it is not true for this "
            "run — it cannot be approved as it is:", *problems])
    return answer(request, db, editor, slot, "ok", [
        f"{slot_id}: copied last run's message as a draft; the fact check finds nothing "
        "false for this run."])
