"""SQLAlchemy 2 models. Later issues add editors, subscribers and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Run(Base):
    """One clustering run: a source at an issue time, cut to a window, grouped into slots."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]
    issue_time: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))
    window: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default="complete")
    n_zips: Mapped[int] = mapped_column(Integer)
    n_slots: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]]
    summary: Mapped[dict[str, Any]]
    run_dir: Mapped[str] = mapped_column(Text)

    slots: Mapped[list[Slot]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="Slot.rank"
    )


class Slot(Base):
    """One message slot of a run."""

    __tablename__ = "slots"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)  # "<run_id>/<slot_id>"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    slot_id: Mapped[str] = mapped_column(String(16))  # "s001", ranked by size
    rank: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    headline: Mapped[str] = mapped_column(Text)
    n_zips: Mapped[int] = mapped_column(Integer)
    n_fit: Mapped[int] = mapped_column(Integer)
    states: Mapped[dict[str, Any]]
    facts: Mapped[dict[str, Any]]
    representative: Mapped[dict[str, Any]]
    medoid_zip: Mapped[str] = mapped_column(String(5))
    draft_message: Mapped[str] = mapped_column(Text)
    # "<previous run id>/<slot id>" when this slot's identity carried over from that run
    carried_from: Mapped[str | None] = mapped_column(String(96), nullable=True, default=None)

    run: Mapped[Run] = relationship(back_populates="slots")


class SlotMember(Base):
    """A ZIP's membership in a run's slot: DTW distance to the barycenter, and whether the
    slot's message is true there (``fits``) or the ZIP gets an automatic message."""

    __tablename__ = "slot_members"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    zip: Mapped[str] = mapped_column(String(5), primary_key=True)
    slot_id: Mapped[str] = mapped_column(String(16), index=True)
    distance: Mapped[float] = mapped_column(Float)
    fits: Mapped[bool] = mapped_column(Boolean)
    automatic: Mapped[bool] = mapped_column(Boolean)


class Verification(Base):
    """A run's messages checked against what the weather did (``zipcast verify``); one row per
    run, replaced when the run is verified again (e.g. with later observations)."""

    __tablename__ = "verifications"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    verified_at: Mapped[datetime]
    window_end: Mapped[datetime | None] = mapped_column(nullable=True)
    sent_true_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    verifiable_share: Mapped[float] = mapped_column(Float)
    observations: Mapped[str] = mapped_column(Text)  # what was read, one line
    summary: Mapped[dict[str, Any]]
