"""Tests for the state lines and places drawn on maps."""

import pytest
import shapely

from pipeline.drawing.landmarks import (
    STATE_LINES,
    build_state_lines,
    places,
    state_lines,
)
from pipeline.drawing.shapes import PANELS
from pipeline.geo import load_zips


def _crosses(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether the lon/lat segment a-b meets the shipped state lines."""
    lines = shapely.from_wkt(STATE_LINES.read_text(encoding="utf-8"))
    return lines.intersects(shapely.LineString([a, b]))


def test_state_lines_separate_neighbouring_states():
    """Binghamton NY to Scranton PA crosses a state line; Albany to Syracuse (both NY) not."""
    assert _crosses((-75.92, 42.10), (-75.66, 41.41))
    assert _crosses((-104.82, 41.14), (-104.99, 39.74))  # Cheyenne WY to Denver CO
    assert not _crosses((-73.76, 42.65), (-76.15, 43.05))


def test_state_lines_only_on_the_lower_48_panel():
    """Alaska, Hawaii and the islands share no land border with another state."""
    assert not state_lines(0).is_empty
    assert all(state_lines(i).is_empty for i in range(1, len(PANELS)))


def test_places_rank_by_zip_count_within_their_panel():
    """The lower 48's largest place by ZIP count comes first; Alaska's places are Alaskan."""
    lower48 = places(0)
    assert lower48["n_zips"].is_monotonic_decreasing
    assert lower48.iloc[0]["name"] == "Washington"  # DC holds the most ZIPs of any city
    assert set(places(1)["state"]) == {"AK"}


@pytest.mark.slow
def test_shipped_state_lines_match_the_gazetteer():
    """The shipped file is what the gazetteer builds today (rebuild: python -m ...landmarks)."""
    shipped = shapely.from_wkt(STATE_LINES.read_text(encoding="utf-8"))
    assert shapely.equals_exact(build_state_lines(load_zips()), shipped, tolerance=0.002)
