"""Sign in and sign out."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from pipeline.editorial.models import Editor
from pipeline.review.deps import SessionDep, page
from pipeline.review.security import new_csrf_token, verify_password

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


@router.post("/login")
def login(
    request: Request,
    db: SessionDep,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/runs",
):
    """Check the password; at most N failures per name and address per window (429)."""
    limiter = request.app.state.limiter
    address = request.client.host if request.client else "?"
    name = name.strip()
    context = {"next": _safe_next(next), "name": name}
    wait = limiter.retry_after(name, address)
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        error = (f"Too many failed sign-ins for “{name}” from your address. Try again in "
                 f"{minutes} minute{'s' if minutes > 1 else ''}, or ask a lead to reset "
                 "your password.")
        response = page(request, "review/login.html", {**context, "error": error},
                        status_code=429)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    editor = db.scalars(select(Editor).where(Editor.name == name)).first()
    # always verify (a dummy hash for unknown names) so timing does not reveal which names exist
    if not verify_password(editor.password_hash if editor else None, password) or editor is None:
        limiter.failed(name, address)
        return page(request, "review/login.html",
                    {**context, "error": "Wrong name or password."}, status_code=401)
    limiter.succeeded(name, address)
    request.session.clear()  # a fresh session: no fixation of a pre-login cookie
    request.session.update({"editor_id": editor.id, "csrf": new_csrf_token()})
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request):
    """Forget the session (the form carries the CSRF token, checked app-wide)."""
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
