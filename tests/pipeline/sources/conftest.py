"""Fixtures of the source tests: a local HTTP server, real forecast files, a fake clock."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.pipeline.sources.fake_servers import FakeServer

REAL = Path(__file__).resolve().parents[4] / "shared" / "data" / "real-forecasts"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def server():
    """A fresh local HTTP server on a random port, stopped after the test."""
    fake = FakeServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def real_forecasts() -> Path:
    """The shared folder of real NOAA files; skips when it is absent (e.g. a clean clone)."""
    if not REAL.is_dir():
        pytest.skip(f"real forecast files not found at {REAL}")
    return REAL


class FakeClock:
    """A clock whose sleep advances it instantly, recording each wait."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at a fixed time."""
    return FakeClock()


@pytest.fixture
def few_zips() -> pd.DataFrame:
    """Five gazetteer-shaped ZIPs: two in one 0.1° cell in Manhattan, Chicago, Denver, Honolulu."""
    return pd.DataFrame({
        "zip": ["10001", "10018", "60601", "80202", "96813"],
        "lat": [40.7506, 40.7547, 41.8858, 39.7533, 21.3100],
        "lon": [-73.9972, -73.9925, -87.6181, -104.9990, -157.8580],
        "state": ["NY", "NY", "IL", "CO", "HI"],
    })
