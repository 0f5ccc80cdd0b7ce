"""Plain functions behind ``zipcast users add`` and ``zipcast review`` (wired in flows/cli)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from pipeline.editorial.models import ROLES, Editor
from pipeline.review.security import hash_password
from pipeline.store.db import migrate, session_scope


def add_user(url: str, name: str, role: str, password: str, email: str | None = None) -> Editor:
    """Create an editor, or reset the role and password of an existing one.

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
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")
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
        if email is not None:
            editor.email = email
        db.flush()
        return editor


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the review sheet with uvicorn (settings from the ``ZIPCAST_*`` environment)."""
    import uvicorn

    from pipeline.review.app import create_app

    uvicorn.run(create_app(), host=host, port=port, proxy_headers=False)
