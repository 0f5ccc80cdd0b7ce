"""Sign in and sign out."""

from __future__ import annotations

import math
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from pipeline.editorial.models import Editor
from pipeline.review.deps import SessionDep, page, signed_in_editor
from pipeline.review.security import TooManySignIns, end_sessions, new_csrf_token

router = APIRouter(tags=["auth"])


def _safe_next(target: str | None) -> str:
    """Only local paths, so the login page cannot bounce people to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/runs"


@router.get("/login")
def login_form(request: Request, next: str | None = None):
    """The sign-in page."""
    return page(request, "review/login.html", {"next": _safe_next(next), "error": None})


def _too_many(request: Request, context: dict[str, Any], refused: TooManySignIns):
    """The 429 sign-in page with a Retry-After header."""
    minutes = max(1, math.ceil(refused.wait_s / 60))
    later = f"Try again in {minutes} minute{'s' if minutes > 1 else ''}"
    if refused.name is None:
        error = (f"Too many failed sign-ins from your address, whatever the name. {later}; "
                 "if you share the address with others, ask a lead.")
    else:
        error = (f"Too many failed sign-ins for “{refused.name}” from your address. {later}, "
                 "or ask a lead to reset your password.")
    response = page(request, "review/login.html", {**context, "error": error}, status_code=429)
    response.headers["Retry-After"] = str(math.ceil(refused.wait_s))
    return response


def _account(db: Session, name: str) -> Row[int, str, int, bool] | None:
    """The editor's id, hash, session version and disabled flag, or None for no such name."""
    found = db.execute(select(Editor.id, Editor.password_hash, Editor.session_version,
                              Editor.disabled).where(Editor.name == name)).first()
    db.rollback()  # hand the connection back before the (slow) password check
    return found


@router.post("/login")
async def login(
    request: Request,
    db: SessionDep,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/runs",
):
    """Check the password; 429 past the failures allowed per name and per address.

    Asynchronous on purpose: the database read runs in the shared thread pool, and argon2
    waits for one of a few verification slots without holding a pool thread, so a burst of
    sign-ins cannot stall other pages.
    """
    limiter = request.app.state.limiter
    address = request.client.host if request.client else "?"
    name = name.strip()
    context = {"next": _safe_next(next), "name": name}
    try:
        limiter.attempt(name, address)
    except TooManySignIns as refused:
        return _too_many(request, context, refused)
    account = await run_in_threadpool(_account, db, name)
    # always verify (a dummy hash for unknown names) so timing does not reveal which names exist
    good = await anyio.to_thread.run_sync(
        request.app.state.verify_password, account.password_hash if account else None,
        password, limiter=request.app.state.verify_slots)
    if not good or account is None:
        return page(request, "review/login.html",
                    {**context, "error": "Wrong name or password."}, status_code=401)
    limiter.succeeded(name, address)
    if account.disabled:
        return page(request, "review/login.html", {**context, "error": (
            "This account is disabled. Ask a lead to enable it again.")}, status_code=403)
    request.session.clear()  # a fresh session: no fixation of a pre-login cookie
    request.session.update({"editor_id": account.id, "csrf": new_csrf_token(),
                            "session_version": account.session_version})
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, db: SessionDep):
    """Sign out, ending every session of this editor (the form's CSRF token is checked
    app-wide).

    Bumping ``Editor.session_version`` ends the editor's sessions in all browsers at once, not
    only this one: one column instead of a table of sessions, and a copied cookie dies too.
    """
    editor = signed_in_editor(request, db)
    if editor is not None:
        end_sessions(db, editor.id)
        db.commit()
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
