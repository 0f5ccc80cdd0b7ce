"""Tests for stable slot identities and human names."""

import numpy as np
import pandas as pd

from pipeline.slots.identity import PreviousRun, assign_ids, carry_over, unchanged_share
from pipeline.slots.naming import region_name, unique_names

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


def test_unique_names_number_duplicates():
    """Two slots that would read the same are numbered."""
    assert unique_names(["Ohio", "Ohio", "Iowa"], ["Dry", "Dry", "Dry"]) == [
        "Ohio · Dry (1)", "Ohio · Dry (2)", "Iowa · Dry",
    ]
