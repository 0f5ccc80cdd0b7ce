"""Tests for the SVG slot map."""

import xml.etree.ElementTree as ET

import numpy as np

from pipeline.drawing.maps import slots_svg
from pipeline.geo import load_zips


def test_map_is_svg_with_one_area_per_slot_and_a_legend():
    """The map is well-formed SVG with a titled area per slot in each panel, and a legend."""
    zips = load_zips(["NY", "HI", "PR"])
    slot_ids = np.where(zips["state"] == "NY", np.where(zips["lon"] < -75, "s001", "s002"),
                        "s003")
    names = {"s001": "Western New York", "s002": "Eastern New York", "s003": "Islands"}
    root = ET.fromstring(slots_svg(zips, slot_ids, names, title="test"))
    ns = "{http://www.w3.org/2000/svg}"
    titles = [p.find(f"{ns}title").text for p in root.iter(f"{ns}path")]
    assert sorted(titles) == ["Eastern New York", "Islands", "Islands", "Western New York"]
    legend = [t.text for t in root.iter(f"{ns}text")]
    assert "s001 Western New York" in legend
