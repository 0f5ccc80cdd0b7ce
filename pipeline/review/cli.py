"""Plain functions behind ``zipcast users`` and ``zipcast review`` (wired in flows/cli)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.config.review import ReviewSettings
from pipeline.editorial.models import ROLES, Editor
from pipeline.review.security import end_sessions, hash_password
from pipeline.store.db import migrate, session_scope


class UnknownEditor(ValueError):
    """No editor has the given sign-in name."""


@dataclass(frozen=True)
class EditorAccount:
    """An editor as ``zipcast users list`` shows it: never the password hash."""

    name: str
    role: str
    email: str | None
    disabled: bool


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")


def _editor_named(db: Session, name: str) -> Editor:
    editor = db.scalars(select(Editor).where(Editor.name == name.strip())).first()
    if editor is None:
        raise UnknownEditor(f"no editor named {name.strip()!r}; see `zipcast users list`")
    return editor


def add_user(url: str, name: str, role: str, password: str, email: str | None = None) -> Editor:
    """Create an editor, or reset the role and password of an existing one (ending its
    sessions).

    Parameters
    ----------
    url : SQLAlchemy database URL (``Settings.db_url``)
    name : sign-in name, unique
    role : ``editor`` or ``lead``
    password : at least 8 characters
    email : where staff notices go (sheet ready; deadline alerts for leads); optional
    """
    name = name.strip()
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not name or len(name) > 64:
        raise ValueError("name must be 1 to 64 characters")
    _check_password(password)
    if email is not None:
        email = email.strip() or None
        if email and ("@" not in email or any(c in email for c in " ,\r\n")):
            raise ValueError(f"email {email!r} is not an address like name@example.com")
    migrate(url)
    with session_scope(url) as db:
        editor = db.scalars(select(Editor).where(Editor.name == name)).first()
        if editor is None:
            editor = Editor(name=name, role=role, password_hash=hash_password(password),
                            created_at=datetime.now(UTC))
            db.add(editor)
        else:
            editor.role, editor.password_hash = role, hash_password(password)
            end_sessions(db, editor.id)  # cookies signed in with the old password stop working
        if email is not None:
            editor.email = email
        db.flush()
        return editor


def list_users(url: str) -> list[EditorAccount]:
    """Every editor by name, without password hashes."""
    migrate(url)
    with session_scope(url) as db:
        return [EditorAccount(e.name, e.role, e.email, e.disabled)
                for e in db.scalars(select(Editor).order_by(Editor.name))]


def reset_password(url: str, name: str, password: str) -> None:
    """Give an editor a new password and end all of its sessions.

    Raises
    ------
    UnknownEditor
        when no editor is called ``name``
    ValueError
        when the password is shorter than 8 characters
    """
    _check_password(password)
    migrate(url)
    with session_scope(url) as db:
        editor = _editor_named(db, name)
        editor.password_hash = hash_password(password)
        end_sessions(db, editor.id)


def set_disabled(url: str, name: str, disabled: bool) -> None:
    """Disable an editor (its sessions end at once and it cannot sign in) or enable it again.

    Both directions end the editor's sessions, so enabling does not revive a cookie issued
    before the editor was disabled.

    Raises
    ------
    UnknownEditor
        when no editor is called ``name``
    """
    migrate(url)
    with session_scope(url) as db:
        editor = _editor_named(db, name)
        editor.disabled = disabled
        end_sessions(db, editor.id)


def proxy_options(review: ReviewSettings) -> dict[str, Any]:
    """uvicorn's options for ``X-Forwarded-For``: believed only from ``trusted_proxies``, so a
    visitor cannot pick the address its limits are counted by."""
    if not review.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(review.trusted_proxies)}


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the review sheet with uvicorn (settings from the ``ZIPCAST_*`` environment)."""
    import uvicorn

    from pipeline.review.app import create_app

    app = create_app()
    uvicorn.run(app, host=host, port=port, **proxy_options(app.state.settings.review))
