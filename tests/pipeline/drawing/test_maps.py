"""Tests for the national SVG slot map."""

import re
import xml.etree.ElementTree as ET

import numpy as np

from pipeline.drawing.maps import slots_svg
from pipeline.drawing.shapes import PANELS
from pipeline.geo import load_zips

NS = "{http://www.w3.org/2000/svg}"


def _texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def test_map_is_svg_with_one_area_per_slot_and_a_legend():
    """The map is well-formed SVG with a titled area per slot in each panel, and a legend."""
    zips = load_zips(["NY", "HI", "PR"])
    slot_ids = np.where(zips["state"] == "NY", np.where(zips["lon"] < -75, "s001", "s002"),
                        "s003")
    names = {"s001": "Western New York", "s002": "Eastern New York", "s003": "Islands"}
    root = ET.fromstring(slots_svg(zips, slot_ids, names, title="test"))
    titles = [p.find(f"{NS}title").text for p in root.iter(f"{NS}path") if p.find(f"{NS}title")
              is not None]
    assert sorted(titles) == ["1. Western New York", "2. Eastern New York", "3. Islands",
                              "3. Islands"]
    assert {"Western New York", "Eastern New York", "Islands", "Hawaii",
            "Puerto Rico, USVI"} <= set(_texts(root))


def test_legend_names_every_slot_of_a_national_run(nation):
    """80 slots (and one named only by its id): the legend lists each, escaped, numbered."""
    slot_ids = nation["slot_id"].where(nation["state"] != "GU", "guam").to_numpy()
    ranked = nation.assign(slot_id=slot_ids)["slot_id"].value_counts().index
    names = {s: f"Slot {s} <near> \"A & B\"" for s in ranked if s != "guam"}
    svg = slots_svg(nation, slot_ids, names, title="nation & co")
    root = ET.fromstring(svg)
    texts = _texts(root)
    assert all(name in texts for name in names.values())
    assert "guam" in texts  # no name given: listed under its id
    assert [str(i) for i in range(1, len(ranked) + 1)] == [
        t for t in texts if t.isdigit()][-len(ranked):]
    assert {"Alaska", "Hawaii", "Puerto Rico, USVI", "Pacific"} <= set(texts)
    fills = {r.get("fill") for r in root.iter(f"{NS}rect") if r.get("width") == "12"}
    assert len(fills) == len(ranked)  # a colour of its own per slot


def test_a_slot_only_in_guam_is_drawn_on_the_pacific_inset():
    """A slot of Guam alone is drawn inside the Pacific inset."""
    zips = load_zips(["RI", "GU"])
    slot_ids = np.where(zips["state"] == "GU", "guam", "ri")
    root = ET.fromstring(slots_svg(zips, slot_ids, {"ri": "Rhode Island", "guam": "Guam"}))
    assert "Pacific" in _texts(root)
    guam = next(p.get("d") for p in root.iter(f"{NS}path")
                if p.find(f"{NS}title") is not None and p.find(f"{NS}title").text == "2. Guam")
    xy = np.array(re.findall(r"(-?[\d.]+),(-?[\d.]+)", guam), dtype=float)
    x0, y0, w, h = next(p.box for p in PANELS if p.name == "Pacific")
    assert (xy[:, 0] >= x0).all() and (xy[:, 0] <= x0 + w).all()
    assert (xy[:, 1] >= y0).all() and (xy[:, 1] <= y0 + h).all()


def test_islands_too_small_to_see_get_a_dot(nation):
    """Over the whole Pacific the islands are specks: each is drawn as a dot in its colour."""
    root = ET.fromstring(slots_svg(nation, nation["slot_id"].to_numpy(), {}))
    x0, y0, w, h = next(p.box for p in PANELS if p.name == "Pacific")
    dots = [c for c in root.iter(f"{NS}circle")
            if x0 <= float(c.get("cx")) <= x0 + w and y0 <= float(c.get("cy")) <= y0 + h]
    assert len(dots) >= 5  # Palau to American Samoa, several islands
