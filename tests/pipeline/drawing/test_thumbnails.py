"""Tests for the sheet's slot thumbnails."""

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

from pipeline.drawing.maps import thumbnails as from_maps
from pipeline.drawing.thumbnails import INSET_BOXES, THUMB_H, THUMB_W, thumbnails
from pipeline.geo import load_zips

NS = "{http://www.w3.org/2000/svg}"
MAX_BYTES = 15_000


def _slot_cells(svg: str) -> list[tuple[int, int, int]]:
    """(x, y, width) of every run in the slot's (second) path."""
    d = [p.get("d") for p in ET.fromstring(svg).iter(f"{NS}path")][1]
    return [(int(x), int(y), int(w)) for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)", d)]


def _inside(cells, box) -> bool:
    x0, y0, w, h = box
    return all(x0 <= x and x + width <= x0 + w and y0 <= y < y0 + h for x, y, width in cells)


def test_every_slot_of_a_national_run_has_a_small_thumbnail(nation):
    """80 slots over all 41,078 ZIPs: one well-formed SVG each, none over 15 KB."""
    maps = thumbnails(nation[["zip", "slot_id"]], nation)
    assert set(maps) == set(nation["slot_id"])
    for svg in maps.values():
        root = ET.fromstring(svg)
        assert root.get("viewBox") == f"0 0 {THUMB_W} {THUMB_H}"
        assert len(svg.encode()) <= MAX_BYTES
    assert from_maps is thumbnails  # the sheet still imports it from maps


def test_alaska_hawaii_and_caribbean_slots_are_drawn_in_their_insets():
    """A slot wholly in AK, HI or PR/VI is coloured inside that inset and nowhere else."""
    zips = load_zips(["CA", "NY", "FL", "AK", "HI", "PR", "VI"])  # coast to coast
    slot = zips["state"].map({"AK": "alaska", "HI": "hawaii", "PR": "caribbean",
                              "VI": "caribbean"}).fillna("new-york")
    maps = thumbnails(pd.DataFrame({"zip": zips["zip"], "slot_id": slot}), zips)
    boxes = [INSET_BOXES[p] for p in (1, 2, 3)]
    for name, box in zip(("alaska", "hawaii", "caribbean"), boxes, strict=True):
        cells = _slot_cells(maps[name])
        assert cells, name
        assert _inside(cells, box), name
    assert not any(_inside([c], box) for c in _slot_cells(maps["new-york"]) for box in boxes)


def test_a_slot_only_in_guam_gets_a_thumbnail(nation):
    """Guam is on the Pacific inset: its slot is coloured there, with a ring to find it."""
    slot = nation["slot_id"].where(nation["state"] != "GU", "guam")
    maps = thumbnails(pd.DataFrame({"zip": nation["zip"], "slot_id": slot}), nation)
    assert _inside(_slot_cells(maps["guam"]), INSET_BOXES[4])
    assert "<circle" in maps["guam"]


def test_insets_of_a_regional_run_sit_below_its_map():
    """Over one state the insets get a strip below, and no cell of the state hides under one."""
    zips = load_zips(["NY", "GU"])
    slot = np.where(zips["state"] == "GU", "guam", "new-york")
    maps = thumbnails(pd.DataFrame({"zip": zips["zip"], "slot_id": slot}), zips)
    guam = _slot_cells(maps["guam"])
    assert guam and min(y for _, y, _ in guam) >= THUMB_H - 24
    assert max(y for _, y, _ in _slot_cells(maps["new-york"])) < THUMB_H - 24


def test_a_run_only_in_alaska_fills_the_canvas_and_titles_are_escaped():
    """With no lower 48 the largest panel takes the canvas; a slot id is escaped text."""
    zips = load_zips(["AK"])
    maps = thumbnails(pd.DataFrame({"zip": zips["zip"], "slot_id": "a<&>"}), zips)
    root = ET.fromstring(maps["a<&>"])
    assert root.find(f"{NS}title").text == "a<&>"
    xs = [x + w for x, _, w in _slot_cells(maps["a<&>"])]
    assert max(xs) > THUMB_W * 0.9


def test_no_located_members_gives_no_thumbnails():
    """An empty run draws nothing."""
    assert thumbnails(pd.DataFrame({"zip": [], "slot_id": []}), load_zips(["RI"])) == {}
