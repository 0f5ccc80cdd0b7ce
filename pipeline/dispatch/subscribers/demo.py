"""Demo subscribers, spread like people are (by ZIP density), with reserved fake numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import phonenumbers
from phonenumbers import PhoneNumberType
from sqlalchemy import (
    Connection,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.exc import IntegrityError

from pipeline.config.dispatch import DispatchSettings
from pipeline.dispatch.models import CHANNELS
from pipeline.dispatch.subscribers.common import (
    CHUNK,
    DEMO_MIX,
    DEMO_TOKEN_PREFIX,
    TABLE,
    DemoCollision,
    _demo_tokens,
    _gazetteer,
    _now,
)
from pipeline.dispatch.subscribers.csv_import import _default_times
from pipeline.store.db import get_engine

if TYPE_CHECKING:
    from pipeline.settings import Settings




# --- demo subscribers ------------------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0088
# NANP line numbers 555-0100..0199 are reserved for fiction: demo numbers use them first, then
# the rest of the 555 exchange (unassigned for ordinary lines), never 555-1212 (directory help)
_DEMO_LINES = np.array([*range(100, 200), *(n for n in range(10_000)
                                            if not 100 <= n < 200 and n != 1212)])


@lru_cache(maxsize=1)
def _demo_area_codes() -> tuple[int, ...]:
    """US geographic area codes where phonenumbers takes NPA-555-01XX as a valid number."""
    kinds = {PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE,
             PhoneNumberType.FIXED_LINE_OR_MOBILE}
    found = []
    for npa in range(201, 1000):
        number = phonenumbers.parse(f"+1{npa}5550100")
        if (phonenumbers.is_valid_number(number)
                and phonenumbers.region_code_for_number(number) == "US"
                and phonenumbers.number_type(number) in kinds):
            found.append(npa)
    return tuple(found)


def demo_capacity() -> int:
    """How many distinct demo subscribers (phones) there can be."""
    return len(_demo_area_codes()) * len(_DEMO_LINES)


def demo_phones(index: np.ndarray) -> list[str]:
    """Distinct valid E.164 demo phones for distinct non-negative ``index`` values.

    Parameters
    ----------
    index : ndarray of int of shape (n,), each below :func:`demo_capacity`

    Returns
    -------
    list of n str, e.g. ``+12015550100``; neighbouring indices get different area codes.
    """
    codes = np.asarray(_demo_area_codes())
    npa = codes[index % len(codes)]
    line = _DEMO_LINES[index // len(codes)]
    return [f"+1{a}555{b:04d}" for a, b in zip(npa.tolist(), line.tolist(), strict=True)]


def zip_density(lat: np.ndarray, lon: np.ndarray, radius_km: float = 25.0) -> np.ndarray:
    """Number of points within ``radius_km`` of each point (itself included).

    Parameters
    ----------
    lat, lon : ndarray of shape (n,), degrees

    Returns
    -------
    ndarray of int of shape (n,)
    """
    from scipy.spatial import cKDTree  # a second to import: only for demo subscribers

    phi, lam = np.radians(lat), np.radians(lon)
    xyz = np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    chord = 2 * np.sin(radius_km / EARTH_RADIUS_KM / 2)  # great-circle radius on the unit sphere
    return cKDTree(xyz).query_ball_point(xyz, chord, return_length=True)


def demo_weights(zips: pd.DataFrame, rng: np.random.Generator, *, radius_km: float = 25.0,
                 sigma: float = 0.5) -> np.ndarray:
    """Population-like sampling weights of ZIPs, shape (n_zips,), summing to 1.

    The gazetteer has no population; ZIPs are denser where people are, so a ZIP's weight is
    the number of ZIPs within ``radius_km`` times a lognormal(0, ``sigma``) factor.
    """
    weights = zip_density(zips["lat"].to_numpy(), zips["lon"].to_numpy(), radius_km)
    weights = weights * rng.lognormal(0.0, sigma, size=len(weights))
    return weights / weights.sum()


def _mix(channels: Mapping[str, float] | None) -> tuple[list[frozenset[str]], np.ndarray]:
    mix = dict(DEMO_MIX if channels is None else channels)
    combos = [frozenset(key.split("+")) for key in mix]
    unknown = set().union(*combos) - set(CHANNELS) if combos else set()
    shares = np.asarray(list(mix.values()), dtype=float)
    if unknown or not combos or (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"channel mix {mix!r}: keys are channels joined by '+' (from "
                         f"{', '.join(CHANNELS)}), values non-negative shares")
    return combos, shares / shares.sum()


def _spread(rng: np.random.Generator, n: int, default: str, offsets_min: list[int],
            share_default: float = 0.7) -> np.ndarray:
    """Delivery times: ``share_default`` at the default, the rest at half-hour offsets."""
    base = int(default[:2]) * 60 + int(default[3:])
    choices = [f"{(base + m) % 1440 // 60:02d}:{(base + m) % 60:02d}" for m in offsets_min]
    picked = np.asarray(choices)[rng.integers(0, len(choices), size=n)]
    return np.where(rng.random(n) < share_default, default, picked)


def make_demo(
    url: str,
    count: int,
    *,
    seed: int = 0,
    settings: Settings | DispatchSettings | None = None,
    channels: Mapping[str, float] | None = None,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> int:
    """Write ``count`` demo subscribers, spread over ZIPs like people are.

    ZIPs are drawn with :func:`demo_weights`. Addresses are fake but valid: phones from the
    555 exchange (:func:`demo_phones`), ``demo-<i>@example.com`` and
    ``https://hooks.example.com/zipcast/<i>`` (reserved domains). Demo subscribers are
    appended to those already stored: numbering continues and skips any phone or email
    somebody already has. Their tokens start with ``demo-``, which is how ``replace`` finds
    and deletes the previous demo subscribers (and only them) before writing. Everything
    happens in one transaction.

    Parameters
    ----------
    url : SQLAlchemy database URL, already migrated
    count : how many subscribers
    seed : ZIPs, channels and times are reproducible per seed (tokens are always random)
    settings : where the default delivery times come from
    channels : channel mix, e.g. :data:`DEMO_MIX` (the default)
    replace : delete earlier demo subscribers first
    progress : called with (rows written, count) after every chunk
    now : the clock

    Returns
    -------
    int, the number of subscribers written
    """
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    plan = _demo_plan(count, seed, _mix(channels), _default_times(settings))
    now = now or _now()
    is_demo = TABLE.c.token.startswith(DEMO_TOKEN_PREFIX, autoescape=True)
    with get_engine(url).begin() as conn, _big_cache(conn):
        if replace:
            conn.execute(delete(TABLE).where(is_demo))
        first = conn.execute(select(func.count()).where(is_demo)).scalar_one()
        index = _free_demo_numbers(conn, first, count)
        statement = insert(TABLE).values(_stamps(conn, now))
        for start in range(0, count, CHUNK):
            stop = min(start + CHUNK, count)
            try:
                conn.execute(statement, _demo_rows(plan[start:stop], index[start:stop]))
            except IntegrityError as err:  # only if someone writes the same addresses now
                raise DemoCollision("demo addresses clash with subscribers written meanwhile; "
                                    "run the demo again") from err
            if progress is not None:
                progress(stop, count)
    return count


def _demo_plan(count: int, seed: int, mix: tuple[list[frozenset[str]], np.ndarray],
               defaults: Mapping[str, str]) -> pd.DataFrame:
    """Everything seeded about ``count`` demo subscribers: zip, timezone, channels, times."""
    combos, shares = mix
    rng = np.random.default_rng(seed)
    zips = _gazetteer()
    picked = rng.choice(len(zips), size=count, p=demo_weights(zips, rng))
    kinds = rng.choice(len(combos), size=count, p=shares)
    return pd.DataFrame({
        "zip": zips["zip"].to_numpy()[picked],
        "timezone": zips["timezone"].to_numpy()[picked],
        **{c: np.array([c in combo for combo in combos])[kinds] for c in CHANNELS},
        "morning_at": _spread(rng, count, defaults["morning"], [-30, 30, 60, 90]),
        "evening_at": _spread(rng, count, defaults["evening"], [-60, -30, 30, 60]),
    })


def _stamps(conn: Connection, now: datetime) -> dict[str, Any]:
    """``created_at`` and ``updated_at`` as one pre-converted value for every row.

    Converting a datetime for SQLite costs more per row than SQLite's own insert; the
    dialect's converter runs once here instead, and the resulting text is what it would store.
    """
    convert = TABLE.c.created_at.type.bind_processor(conn.dialect)
    stamp = literal(convert(now)) if convert else literal(now, TABLE.c.created_at.type)
    return {"created_at": stamp, "updated_at": stamp}


def _free_demo_numbers(conn: Connection, first: int, count: int) -> np.ndarray:
    """``count`` demo numbers from ``first`` on whose phone and email nobody has yet.

    Earlier demo subscribers take ``0 .. first - 1`` as long as none was deleted by hand;
    imported subscribers may use 555 numbers or ``demo-<i>@example.com`` too: both are skipped.
    """
    phones = set(conn.execute(select(TABLE.c.phone).where(
        TABLE.c.phone.like("+1___555____"))).scalars())
    emails = set(conn.execute(select(TABLE.c.email).where(
        TABLE.c.email.like("demo-%@example.com"))).scalars())
    found: list[np.ndarray] = []
    start, missing = first, count
    while missing > 0:
        candidates = np.arange(start, start + missing)
        if candidates[-1] >= demo_capacity():
            raise ValueError(f"no room for {count:,} more demo subscribers (there are "
                             f"{demo_capacity():,} demo phones); use replace")
        if phones or emails:
            free = [phone not in phones and f"demo-{i}@example.com" not in emails
                    for i, phone in zip(candidates.tolist(), demo_phones(candidates),
                                        strict=True)]
            candidates = candidates[np.asarray(free, dtype=bool)]
        found.append(candidates)
        start, missing = start + missing, missing - len(candidates)
    return np.concatenate(found) if found else np.arange(0)


def _demo_rows(plan: pd.DataFrame, index: np.ndarray) -> list[dict[str, Any]]:
    """Insert parameters for the demo subscribers numbered ``index`` (one per plan row)."""
    return [
        {"zip": zip_code, "timezone": zone, "phone": phone if sms else None,
         "email": f"demo-{i}@example.com" if email else None,
         "webhook_url": f"https://hooks.example.com/zipcast/{i}" if webhook else None,
         "morning_at": morning, "evening_at": evening, "status": "active", "token": token}
        for i, phone, token, zip_code, zone, sms, email, webhook, morning, evening in zip(
            index.tolist(), demo_phones(index), _demo_tokens(len(plan)),
            *(plan[c].tolist() for c in ("zip", "timezone", *CHANNELS, "morning_at",
                                         "evening_at")), strict=True)
    ]


@contextmanager
def _big_cache(conn: Connection) -> Iterator[None]:
    """A 256 MB SQLite page cache while bulk-writing: random index inserts then stay in memory
    (it halves the time of a million-row demo); the connection's own setting comes back after.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql("PRAGMA cache_size=-262144")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")
