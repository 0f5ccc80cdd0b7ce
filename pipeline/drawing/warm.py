"""Load what a run's drawings need of the gazetteer alone, while the run plans its slots.

The run's map and the sheet's area maps read each panel's Voronoi cells (from the disk
cache), the state lines and the largest places, projected to the panel. None of it depends on
the slots, so a thread loads it while the planner runs (its integer program leaves a core
idle) and the map and sheet steps find it in memory: about half a second off a national
run's wait. The thread only fills caches; a step that finds them empty fills them itself.
"""

from __future__ import annotations

import logging
import threading

import pandas as pd

from pipeline.drawing.landmarks import places, state_lines
from pipeline.drawing.shapes import PANELS, panel_index, warm_cells
from pipeline.geo import city_names

log = logging.getLogger(__name__)


def warm_up(zips: pd.DataFrame) -> threading.Thread:
    """Start loading the drawing caches for ``zips`` (the run's gazetteer rows) in a thread.

    Returns the started thread; nothing needs to wait for it.
    """
    def load() -> None:
        try:
            panel_of = panel_index(zips["state"].astype(str))
            for i, panel in enumerate(PANELS):
                if (panel_of == i).any():
                    warm_cells(zips[panel_of == i], panel.crs, panel.clip_km)
                    state_lines(i)
                    places(i)
            city_names()
        except Exception:  # noqa: BLE001 - the drawing steps meet the same error themselves
            log.debug("warming the drawing caches failed", exc_info=True)

    thread = threading.Thread(target=load, name="warm-drawing", daemon=True)
    thread.start()
    return thread
