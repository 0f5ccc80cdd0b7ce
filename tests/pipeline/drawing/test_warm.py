"""The drawings' gazetteer caches, loaded while a run plans, are the ones its steps use."""

from __future__ import annotations

import numpy as np

from pipeline.drawing import landmarks, shapes
from pipeline.drawing.warm import warm_up


def test_warm_up_loads_the_cells_the_map_then_finds(nation, monkeypatch):
    """After the warm-up, drawing every panel's slot areas reads no cells of its own: the
    warm-up asked for the very same points (distinct, sorted) in every panel."""
    monkeypatch.setattr(shapes, "_CELLS", {})
    landmarks.places.cache_clear()
    warm_up(nation).join(timeout=120)
    loaded = dict(shapes._CELLS)
    assert loaded and landmarks.places.cache_info().currsize > 0

    asked = []
    monkeypatch.setattr(shapes, "_read_cells", lambda *a: asked.append(a) or None)
    monkeypatch.setattr(shapes, "_build_cells", lambda *a: asked.append(a) or None)
    panel_of = shapes.panel_index(nation["state"].astype(str))
    for i, panel in enumerate(shapes.PANELS):
        rows = panel_of == i
        if rows.any():
            areas = shapes.slot_shapes(nation[rows], nation["slot_id"].to_numpy()[rows],
                                       panel.crs, panel.clip_km)
            assert len(areas) == len(np.unique(nation["slot_id"][rows]))
    assert asked == [] and shapes._CELLS == loaded


def test_a_failed_warm_up_leaves_the_steps_to_do_the_work(monkeypatch):
    """The warm-up only fills caches: on bad rows it ends quietly, raising nothing."""
    import pandas as pd

    thread = warm_up(pd.DataFrame({"zip": ["00001"]}))  # no state, no location
    thread.join(timeout=30)
    assert not thread.is_alive()
