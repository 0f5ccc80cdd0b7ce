"""Dispatch locks: one dispatcher per run (or per send partition), by file lock and, on
PostgreSQL, an advisory lock too, so dispatchers on different machines exclude each other;
a killed process releases its locks."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from pipeline.store.db import get_engine


class DispatchBusy(RuntimeError):
    """Another dispatcher holds this run's lock."""


def lock_path(data_dir: Path, run_id: str, suffix: str = "") -> Path:
    folder = data_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"dispatch-{run_id.replace('/', '_')}{suffix}.lock"


@contextmanager
def _flock(path: Path, exclusive: bool, busy: str) -> Iterator[None]:
    """flock ``path`` without waiting (released by the kernel if the process dies); a held
    lock raises DispatchBusy(``busy``). Each call opens its own descriptor, so two holders
    conflict also within one process (threads)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DispatchBusy(busy) from None
        yield
    finally:
        os.close(fd)


def advisory_key(name: str) -> int:
    """A PostgreSQL advisory lock key (signed 64-bit) for a lock file's name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def _pg_lock(db_url: str | None, name: str, exclusive: bool, busy: str) -> Iterator[None]:
    """On PostgreSQL, also take the advisory lock for ``name`` without waiting, on a
    connection held for the duration (the server releases it if the process or host dies),
    so dispatchers on *different machines* exclude each other too. Elsewhere: nothing."""
    if not db_url or not db_url.startswith("postgresql"):
        yield
        return
    suffix = "" if exclusive else "_shared"
    key = advisory_key(name)
    with get_engine(db_url).connect() as connection:
        got = connection.execute(text(f"SELECT pg_try_advisory_lock{suffix}(:k)"),
                                 {"k": key}).scalar()
        connection.commit()
        if not got:
            raise DispatchBusy(busy)
        try:
            yield
        finally:
            connection.execute(text(f"SELECT pg_advisory_unlock{suffix}(:k)"), {"k": key})
            connection.commit()


@contextmanager
def run_lock(data_dir: Path, run_id: str, *, shared: bool = False,
             db_url: str | None = None) -> Iterator[None]:
    """The run's dispatch lock (flock: released by the kernel if the process dies; on
    PostgreSQL ``db_url`` also an advisory lock, which holds across machines).

    Exclusive (default) for whatever plans, reconciles and may send the whole run:
    :func:`dispatch` and :func:`~pipeline.dispatch.partitions.prepare`. Shared for a
    send-only partition: partitions run together, but never beside a reconcile, which would
    take their in-flight ``sending`` rows for a crash's leftovers.
    """
    path = lock_path(data_dir, run_id)
    busy = (f"run {run_id} is being prepared or dispatched (lock {path}); wait for it to "
            f"finish" if shared else
            f"another dispatcher is sending run {run_id} (lock {path}); wait for it to finish")
    with _flock(path, not shared, busy), _pg_lock(db_url, path.name, not shared, busy):
        yield
