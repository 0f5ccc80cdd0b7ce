"""Human names for slots, from where the members actually are.

A name lists the places that hold the slot's members, largest share first, in a forecaster's
words: a county area ("Providence area, RI"), a state or part of one ("Northwestern
Florida"), a region ("Upper Midwest") or an off-mainland place ("Alaska", "Puerto Rico &
USVI", "Pacific islands"). How to read one:

- ``A & B`` (or ``A, B & C``): the named parts; each holds at least :data:`PART_SHARE` of the
  members (the first one is simply the largest). A region is named only when no single state
  holds :data:`STATE_SHARE` of the slot's members there; otherwise that state is named.
- ``+ X``: "also, a smaller share in X". X is always named, never a bare "+": off-mainland
  members (AK, HI, PR, VI and the Pacific territories) are always named as such however few
  they are, and mainland members outside the named parts are named once they reach
  :data:`OTHER_SHARE` ("+ Colorado", "+ 3 other states"). Smaller mainland spill is left out
  of the name; :func:`name_detail` lists every state with its share ("Texas 82%, New Mexico
  11%, US Virgin Islands <1%"), for a tooltip.

Names are made unique within a run by :func:`distinct_regions`, which adds a city the slot
includes ("(incl. Houston, TX)") rather than a number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

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
SHORT_NAMES = {**STATE_NAMES, "VI": "USVI"}  # inside a name, where space is short

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
# Off the mainland: never folded into a mainland region, always named when present.
OFF_MAINLAND = ("Alaska", "Hawaii", "Caribbean", "Pacific Islands")

PART_SHARE = 0.2  # a named part holds at least this share of the slot's members
STATE_SHARE = 0.85  # a region's members this concentrated in one state: name the state
OTHER_SHARE = 0.1  # mainland members outside the named parts: "+ ..." from this share on
MAX_PARTS = 3
COUNTY_SHARE, COUNTY_MAX_ZIPS = 0.6, 60  # "<city> area, ST": a small slot, mostly one county


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


def _english(items: Sequence[str]) -> str:
    """'A', 'A & B', 'A, B & C'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " & " + items[-1]


def _territories(region: str, present: Counter[str]) -> list[str]:
    """Words for an off-mainland region's members: 'Puerto Rico', 'USVI', 'Pacific islands'."""
    states = [s for s in REGIONS[region].split() if present[s]]
    if region == "Pacific Islands" and len(states) > 1:
        return ["Pacific islands"]
    return [SHORT_NAMES[s] for s in sorted(states, key=lambda s: -present[s])]


def _state_label(members: pd.DataFrame, state: str, nation: pd.DataFrame) -> str:
    """A state, or the part of it the members sit in, or a county area for a small slot."""
    mine = members[members["state"] == state]
    counties = Counter(mine["county"].fillna(""))
    county, count = counties.most_common(1)[0]
    if county and count >= COUNTY_SHARE * len(members) and len(members) <= COUNTY_MAX_ZIPS:
        city = Counter(mine.loc[mine["county"] == county, "city"]).most_common(1)[0][0]
        return f"{str(city).title()} area, {state}"
    part = _part_of_state(mine, nation[nation["state"] == state])
    return f"{part}{STATE_NAMES.get(state, state)}"


def region_name(members: pd.DataFrame, nation: pd.DataFrame) -> str:
    """Where a slot's members are, in words (the scheme is in the module docstring).

    Parameters
    ----------
    members : DataFrame of the slot's n_members ZIPs (state, county, city, lat, lon)
    nation : DataFrame of all ZIPs in the run (to judge "part of a state")

    Returns
    -------
    name : e.g. "Southwestern Texas + USVI", "Upper Midwest + Alaska & 2 other states"
    """
    total = len(members)
    present = Counter(members["state"])
    by_region = Counter(REGION_OF.get(s, s) for s in members["state"])
    parts: list[str] = []
    named: set[str] = set()  # states whose members the parts account for
    for n_parts, (region, count) in enumerate(by_region.most_common()):
        if n_parts == MAX_PARTS or (parts and count < PART_SHARE * total):
            break
        if region in OFF_MAINLAND and region not in ("Alaska", "Hawaii"):
            parts += _territories(region, present)
            named |= set(REGIONS[region].split())
            continue
        states = [s for s in REGIONS.get(region, region).split() if present[s]]
        top = max(states, key=lambda s: (present[s], s))
        if present[top] >= STATE_SHARE * count:
            parts.append(_state_label(members, top, nation))
            named.add(top)
        else:
            parts.append(region)
            named |= set(states)
    extra: list[str] = []
    for region in OFF_MAINLAND:
        if any(present[s] for s in REGIONS[region].split()) and not (
                set(REGIONS[region].split()) & named):
            extra += _territories(region, present)
    others = {s: n for s, n in present.items()
              if s not in named and REGION_OF.get(s) not in OFF_MAINLAND}
    if sum(others.values()) >= OTHER_SHARE * total:
        extra.append(STATE_NAMES.get(next(iter(others)), next(iter(others)))
                     if len(others) == 1 else f"{len(others)} other states")
    return _english(parts) + (f" + {_english(extra)}" if extra else "")


def name_detail(members: pd.DataFrame) -> str:
    """Every state of a slot with its share of members, largest first, for a tooltip.

    Parameters
    ----------
    members : DataFrame of the slot's ZIPs (state)

    Returns
    -------
    detail : e.g. "Texas 82%, New Mexico 11%, US Virgin Islands <1%"
    """
    counts = Counter(members["state"])
    total = sum(counts.values())
    words = []
    for state, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        share = 100 * n / total
        words.append(f"{STATE_NAMES.get(state, state)} "
                     f"{'<1' if share < 0.5 else f'{share:.0f}'}%")
    return ", ".join(words)


def _own_city(members: pd.DataFrame, rivals: Sequence[pd.DataFrame],
              taken: set[str]) -> str | None:
    """The city (by ZIP count) this slot holds more of than any rival, not yet used."""
    others = Counter[tuple[str, str]]()
    for rival in rivals:
        for key, n in Counter(zip(rival["city"], rival["state"], strict=True)).items():
            others[key] = max(others[key], n)
    for (city, state), n in Counter(zip(members["city"], members["state"],
                                        strict=True)).most_common():
        label = f"{str(city).title()}, {state}"
        if n > others[(city, state)] and label not in taken:
            return label
    return None


def distinct_regions(regions: Sequence[str], headlines: Sequence[str],
                     members: Sequence[pd.DataFrame]) -> list[str]:
    """Region names, made distinct wherever two slots would read the same.

    Slots whose region and headline are both equal each get a city they hold more of than
    the others: "Texas (incl. Houston, TX)". A slot with no such city gets its lowest ZIP,
    which no other slot has: "Texas (incl. ZIP 75001)".

    Parameters
    ----------
    regions : one region name per slot (:func:`region_name`)
    headlines : one headline per slot
    members : one DataFrame of member rows (zip, city, state) per slot
    """
    groups: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(zip(regions, headlines, strict=True)):
        groups.setdefault(key, []).append(i)
    out = list(regions)
    for indices in groups.values():
        if len(indices) < 2:
            continue
        taken: set[str] = set()
        for i in indices:
            rivals = [members[j] for j in indices if j != i]
            city = _own_city(members[i], rivals, taken)
            if city is None:
                city = f"ZIP {min(members[i]['zip'])}"
            taken.add(city)
            out[i] = f"{regions[i]} (incl. {city})"
    return out


def slot_name(region: str, headline: str) -> str:
    """The name a slot is listed under: 'Region · headline'."""
    return f"{region} · {headline}"
