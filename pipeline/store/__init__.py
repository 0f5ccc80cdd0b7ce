"""Store: SQLAlchemy models (runs, slots, slot members), migrations, and run folders.

The database is SQLite under ``data/`` by default; any SQLAlchemy URL works through
``ZIPCAST_DATABASE_URL`` (PostgreSQL is tested where a server can be started).
"""

from pipeline.store.db import get_engine, migrate, session_scope
from pipeline.store.models import Base, Run, Slot, SlotMember
from pipeline.store.runs import (
    RunMissing,
    RunNotFound,
    StagedForecast,
    load_run,
    open_runs,
    pick_run,
    previous_run,
    recent_runs,
    save_run,
    write_run_folder,
    write_summary,
)

__all__ = [
    "Base",
    "Run",
    "RunMissing",
    "RunNotFound",
    "Slot",
    "SlotMember",
    "StagedForecast",
    "get_engine",
    "load_run",
    "previous_run",
    "recent_runs",
    "migrate",
    "open_runs",
    "pick_run",
    "save_run",
    "session_scope",
    "write_run_folder",
    "write_summary",
]
