"""Engines, sessions and Alembic migrations, for SQLite (default) or any SQLAlchemy URL."""

from __future__ import annotations

import atexit
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()  # every engine still alive


@atexit.register
def _close_engines() -> None:
    """Close every engine's pooled connections as the process exits.

    SQLite folds its write-ahead log back into the database file when the last connection
    closes; left to the interpreter's exit, that depended on the garbage collector reaching
    the pool's reference cycles, which a frozen collector (``gc.freeze()``, as the command line
    does at exit) never does: the schema and rows then sat in ``zipcast.sqlite-wal`` beside a 4 KB
    database file, safe only as long as the two stayed together.
    """
    for engine in list(_ENGINES):
        engine.dispose()


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL. SQLite gets WAL and enforced foreign keys; its folder is created.

    Its connections are closed when the process exits (:func:`_close_engines`)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

    _ENGINES.add(engine)
    return engine


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration's revision, read from the migration files (no Alembic import)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text()
        revisions.update(re.findall(r'^revision = "([^"]+)"', source, re.M))
        parents.update(re.findall(r'^down_revision = "([^"]+)"', source, re.M))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations must form one line; heads found: {sorted(heads)}")
    return heads.pop()


def current_revision(url: str) -> str | None:
    """The database's schema revision (``None``: no schema yet)."""
    try:
        with get_engine(url).connect() as connection:
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    except DBAPIError:  # no alembic_version table: a new database
        return None
    return None if row is None else str(row[0])


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (idempotent).

    A database already at the newest revision is left alone without importing Alembic
    (1.4 s of every command's start on these machines).
    """
    if current_revision(url) == head_revision():
        return
    from alembic import command

    engine = get_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    factory = sessionmaker(get_engine(url), expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
