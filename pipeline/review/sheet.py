"""What the sheet shows per slot, and the per-run pictures (sparklines, maps), cached."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from markupsafe import Markup

from pipeline.dispatch.subscribers import subscriber_counts
from pipeline.drawing.charts import sparkline_svg
from pipeline.drawing.maps import thumbnails
from pipeline.editorial.gate import send_time
from pipeline.editorial.models import Message
from pipeline.editorial.render import RenderReport, check, slot_members
from pipeline.editorial.sms import SmsCount, count
from pipeline.features.windows import build_series
from pipeline.geo import city_names, load_zips
from pipeline.settings import ReviewSettings, Settings
from pipeline.store.assignments import read_assignments
from pipeline.store.models import Run, Slot
from pipeline.times import utc

EASTERN = ZoneInfo("America/New_York")



def member_bands(run_dir: str | Path, window: str, issue_time: pd.Timestamp,
                 settings: Settings, zips: pd.DataFrame, slot_of: pd.Series) -> dict[str, dict]:
    """Per slot, the 10th and 90th percentile per step of temperature and precip chance.

    Parameters
    ----------
    zips : gazetteer rows (zip, timezone) of the run's member ZIPs
    slot_of : ZIP -> short slot id

    Returns
    -------
    dict slot_id -> {"temperature_f": (lo, hi), "precip_probability": (lo, hi)}, each an
    ndarray of shape (n_steps,); empty when the forecast file is missing.
    """
    path = Path(run_dir) / "forecast.parquet"
    if not path.exists():
        return {}
    forecast = pd.read_parquet(path)
    zips = zips[zips["zip"].isin(slot_of.index)].reset_index(drop=True)
    series = build_series(forecast, zips, window=window, settings=settings,
                          issue_time=issue_time)
    labels = slot_of.reindex(series.zips).to_numpy()
    bands: dict[str, dict] = {}
    for slot in pd.unique(labels):
        rows = labels == slot
        bands[str(slot)] = {
            name: tuple(np.nanpercentile(series.var(name)[rows], q, axis=0) for q in (10, 90))
            for name in ("temperature_f", "precip_probability")
        }
    return bands


@dataclass
class RunAssets:
    """Per-run computed pictures and member facts, built lazily and kept for the process."""

    run_id: str
    run_dir: str
    members: dict[str, list[dict]] = field(default_factory=dict)
    bands: dict[str, dict] | None = None
    maps: dict[str, str] | None = None
    detail: object | None = None  # tables.RunDetail, built on the first detail page
    audience: tuple[float, dict[str, int]] | None = None  # (counted at, slot id -> count)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def members_of(self, slot: Slot) -> list[dict]:
        if slot.slot_id not in self.members:
            self.members[slot.slot_id] = slot_members(self.run_dir, slot.slot_id, city_names())
        return self.members[slot.slot_id]


def assets_for(cache: dict, run: Run) -> RunAssets:
    """The run's assets from ``cache`` (app state), created on first use."""
    if run.id not in cache:
        cache[run.id] = RunAssets(run.id, run.run_dir)
    return cache[run.id]


def _assignments(run_dir: str) -> pd.DataFrame:
    frame = read_assignments(run_dir, columns=["zip", "slot_id"])
    return pd.DataFrame({"zip": [], "slot_id": []}) if frame is None else frame


def bands(assets: RunAssets, run: Run, settings: Settings) -> dict[str, dict]:
    """Member bands per slot (see :func:`member_bands`), computed once per run."""
    with assets.lock:
        if assets.bands is None:
            slot_of = _assignments(run.run_dir).set_index("zip")["slot_id"]
            try:
                assets.bands = member_bands(run.run_dir, run.window,
                                            pd.Timestamp(utc(run.issue_time)), settings,
                                            load_zips(), slot_of)
            except Exception:  # noqa: BLE001 -- a missing picture must not block the sheet
                assets.bands = {}
        return assets.bands


def slot_maps(assets: RunAssets) -> dict[str, str]:
    """A small SVG per slot: the run's area in grey, the slot in colour (lower 48 only)."""
    with assets.lock:
        if assets.maps is None:
            assets.maps = thumbnails(_assignments(assets.run_dir), load_zips())
        return assets.maps


@dataclass
class SlotRow:
    """One row of the sheet."""

    slot: Slot
    message: Message | None
    text: str
    version: int
    status: str  # empty, draft, approved
    sms: SmsCount
    report: RenderReport
    sparkline: Markup
    n_subscribers: int = 0
    previous: Message | None = None  # the carried-from slot's message in the previous run


def slot_rows(run: Run, saved: dict[str, Message], assets: RunAssets,
              band_of: dict[str, dict],
              audience: dict[str, int] | None = None) -> list[SlotRow]:
    """Rows ordered by subscribers reached (``audience``: slot id -> active subscribers),
    then ZIP count, then rank."""
    audience = audience or {}
    rows = []
    for slot in sorted(run.slots, key=lambda s: (-audience.get(s.slot_id, 0), -s.n_zips,
                                                 s.rank)):
        message = saved.get(slot.id)
        text = message.text if message else slot.draft_message
        rep = slot.representative or {}
        bary = rep.get("barycenter", {})
        band = band_of.get(slot.slot_id, {})
        spark = Markup(sparkline_svg(  # our own SVG: numbers and an escaped title
            rep.get("local_hour", []), bary.get("temperature_f", []),
                              bary.get("precip_probability", []),
                              band.get("temperature_f"), band.get("precip_probability"),
                              label=f"{slot.name}: temperature and precipitation chance"))
        rows.append(SlotRow(slot, message, text, message.version if message else 0,
                            message.status if message else "empty", count(text),
                            check(text, assets.members_of(slot)[:3]), spark,
                            audience.get(slot.slot_id, 0)))
    return rows


AUDIENCE_TTL_S = 60.0


def audience(assets: RunAssets, url: str, clock: Callable[[], float]) -> dict[str, int]:
    """Active subscribers per slot of the run (slot id -> count), recounted at most once a
    minute: a GROUP BY over a million subscribers costs more than the whole sheet."""
    with assets.lock:
        if assets.audience is None or clock() - assets.audience[0] > AUDIENCE_TTL_S:
            per_zip = subscriber_counts(url)
            slot_of = _assignments(assets.run_dir)
            counts = slot_of.assign(n=slot_of["zip"].map(per_zip).fillna(0).astype(int))
            assets.audience = (clock(), {str(k): int(v) for k, v in
                                         counts.groupby("slot_id")["n"].sum().items()})
        return assets.audience[1]


def deadline(run: Run, review: ReviewSettings, now: datetime) -> dict:
    """The run's send time (see :func:`pipeline.editorial.gate.send_time`) and the time left."""
    send_at = send_time(run, review)
    left = send_at - now
    minutes = int(left.total_seconds() // 60)
    return {"send_at": send_at, "send_at_et": send_at.astimezone(EASTERN),
            "passed": minutes < 0, "left": f"{minutes // 60} h {minutes % 60:02d} min"}
