"""Who is due, and what they get: the plan the outbox is filled from.

For one run (one window) and one moment ``now``:

1. every active subscriber whose ZIP is in the run gets a delivery moment: their local
   delivery time for the window, on the local date the window starts, moved inside quiet hours
   (8 am – 9 pm local by default);
2. a subscriber is due once that moment has come; after quiet hours end that day it is too
   late and the delivery is skipped, not sent at night;
3. the text comes from the editor gate: an approved slot's message rendered for the
   subscriber's own ZIP; the automatic factual message for a ZIP the slot's message is not
   true for (a misfit), or for an unapproved slot once the deadline passed under the
   ``automatic`` policy; nothing (skipped, "held") under the ``hold`` policy; and not yet while
   the slot waits for editors before the deadline.

Text is rendered once per ZIP, not per subscriber: a national run renders ~41,000 texts for
any number of subscribers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pipeline.config.dispatch import DispatchSettings
from pipeline.dispatch.models import Delivery, DryDelivery, Subscriber
from pipeline.editorial.gate import Gate
from pipeline.editorial.render import MessageTemplate, TemplateError, member_context, parse
from pipeline.store.assignments import FILE, read_assignments
from pipeline.times import to_utc
from pipeline.truth.wording import automatic_message

CHANNEL_COLUMNS = {"sms": "phone", "email": "email", "webhook": "webhook_url"}


class PlanError(RuntimeError):
    """The run cannot be dispatched (its folder or assignments are missing)."""


def _minutes(value: str | time) -> int:
    if isinstance(value, time):
        return value.hour * 60 + value.minute
    hours, minutes = str(value).split(":")
    return int(hours) * 60 + int(minutes)


def delivery_moments(
    local_times: pd.Series, timezones: pd.Series, window_start: pd.Timestamp | datetime,
    window_start_hour: int, quiet_start: time, quiet_end: time,
) -> tuple[np.ndarray, np.ndarray]:
    """Each subscriber's delivery moment and the latest moment it may still go out (UTC).

    Parameters
    ----------
    local_times : "HH:MM" local delivery time per subscriber
    timezones : IANA time zone per subscriber
    window_start : the run's issue time; the window's local date is the date of the next
        local ``window_start_hour`` at or after it, as in :mod:`pipeline.features.windows`
    quiet_start, quiet_end : the local clock range messages may go out in

    Returns
    -------
    due : datetime64[ns] UTC per subscriber, the time moved inside quiet hours
    latest : datetime64[ns] UTC per subscriber, quiet hours' end that day
    """
    issue = to_utc(window_start)
    lo, hi = _minutes(quiet_start), _minutes(quiet_end)
    minutes = np.clip(local_times.map(_minutes).to_numpy(), lo, max(lo, hi - 1))
    due = np.empty(len(local_times), dtype="datetime64[ns]")
    latest = np.empty(len(local_times), dtype="datetime64[ns]")
    for tz, idx in pd.Series(timezones.to_numpy()).groupby(timezones.to_numpy()).indices.items():
        wall_issue = issue.tz_convert(tz).tz_localize(None)
        day = wall_issue.normalize()
        if day + pd.Timedelta(hours=window_start_hour) < wall_issue:
            day += pd.Timedelta(days=1)
        walls = pd.DatetimeIndex(day + pd.to_timedelta(minutes[idx], unit="min"))
        local = walls.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
        due[idx] = local.tz_convert("UTC").tz_localize(None).to_numpy()
        end = (day + pd.Timedelta(minutes=hi)).tz_localize(tz, ambiguous=True,
                                                          nonexistent="shift_forward")
        latest[idx] = end.tz_convert("UTC").tz_localize(None).to_datetime64()
    return due, latest


@dataclass
class ZipTexts:
    """What each ZIP of the run gets now, from the gate and the approved messages."""

    frame: pd.DataFrame  # index zip: slot_id, body (None: not released), automatic, skip
    problems: list[str]


def zip_texts(assignments: pd.DataFrame, gate: Gate, approved: dict[str, str],
              cities: dict[str, str]) -> ZipTexts:
    """The text per ZIP (rendered for that ZIP), or why there is none yet.

    Parameters
    ----------
    assignments : the run's ``assignments.parquet`` (zip, slot_id, fits, automatic,
        automatic_message and the ZIP's facts)
    gate : the run's gate now
    approved : slot id -> approved message template
    cities : ZIP -> city, for ``{{ city }}``
    """
    problems: list[str] = []
    templates: dict[str, MessageTemplate | None] = {}
    for slot_id, template in approved.items():
        try:
            templates[slot_id] = parse(template)
        except TemplateError as err:  # approval checks this; a hand-edited database might not
            templates[slot_id] = None
            problems.append(f"{slot_id}: approved message does not parse ({err}); its ZIPs "
                            f"get the automatic message")
    body: list[str | None] = []
    automatic: list[bool] = []
    skip: list[str | None] = []
    for row in assignments.to_dict("records"):
        slot = row["slot_id"]
        text: str | None = None
        why: str | None = None
        auto = False
        if row.get("automatic") or not row.get("fits", True):
            text, auto = row.get("automatic_message") or automatic_message(row), True
        elif slot in templates:
            compiled = templates[slot]
            try:
                if compiled is None:
                    raise TemplateError("the approved message does not parse")
                text = compiled.render(member_context(row, cities.get(row["zip"], "")))
            except Exception as err:  # noqa: BLE001 -- one ZIP's failure never stops the run
                problems.append(f"{slot} ZIP {row['zip']}: {err}; sent the automatic message")
                text, auto = automatic_message(row), True
        elif slot in gate.automatic:
            text, auto = automatic_message(row), True
        elif slot in gate.held:
            why = "held: the slot was not approved by the deadline"
        body.append(text)
        automatic.append(auto)
        skip.append(why)
    frame = pd.DataFrame({"slot_id": assignments["slot_id"].to_numpy(),
                          "body": np.array(body, dtype=object),
                          "automatic": automatic, "skip": np.array(skip, dtype=object)},
                         index=assignments["zip"].to_numpy())
    return ZipTexts(frame, problems)


def load_assignments(run_dir: str | Path) -> pd.DataFrame:
    """The run's per-ZIP assignments, or :class:`PlanError` saying how to get them."""
    frame = read_assignments(run_dir)
    if frame is None:
        raise PlanError(f"{Path(run_dir) / FILE} is missing: the run folder was moved or "
                        "deleted; rerun `zipcast run --replay` for this run or dispatch "
                        "another run")
    return frame


def subscribers_frame(db: Session, zips: pd.Index,
                      now: datetime | None = None) -> pd.DataFrame:
    """Active subscribers in ``zips``, not paused at ``now``: one row per (subscriber,
    channel) with its address."""
    query = select(
        Subscriber.id, Subscriber.zip, Subscriber.timezone, Subscriber.phone, Subscriber.email,
        Subscriber.webhook_url, Subscriber.morning_at, Subscriber.evening_at, Subscriber.token,
    ).where(Subscriber.status == "active")
    if now is not None:  # "PAUSE 3": nothing planned until the pause ends
        moment = to_utc(now).to_pydatetime()  # SQLite compares stamps as written: UTC both
        query = query.where(or_(Subscriber.paused_until.is_(None),
                                Subscriber.paused_until <= moment))
    rows = db.execute(query).all()
    subs = pd.DataFrame(rows, columns=["subscriber_id", "zip", "timezone", "phone", "email",
                                       "webhook_url", "morning_at", "evening_at", "token"])
    subs = subs[subs["zip"].isin(zips)]
    parts = []
    for channel, column in CHANNEL_COLUMNS.items():
        part = subs[subs[column].notna()]
        part = part.assign(channel=channel, address=part[column])
        parts.append(part)
    out = pd.concat(parts, ignore_index=True) if parts else subs.iloc[:0]
    return out.drop(columns=list(CHANNEL_COLUMNS.values()))


def already_queued(db: Session, run_id: str, window: str,
                   table: type[Delivery] | type[DryDelivery] = Delivery
                   ) -> set[tuple[int, str]]:
    """(subscriber, channel) pairs the outbox (``table``) already holds for the run and
    window."""
    return set(db.execute(select(table.subscriber_id, table.channel).where(
        table.run_id == run_id, table.window == window)).all())


def plan(db: Session, *, run_id: str, window: str, issue_time: datetime,
         assignments: pd.DataFrame, gate: Gate, approved: dict[str, str],
         cities: dict[str, str], settings: DispatchSettings, window_start_hour: int,
         now: datetime, table: type[Delivery] | type[DryDelivery] = Delivery,
         ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Deliveries to write to the outbox (``table``: the real one, or a dry run's) now, and
    counts of the rest.

    Returns
    -------
    rows : one row per new delivery: subscriber_id, channel, address, zip, slot_id, body,
        automatic, due_at, status ("pending", or "skipped" with ``error`` saying why), token
    counts : queued_before, not_due, waiting_for_editors, held, too_late, problems
    """
    subs = subscribers_frame(db, pd.Index(assignments["zip"]), now)
    counts: dict[str, Any] = {"subscriber_channels": len(subs)}
    queued = already_queued(db, run_id, window, table)
    if queued and len(subs):
        keys = pd.MultiIndex.from_arrays([subs["subscriber_id"], subs["channel"]])
        subs = subs[~keys.isin(list(queued))]
    counts["queued_before"] = len(queued)
    if subs.empty:
        return subs.assign(due_at=[], body=[]), counts | {"not_due": 0}
    local = subs["evening_at"] if window == "evening" else subs["morning_at"]
    due, latest = delivery_moments(local, subs["timezone"], issue_time, window_start_hour,
                                   settings.quiet_start, settings.quiet_end)
    now64 = pd.Timestamp(now).tz_convert("UTC").tz_localize(None).to_datetime64()
    subs = subs.assign(due_at=due, latest=latest)
    is_due = due <= now64
    counts["not_due"] = int((~is_due).sum())
    subs = subs[is_due]
    texts = zip_texts(assignments[assignments["zip"].isin(subs["zip"].unique())], gate,
                      approved, cities)
    counts["problems"] = texts.problems
    subs = subs.join(texts.frame, on="zip")
    waiting = subs["body"].isna() & subs["skip"].isna()
    counts["waiting_for_editors"] = int(waiting.sum())
    subs = subs[~waiting].copy()
    too_late = (subs["latest"].to_numpy() <= now64) & subs["skip"].isna().to_numpy()
    subs.loc[too_late, "skip"] = "too late: quiet hours began before it could be sent"
    counts["too_late"] = int(too_late.sum())
    counts["held"] = int(sum(isinstance(x, str) and x.startswith("held") for x in subs["skip"]))
    subs["status"] = np.where(subs["skip"].isna(), "pending", "skipped")
    subs["error"] = subs["skip"]
    subs["body"] = subs["body"].fillna("")
    subs["due_at"] = pd.to_datetime(subs["due_at"]).dt.tz_localize("UTC")
    return subs.drop(columns=["latest", "skip"]).reset_index(drop=True), counts
