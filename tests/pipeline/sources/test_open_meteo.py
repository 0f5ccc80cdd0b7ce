"""Tests of the Open-Meteo source against a real local HTTP server."""

from __future__ import annotations

import copy
import json

import httpx
import pandas as pd
import pytest

from pipeline.config.sources import SourceSettings
from pipeline.sources._http import CallBudget
from pipeline.sources.errors import QuotaExceeded, SourceError, SourceUnavailable
from pipeline.sources.open_meteo import call_weight, open_meteo_forecast
from pipeline.validate import validate_forecast
from tests.pipeline.sources.conftest import FIXTURES
from tests.pipeline.sources.fake_servers import Reply, Seen

ISSUE = pd.Timestamp("2026-01-15T09:30:00Z")
TEMPLATE = json.loads((FIXTURES / "open_meteo_location.json").read_text())


def answer(seen: Seen, *, spoil: int | None = None) -> Reply:
    """One location payload per requested coordinate (a list), optionally one without temps."""
    lats = seen.query["latitude"].split(",")
    lons = seen.query["longitude"].split(",")
    body = []
    for k, (lat, lon) in enumerate(zip(lats, lons, strict=True)):
        location = copy.deepcopy(TEMPLATE)
        location.update(latitude=float(lat), longitude=float(lon))
        if k == spoil:
            del location["hourly"]["temperature_2m"]
        body.append(location)
    return Reply(200, body)


def settings(**extra) -> SourceSettings:
    return SourceSettings(http_retries=3, http_backoff_s=0.5, open_meteo_batch_size=2, **extra)


def run(server, clock, cfg=None, zips=None, timeout=2.0, **kw):
    with httpx.Client(timeout=timeout) as client:
        return open_meteo_forecast(zips, ISSUE, settings=cfg or settings(), client=client,
                                   base_url=server.url, sleep=clock.sleep, clock=clock, **kw)


def test_batches_dedupe_cells_and_map_units(server, clock, few_zips):
    """Five ZIPs in four 0.1° cells go in two batched calls and come back as UTC contract rows."""
    server.route("/v1/forecast", answer)
    frame = run(server, clock, zips=few_zips)
    calls = server.calls("/v1/forecast")
    assert len(calls) == 2
    assert sum(len(c.query["latitude"].split(",")) for c in calls) == 4
    query = calls[0].query
    assert query["temperature_unit"] == "fahrenheit" and query["wind_speed_unit"] == "mph"
    assert query["precipitation_unit"] == "inch" and query["timeformat"] == "unixtime"
    assert query["timezone"] == "GMT" and "apikey" not in query
    checked = validate_forecast(frame, source="open-meteo")
    assert set(checked["zip"]) == set(few_zips["zip"])
    first = checked[checked["zip"] == "10001"].iloc[0]
    assert first["valid_time"] == pd.Timestamp("2026-01-15T10:00:00Z")
    assert first["temperature_f"] == 31.4 and first["snow_in"] == 0.0
    assert (checked["valid_time"] > ISSUE).all()
    assert frame.attrs["failures"] == {}


def test_retry_after_on_429_is_honoured(server, clock, few_zips):
    """A 429 with Retry-After: 7 is waited out for 7 s (fake clock) and then succeeds."""
    server.route("/v1/forecast", Reply(429, {"error": True, "reason": "Too many requests"},
                                       {"Retry-After": "7"}), answer)
    frame = run(server, clock, zips=few_zips.head(1))
    assert 7.0 in clock.sleeps and len(frame) > 0


def test_500_and_503_are_retried_with_backoff(server, clock, few_zips):
    """Two server errors are retried after 0.5 s and 1 s, then the answer is used."""
    server.route("/v1/forecast", Reply(500, "Internal Server Error"), Reply(503, ""), answer)
    frame = run(server, clock, zips=few_zips.head(1))
    assert clock.sleeps == [0.5, 1.0] and not frame.empty


def test_timeout_is_retried(server, clock, few_zips):
    """A reply slower than the client's 0.2 s timeout is retried and the next one used."""
    server.route("/v1/forecast", Reply(200, [TEMPLATE], delay=0.6), answer)
    frame = run(server, clock, zips=few_zips.head(1), timeout=0.2)
    assert len(server.calls("/v1/forecast")) == 2 and not frame.empty


def test_persistent_503_raises_source_unavailable(server, clock, few_zips):
    """A provider answering 503 on every try raises SourceUnavailable naming URL and batch."""
    server.route("/v1/forecast", Reply(503, "Service Unavailable"))
    with pytest.raises(SourceUnavailable, match=r"HTTP 503.*/v1/forecast \(batch 1 of 1\)"):
        run(server, clock, zips=few_zips.head(1))
    assert len(server.calls("/v1/forecast")) == 4


def test_malformed_json_names_url_and_batch(server, clock, few_zips):
    """A truncated JSON body raises SourceError saying where it came from."""
    server.route("/v1/forecast", Reply(200, '[{"latitude": 40.8, "hourly": {"time": [1'))
    with pytest.raises(SourceError) as err:
        run(server, clock, zips=few_zips)
    assert f"malformed JSON from {server.url}/v1/forecast (batch 1 of 2)" in str(err.value)


def test_location_without_fields_fails_alone(server, clock, few_zips):
    """A location lacking temperature_2m fails its ZIPs; the rest of the batch goes on."""
    server.route("/v1/forecast", lambda seen: answer(seen, spoil=0))
    frame = run(server, clock, zips=few_zips)
    failed = frame.attrs["failures"]
    assert failed and all("temperature_2m" in why for why in failed.values())
    assert set(frame["zip"]) == set(few_zips["zip"]) - set(failed)
    assert not frame.empty


def test_daily_quota_refused_before_any_call(server, clock, few_zips):
    """A run needing more calls than the day has left raises QuotaExceeded, calling nothing."""
    server.route("/v1/forecast", answer)
    with pytest.raises(QuotaExceeded, match="needs 4 calls but only 3"):
        run(server, clock, cfg=settings(open_meteo_calls_per_day=3), zips=few_zips)
    assert server.calls("/v1/forecast") == []


def test_minute_budget_waits_instead_of_exceeding(clock):
    """The per-minute window makes the budget sleep until old calls age out."""
    budget = CallBudget(per_minute=3, clock=clock, sleep=clock.sleep)
    budget.spend(2)
    budget.spend(1)
    budget.spend(2)
    assert clock.sleeps and clock.sleeps[0] == pytest.approx(60.01)


def test_api_key_goes_as_apikey(server, clock, few_zips):
    """A commercial key is sent as the apikey parameter."""
    server.route("/v1/forecast", answer)
    run(server, clock, cfg=settings(open_meteo_api_key="secret-key"), zips=few_zips.head(1))
    assert server.calls("/v1/forecast")[0].query["apikey"] == "secret-key"


def test_call_weight_follows_open_meteo_counting():
    """Ten variables over three days cost one call; twenty variables or four weeks cost two."""
    assert call_weight(10, 3) == 1 and call_weight(20, 3) == 2 and call_weight(10, 28) == 2
