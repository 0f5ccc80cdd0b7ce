"""ZIP gazetteer: every active US ZIP with a location and a time zone.

Source: the ``zipcodes`` package: 41,084 active ZIPs with a location and a time zone in
zipcodes 3.0.0 (all states, DC, PR, VI, GU and the freely associated states).

51 of those carry a placeholder location of (0, 0). They are placed honestly where we can:
from ``data/gazetteer_fixes.csv`` (7 real places the package names but does not locate), then
at the mean location of the package's other ZIPs of the same city and state, then of the same
county (or territory). The 6 military APO/DPO codes among them have no location at all and are
left out, as military codes are, which leaves 41,078 ZIPs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import available_timezones

import numpy as np
import pandas as pd
import zipcodes

from pipeline.files import write_atomically
from pipeline.resources import shipped

if TYPE_CHECKING:
    import geopandas as gpd

GAZETTEER_VERSION = 1  # bump when _build_gazetteer changes what it builds
COLUMNS = ["zip", "city", "state", "county", "timezone", "lat", "lon"]
FIXES = shipped("data/gazetteer_fixes.csv")
MILITARY_CITIES = {"APO", "DPO", "FPO"}


class UnknownState(ValueError):
    """A state filter named a state that has no active ZIPs."""


@lru_cache(maxsize=1)
def city_names() -> dict[str, str]:
    """ZIP -> city name, title-cased ("Providence"), for every ZIP of :func:`load_zips`."""
    zips = _gazetteer()  # load_zips' rows, without the geometry (and geopandas' import)
    return dict(zip(zips["zip"], zips["city"].str.title(), strict=True))


def zip_rows() -> pd.DataFrame:
    """The gazetteer as a plain frame (:func:`load_zips`' columns without the geometry, and
    without geopandas' import); do not modify it (it is shared)."""
    return _gazetteer()


@lru_cache(maxsize=1)
def _gazetteer() -> pd.DataFrame:
    """The gazetteer's rows, from the disk cache when this zipcodes version and these fixes
    built it before (1.6 s to build, 0.05 s to read)."""
    from pipeline.settings import get_settings

    key = hashlib.sha256(f"{GAZETTEER_VERSION}|{zipcodes.__version__}|".encode()
                         + FIXES.read_bytes()).hexdigest()[:16]
    cached = get_settings().cache_dir / f"gazetteer-{key}.parquet"
    try:
        return pd.read_parquet(cached)
    except (OSError, ValueError):  # not built yet, or unreadable: build it again
        pass
    frame = _build_gazetteer()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cached, lambda temp: frame.to_parquet(temp, index=False))
    except OSError:  # a read-only data dir: build it each time
        pass
    return frame


def _build_gazetteer() -> pd.DataFrame:
    rows = [
        r
        for r in zipcodes.list_all()
        if r["active"] and r["lat"] and r["long"] and r["timezone"]
    ]
    frame = pd.DataFrame(
        {
            "zip": [r["zip_code"] for r in rows],
            "city": [r["city"] for r in rows],
            "state": [r["state"] for r in rows],
            "county": [r["county"] for r in rows],
            "timezone": [r["timezone"] for r in rows],
            "lat": [float(r["lat"]) for r in rows],
            "lon": [float(r["long"]) for r in rows],
        }
    )
    # zipcodes 3.0.0 has one ZIP whose "timezone" is a town name ("Napakiak", AK): give such
    # rows the most common real time zone of their state, so every ZIP has a usable zone.
    valid = available_timezones()
    bad = ~frame["timezone"].isin(valid)
    if bad.any():
        by_state = {
            state: Counter(group[group.isin(valid)]).most_common(1)[0][0]
            for state, group in frame.groupby("state")["timezone"]
        }
        frame.loc[bad, "timezone"] = frame.loc[bad, "state"].map(by_state)
    frame = _place_unlocated(frame)
    return frame.sort_values("zip", ignore_index=True)


def _place_unlocated(frame: pd.DataFrame) -> pd.DataFrame:
    """Give (0, 0) placeholders a real location, or leave them out (military codes)."""
    unlocated = (frame["lat"].abs() < 1e-6) & (frame["lon"].abs() < 1e-6)
    military = unlocated & frame["city"].str.upper().isin(MILITARY_CITIES)
    frame = frame[~military].copy()
    unlocated = unlocated[~military]
    located = frame[~unlocated]
    fixes = pd.read_csv(FIXES, dtype={"zip": str}).set_index("zip")
    for i in frame.index[unlocated]:
        row = frame.loc[i]
        if row["zip"] in fixes.index:
            lat, lon = fixes.loc[row["zip"], ["lat", "lon"]]
        else:
            same = located[(located["state"] == row["state"]) & (located["city"] == row["city"])]
            if same.empty:
                same = located[
                    (located["state"] == row["state"]) & (located["county"] == row["county"])
                ]
            if same.empty:
                raise RuntimeError(f"gazetteer: cannot place ZIP {row['zip']} ({row['city']}, "
                                   f"{row['state']}); add it to {FIXES}")
            lat, lon = same["lat"].mean(), same["lon"].mean()
        frame.loc[i, ["lat", "lon"]] = [round(float(lat), 4), round(float(lon), 4)]
    return frame


def load_zips(states: Iterable[str] | None = None) -> gpd.GeoDataFrame:
    """Return the gazetteer as a GeoDataFrame in EPSG:4326, sorted by ZIP.

    Parameters
    ----------
    states : iterable of str, optional
        Two-letter state codes to keep (e.g. ``["NY", "NJ"]``). ``None`` keeps the nation.

    Returns
    -------
    GeoDataFrame with columns zip, city, state, county, timezone, lat, lon, geometry (points).
    """
    import geopandas as gpd  # about a second to import: only where geometry is needed

    frame = _gazetteer()
    if states is not None:
        wanted = sorted({s.strip().upper() for s in states if s.strip()})
        unknown = sorted(set(wanted) - set(frame["state"]))
        if unknown:
            raise UnknownState(
                f"no active ZIPs for state code(s) {', '.join(unknown)}; "
                f"use two-letter codes such as {', '.join(sorted(frame['state'].unique())[:6])}"
            )
        frame = frame[frame["state"].isin(wanted)].reset_index(drop=True)
    return gpd.GeoDataFrame(
        frame.copy(),
        geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
        crs="EPSG:4326",
    )


def split(zips: gpd.GeoDataFrame, n: int) -> list[gpd.GeoDataFrame]:
    """``zips`` in ``n`` consecutive, near-equal parts (ingest partitions), in gazetteer order.

    Sources give a ZIP the same series whatever else is asked with it, so the parts' rows
    concatenated equal one call for all of them.
    """
    n = max(1, min(int(n), len(zips)))
    bounds = np.linspace(0, len(zips), n + 1).astype(int)
    return [zips.iloc[a:b].reset_index(drop=True) for a, b in zip(bounds[:-1], bounds[1:],
                                                                  strict=True)]
