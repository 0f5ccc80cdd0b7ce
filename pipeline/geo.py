"""ZIP gazetteer: every active US ZIP with a location and a time zone.

Source: the ``zipcodes`` package (41,084 ZIPs in zipcodes 3.0.0: all states, DC, PR, VI, GU and
the freely associated states). Military APO/FPO codes have no location and are left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

import geopandas as gpd
import pandas as pd
import zipcodes

COLUMNS = ["zip", "city", "state", "county", "timezone", "lat", "lon"]


class UnknownState(ValueError):
    """A state filter named a state that has no active ZIPs."""


@lru_cache(maxsize=1)
def _gazetteer() -> pd.DataFrame:
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
    return frame.sort_values("zip", ignore_index=True)


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


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for a gazetteer time-zone name."""
    return ZoneInfo(name)
