"""Dependencies as type aliases, the review settings, and the page-rendering helper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy.orm import Session, sessionmaker

from pipeline.editorial.models import Editor
from pipeline.resources import shipped
from pipeline.review.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    csrf_matches,
    new_csrf_token,
    session_is_current,
)
from pipeline.settings import ReviewSettings, Settings
from pipeline.store.db import get_engine
from pipeline.store.models import Run, Slot

TEMPLATES_DIR = shipped("templates")
STATIC_DIR = Path(__file__).resolve().parent / "static"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
__all__ = ["ReviewSettings"]  # re-exported: tests and callers build the app with it


templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True)
)


class LoginRequired(Exception):
    """The request needs a signed-in editor."""


class CsrfRejected(Exception):
    """A state-changing request without the session's CSRF token."""


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """A session per request; endpoints that write commit explicitly."""
    factory = sessionmaker(get_engine(request.app.state.settings.db_url),
                           expire_on_commit=False)
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def signed_in_editor(request: Request, db: Session) -> Editor | None:
    """The editor of the request's session, if that session has not ended.

    It has ended when the editor logged out, got a new password or was disabled since the
    cookie was issued (``Editor.session_version``), or no longer exists.
    """
    if "session" not in request.scope:  # outside the session middleware (early errors)
        return None
    editor_id = request.session.get("editor_id")
    editor = db.get(Editor, editor_id) if isinstance(editor_id, int) else None
    return editor if session_is_current(request.session, editor) else None


def current_editor(request: Request, db: SessionDep) -> Editor:
    """The signed-in editor, or :class:`LoginRequired` (the stale session is forgotten)."""
    editor = signed_in_editor(request, db)
    if editor is None:
        request.session.pop("editor_id", None)
        request.session.pop("session_version", None)
        raise LoginRequired
    return editor


EditorDep = Annotated[Editor, Depends(current_editor)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    if not request.session.get("csrf"):
        request.session["csrf"] = new_csrf_token()
    return request.session["csrf"]


async def require_csrf(request: Request) -> None:
    """Reject an unsafe method unless the form field or header carries the session token."""
    if request.method in SAFE_METHODS or request.url.path.startswith(("/hooks/", "/u/", "/w/")):
        return  # public hooks: Twilio's signature, the unsubscribe or reply token authenticates
    given: object = request.headers.get(CSRF_HEADER)
    if given is None and "form" in request.headers.get("content-type", ""):
        given = (await request.form()).get(CSRF_FIELD)  # Starlette caches the parsed form
    if not csrf_matches(request.session.get("csrf"), given if isinstance(given, str) else None):
        raise CsrfRejected


def page(request: Request, name: str, context: dict[str, Any] | None = None,
         status_code: int = 200, editor: Editor | None = None):
    """Render a page or fragment with the CSRF token and signed-in editor in context."""
    full = {"csrf_token": csrf_token(request), "editor": editor, "csrf_field": CSRF_FIELD,
            **(context or {})}
    return templates.TemplateResponse(request=request, name=name, context=full,
                                      status_code=status_code)


def public_page(request: Request, name: str, context: dict[str, Any] | None = None,
                status_code: int = 200):
    """A subscriber's page (``review/public_base.html``): ``page`` with the help contact
    for its footer."""
    return page(request, name, {"help": request.app.state.settings.signup.help_contact,
                                **(context or {})}, status_code=status_code)


def get_run(db: Session, run_id: str) -> Run:
    """The run, or 404."""
    run = db.get(Run, run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id!r}; see the run list")
    return run


def get_slot(db: Session, run_id: str, slot_id: str) -> Slot:
    """The slot, or 404."""
    slot = db.get(Slot, f"{run_id}/{slot_id}")
    if slot is None:
        raise HTTPException(404, f"no slot {slot_id!r} in run {run_id!r}")
    return slot
