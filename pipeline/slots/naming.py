"""Human names for slots: a region from the members' states, counties and cities.

"Upper Midwest", "Southern Texas", "Miami-Dade County area, FL", "Great Lakes & Ohio Valley" —
the words a forecaster would use, chosen by where most members are.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

STATE_NAMES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "Washington DC",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin",
    "WY": "Wyoming", "PR": "Puerto Rico", "VI": "US Virgin Islands", "GU": "Guam",
    "AS": "American Samoa", "MP": "Northern Mariana Islands", "FM": "Micronesia",
    "MH": "Marshall Islands", "PW": "Palau",
}

REGIONS = {
    "New England": "CT ME MA NH RI VT",
    "Mid-Atlantic": "NY NJ PA DE MD DC",
    "Southeast": "VA NC SC GA",
    "Florida": "FL",
    "Tennessee Valley": "WV KY TN",
    "Deep South": "AL MS LA AR",
    "Great Lakes": "OH MI IN IL WI",
    "Upper Midwest": "MN IA ND SD",
    "Central Plains": "NE KS MO",
    "Southern Plains": "OK TX",
    "Northern Rockies": "MT WY ID",
    "Southern Rockies": "CO UT NM",
    "Desert Southwest": "AZ NV",
    "California": "CA",
    "Pacific Northwest": "WA OR",
    "Alaska": "AK",
    "Hawaii": "HI",
    "Caribbean": "PR VI",
    "Pacific Islands": "GU AS MP FM MH PW",
}
REGION_OF = {state: region for region, states in REGIONS.items() for state in states.split()}


def _part_of_state(members: pd.DataFrame, state_zips: pd.DataFrame) -> str:
    """'Northern', 'Southeastern', … where the members sit within their state; '' if all of it."""
    if len(members) >= 0.6 * len(state_zips):
        return ""
    dlat = members["lat"].mean() - state_zips["lat"].mean()
    dlon = members["lon"].mean() - state_zips["lon"].mean()
    spread_lat = max(state_zips["lat"].std(), 0.1)
    spread_lon = max(state_zips["lon"].std(), 0.1)
    ns = "north" if dlat > 0.3 * spread_lat else "south" if dlat < -0.3 * spread_lat else ""
    ew = "east" if dlon > 0.3 * spread_lon else "west" if dlon < -0.3 * spread_lon else ""
    word = ns + ew
    return f"{word.capitalize()}ern " if word else "Central "


def region_name(members: pd.DataFrame, nation: pd.DataFrame) -> str:
    """A region for a slot from its members (rows with state, county, city, lat, lon).

    Parameters
    ----------
    members : DataFrame of the slot's ZIPs
    nation : DataFrame of all ZIPs in the run (to judge "part of a state")
    """
    states = Counter(members["state"])
    top_state, top_count = states.most_common(1)[0]
    counties = Counter(zip(members["state"], members["county"], strict=True))
    (c_state, county), c_count = counties.most_common(1)[0]
    if county and c_count >= 0.6 * len(members) and len(members) <= 60:
        city = Counter(members.loc[members["county"] == county, "city"]).most_common(1)[0][0]
        return f"{city.title()} area, {c_state}"
    if top_count >= 0.7 * len(members):
        state_zips = nation[nation["state"] == top_state]
        part = _part_of_state(members[members["state"] == top_state], state_zips)
        return f"{part}{STATE_NAMES.get(top_state, top_state)}"
    regions = Counter(REGION_OF.get(s, s) for s in members["state"]).most_common()
    chosen, covered = [], 0
    for region, count in regions:
        chosen.append(region)
        covered += count
        if covered >= 0.7 * len(members) or len(chosen) == 2:
            break
    more = " +" if covered < 0.7 * len(members) else ""
    return " & ".join(chosen) + more


def unique_names(names: list[str], headlines: list[str]) -> list[str]:
    """Slot names 'Region · headline', numbered where two would read the same."""
    full = [f"{n} · {h}" for n, h in zip(names, headlines, strict=True)]
    seen: Counter[str] = Counter(full)
    counter: Counter[str] = Counter()
    out = []
    for name in full:
        if seen[name] > 1:
            counter[name] += 1
            out.append(f"{name} ({counter[name]})")
        else:
            out.append(name)
    return out


