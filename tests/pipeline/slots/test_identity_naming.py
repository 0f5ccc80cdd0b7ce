"""Tests for stable slot identities and human names."""

import numpy as np
import pandas as pd

from pipeline.slots.identity import PreviousRun, assign_ids, carry_over, unchanged_share
from pipeline.slots.naming import distinct_regions, name_detail, region_name, slot_name

PREVIOUS = PreviousRun(
    run_id="r0",
    membership=pd.Series({"1": "s004", "2": "s004", "3": "s004", "4": "s009", "5": "s009"}),
    names={"s004": "Upper Midwest · Snow", "s009": "Florida · Sunny"},
)


def test_slot_keeps_id_when_it_covers_mostly_the_same_zips():
    """A new slot with most members from a previous slot inherits its id; others get new ids."""
    members = [np.array(["1", "2", "3", "9"]), np.array(["4", "8", "7"]), np.array(["6"])]
    inherited = carry_over(members, PREVIOUS)
    assert inherited == ["s004", None, None]
    assert assign_ids(inherited, PREVIOUS) == ["s004", "s010", "s011"]


def test_one_previous_slot_is_inherited_once():
    """Two new slots cannot both inherit one previous slot: the larger overlap wins."""
    inherited = carry_over([np.array(["1", "2"]), np.array(["1", "2", "3"])], PREVIOUS)
    assert inherited == [None, "s004"]


def test_unchanged_share_counts_zips_in_both_runs():
    """The share of ZIPs whose slot id did not change, over ZIPs in both runs."""
    now = pd.DataFrame({"zip": ["1", "2", "4", "99"], "slot_id": ["s004", "s010", "s009", "x"]})
    assert unchanged_share(now, PREVIOUS) == round(2 / 3, 4)
    assert unchanged_share(now, None) is None


def test_region_names_follow_where_members_are(nation):
    """A slot inside one state is named for it (or its part); a wide slot for its regions."""
    florida = nation[nation["state"] == "FL"]
    assert region_name(florida, nation) == "Florida"
    panhandle = florida[florida["lon"] < -84.5]
    assert region_name(panhandle, nation) == "Northwestern Florida"
    upper_midwest = nation[nation["state"].isin(["MN", "IA", "ND", "SD"])]
    assert region_name(upper_midwest, nation) == "Upper Midwest"
    miami = nation[nation["county"] == "Miami-Dade County"].head(40)
    assert region_name(miami, nation).endswith("area, FL")


def test_off_mainland_members_are_always_named(nation):
    """A mainland slot with a few Alaska or Puerto Rico ZIPs says so: never a bare '+'."""
    texas = nation[nation["state"] == "TX"]
    alaska = nation[nation["state"] == "AK"].head(3)
    puerto_rico = nation[nation["state"] == "PR"].head(2)
    name = region_name(pd.concat([texas, alaska, puerto_rico]), nation)
    assert name.startswith("Texas + ")
    assert "Alaska" in name and "Puerto Rico" in name
    assert not name.rstrip().endswith("+")


def test_mainland_spill_is_named_from_ten_percent(nation):
    """Members outside the named parts are named once they reach 10 % of the slot."""
    florida = nation[nation["state"] == "FL"]
    georgia = nation[nation["state"] == "GA"]
    few = georgia.head(len(florida) // 50)
    assert region_name(pd.concat([florida, few]), nation) == "Florida"
    many = georgia.head(len(florida) // 5)
    assert "Georgia" in region_name(pd.concat([florida, many]), nation) or \
        "Southeast" in region_name(pd.concat([florida, many]), nation)


def test_name_detail_lists_every_state_with_its_share(nation):
    """The tooltip behind a name: every state, largest share first, tiny ones as '<1%'."""
    members = pd.concat([nation[nation["state"] == "RI"], nation[nation["state"] == "VI"].head(1)])
    detail = name_detail(members)
    assert detail.startswith("Rhode Island ")
    assert detail.endswith("US Virgin Islands <1%") or "Virgin Islands" in detail


def test_distinct_regions_use_a_city_not_a_number(nation):
    """Two slots that would read the same are told apart by a city each holds more of."""
    ohio = nation[nation["state"] == "OH"]
    middle = ohio["lat"].median()
    north, south = ohio[ohio["lat"] >= middle], ohio[ohio["lat"] < middle]
    names = distinct_regions(["Ohio", "Ohio", "Iowa"], ["Dry", "Dry", "Dry"], [north, south, ohio])
    assert names[2] == "Iowa"
    assert names[0] != names[1]
    assert all(n.startswith("Ohio (incl. ") and n.endswith(", OH)") for n in names[:2])
    assert slot_name(names[2], "Dry") == "Iowa · Dry"
