"""Tests for a slot's area map."""

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

from pipeline.drawing.area import area_svg
from pipeline.drawing.shapes import PANELS, panel_index, slot_shapes
from pipeline.geo import load_zips

NS = "{http://www.w3.org/2000/svg}"


def _area(zips: pd.DataFrame, slot_ids: np.ndarray, slot_id: str, title: str = "t") -> str:
    """The area map the detail page draws, with the shapes built as the sheet builds them."""
    frame = zips.assign(slot_id=slot_ids, fits=True, panel=panel_index(zips["state"]))
    members = frame[frame["slot_id"] == slot_id]
    panels = [int(p) for p in members["panel"].value_counts().index if p >= 0]
    shapes = {p: slot_shapes(frame[frame["panel"] == p],
                             frame.loc[frame["panel"] == p, "slot_id"].to_numpy(),
                             PANELS[p].crs, PANELS[p].clip_km) for p in panels}
    return area_svg(members, slot_id, shapes, title)


def test_area_map_of_a_slot_across_states_has_state_lines_and_places():
    """A slot over the New York metro shows the NY/NJ/CT lines and its big places by name."""
    zips = load_zips(["NY", "NJ", "CT", "PA"])
    near_nyc = ((zips["lat"] - 40.75) ** 2 + (zips["lon"] + 73.95) ** 2) < 0.6 ** 2
    svg = _area(zips, np.where(near_nyc, "metro", "rest"), "metro")
    root = ET.fromstring(svg)
    dashed = [p for p in root.iter(f"{NS}path") if p.get("stroke-dasharray")]
    assert len(dashed) == 1 and dashed[0].get("d").count("M") >= 2
    texts = {t.text for t in root.iter(f"{NS}text")}
    assert "New York" in texts


def test_slots_in_alaska_hawaii_caribbean_and_guam_get_their_panels():
    """One slot with members in the lower 48, AK, HI, PR and Guam: a labelled panel each."""
    zips = load_zips(["RI", "AK", "HI", "PR", "GU"])
    root = ET.fromstring(_area(zips, np.full(len(zips), "everywhere"), "everywhere"))
    texts = {t.text for t in root.iter(f"{NS}text")}
    assert {"lower 48", "Alaska", "Hawaii", "Puerto Rico, USVI", "Pacific"} <= texts
    assert "off the map" not in " ".join(t or "" for t in texts)


def test_a_slot_only_in_guam_is_drawn():
    """Guam alone fills the map: its area, its member dots and its places, title escaped."""
    zips = load_zips(["GU", "MP", "NY"])
    slot_ids = np.where(zips["state"] == "GU", "guam", "other")
    root = ET.fromstring(_area(zips, slot_ids, "guam", title="Guam <&>"))
    assert root.find(f"{NS}title").text == "Guam <&>"
    assert sum(c.get("r") == "1.8" for c in root.iter(f"{NS}circle")) == int(
        (zips["state"] == "GU").sum())
    assert {"Barrigada", "Agat"} & {t.text for t in root.iter(f"{NS}text")}


def test_cells_cached_on_disk_give_the_same_areas(tmp_path, monkeypatch):
    """The gazetteer's Voronoi cells and land, read back from the cache folder, give the same
    slot areas to the last coordinate; a damaged cache file is built again."""
    import shapely

    from pipeline.drawing import shapes
    from pipeline.geo import load_zips
    from pipeline.settings import get_settings

    monkeypatch.setenv("ZIPCAST_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        zips = load_zips(["RI", "CT"])
        slots = np.where(zips["state"] == "RI", "a", "b")
        spec = PANELS[0]

        def areas() -> list[bytes]:
            shapes._CELLS.clear()
            shapes._AREAS.clear()
            got = slot_shapes(zips, slots, spec.crs, spec.clip_km)
            return shapely.to_wkb(got.geometry.to_numpy()).tolist()

        built = areas()
        (cached,) = (tmp_path / "cache" / "cells").glob("*.parquet")
        assert areas() == built  # read from disk
        cached.write_bytes(b"not parquet")
        assert areas() == built  # damaged: built again, and written again
        centres = shapes._CELLS[cached.stem].centres
        assert shapes._read_cells(cached.stem, centres) is not None
    finally:
        get_settings.cache_clear()
        shapes._CELLS.clear()
        shapes._AREAS.clear()
