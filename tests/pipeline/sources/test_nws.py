"""Tests of the NWS (api.weather.gov) source against a real local HTTP server."""

from __future__ import annotations

import json

import httpx
import pandas as pd
import pytest

from pipeline.config.sources import SourceSettings
from pipeline.sources.errors import SourceConfigError
from pipeline.sources.nws import nws_forecast, spread_hourly, temperature_f, wind_mph
from pipeline.validate import validate_forecast
from tests.pipeline.sources.conftest import FIXTURES
from tests.pipeline.sources.fake_servers import Reply, Seen

ISSUE = pd.Timestamp("2026-01-15T09:00:00Z")
POINTS = json.loads((FIXTURES / "nws_points.json").read_text())
HOURLY = json.loads((FIXTURES / "nws_hourly.json").read_text())
GRID = json.loads((FIXTURES / "nws_gridpoint.json").read_text())


def points(seen: Seen) -> Reply:
    """Manhattan points share OKX 33,35; Chicago is LOT 75,73; anything else is a 404."""
    lat = float(seen.path.split("/")[-1].split(",")[0])
    body = json.loads(json.dumps(POINTS))
    if 40 < lat < 41:
        return Reply(200, body)
    if 41 < lat < 42:
        body["properties"].update(gridId="LOT", gridX=75, gridY=73)
        return Reply(200, body)
    return Reply(404, {"title": "Data Unavailable For Requested Point", "status": 404})


def serve(server) -> None:
    for office, x, y in (("OKX", 33, 35), ("LOT", 75, 73)):
        server.route(f"/gridpoints/{office}/{x},{y}/forecast/hourly", Reply(200, HOURLY))
        server.route(f"/gridpoints/{office}/{x},{y}", Reply(200, GRID))
    for lat, lon in (("40.7506", "-73.9972"), ("40.7547", "-73.9925"), ("41.8858", "-87.6181"),
                     ("21.3100", "-157.8580")):
        server.route(f"/points/{lat},{lon}", points)


def run(server, clock, zips, tmp_path, **extra):
    cfg = SourceSettings(nws_user_agent="zipcast-test (ops@example.com)", http_backoff_s=0.5,
                         nws_cache_path=tmp_path / "nws.sqlite", **extra)
    with httpx.Client(timeout=2.0) as client:
        return nws_forecast(zips, ISSUE, settings=cfg, client=client, base_url=server.url,
                            sleep=clock.sleep)


def test_one_forecast_per_gridpoint_in_utc(server, clock, few_zips, tmp_path):
    """Two Manhattan ZIPs share one hourly call; times are UTC period ends; QPF is spread."""
    serve(server)
    zips = few_zips[few_zips["state"].isin(["NY", "IL"])]
    frame = run(server, clock, zips, tmp_path)
    assert len(server.calls("/gridpoints/OKX/33,35/forecast/hourly")) == 1
    checked = validate_forecast(frame, source="nws")
    one = checked[checked["zip"] == "10001"].set_index("valid_time")
    assert list(one.index) == list(pd.date_range("2026-01-15T11:00Z", periods=4, freq="h"))
    assert one["wind_mph"].iloc[1] == 15.0  # "5 to 15 mph" → upper value
    assert one["temperature_f"].iloc[2] == pytest.approx(30.2)  # wmoUnit:degC −1.0
    assert one["wind_mph"].iloc[2] == pytest.approx(12.43, abs=0.01)  # 20 km/h
    assert list(one["precip_in"]) == [0.0, 0.0, 0.05, 0.05]  # 7.62 mm over 12–18 Z
    assert one["snow_in"].iloc[-1] == 0.5
    assert (checked["issue_time"] == pd.Timestamp("2026-01-15T09:41:05Z")).all()
    agent = server.calls("/points")[0].headers["User-Agent"]
    assert agent == "zipcast-test (ops@example.com)"


def test_points_are_cached_durably(server, clock, few_zips, tmp_path):
    """A second run (new client) looks up no /points: they come from the SQLite cache."""
    serve(server)
    zips = few_zips[few_zips["state"] == "NY"]
    run(server, clock, zips, tmp_path)
    before = len(server.calls("/points"))
    run(server, clock, zips, tmp_path)
    assert before == 2 and len(server.calls("/points")) == before


def test_missing_user_agent_is_refused(server, few_zips):
    """Without nws_user_agent no call is made and the error says which setting to set."""
    with pytest.raises(SourceConfigError, match="ZIPCAST_SOURCES__NWS_USER_AGENT"):
        nws_forecast(few_zips, ISSUE, settings=SourceSettings(), base_url=server.url)
    assert server.requests == []


def test_intermittent_500_is_retried(server, clock, few_zips, tmp_path):
    """The known intermittent 500 on forecast/hourly is retried and then used."""
    serve(server)
    server.route("/gridpoints/OKX/33,35/forecast/hourly",
                 Reply(500, {"title": "Unexpected Problem", "status": 500}), Reply(200, HOURLY))
    frame = run(server, clock, few_zips[few_zips["state"] == "NY"], tmp_path)
    assert clock.sleeps == [0.5] and len(frame) == 8


def test_unknown_point_fails_only_its_zip(server, clock, few_zips, tmp_path):
    """Honolulu's /points 404 is reported for 96813 while the other ZIPs get forecasts."""
    serve(server)
    frame = run(server, clock, few_zips[few_zips["state"].isin(["NY", "HI"])], tmp_path)
    assert list(frame.attrs["failures"]) == ["96813"]
    assert "HTTP 404" in frame.attrs["failures"]["96813"]
    assert set(frame["zip"]) == {"10001", "10018"}


def test_forecast_missing_fields_fails_its_gridpoint(server, clock, few_zips, tmp_path):
    """A forecast whose periods lack windSpeed fails its ZIPs, naming the gridpoint."""
    serve(server)
    broken = json.loads(json.dumps(HOURLY))
    del broken["properties"]["periods"][0]["windSpeed"]
    server.route("/gridpoints/LOT/75,73/forecast/hourly", Reply(200, broken))
    frame = run(server, clock, few_zips[few_zips["state"].isin(["NY", "IL"])], tmp_path)
    assert "windSpeed" in frame.attrs["failures"]["60601"]
    assert "/gridpoints/LOT/75,73" in frame.attrs["failures"]["60601"]
    assert set(frame["zip"]) == {"10001", "10018"}


def test_wind_and_temperature_parsers():
    """Wind strings take the upper value; QuantitativeValues and °C are converted."""
    assert wind_mph("10 mph") == 10 and wind_mph("5 to 10 mph") == 10
    assert wind_mph({"unitCode": "wmoUnit:km_h-1", "value": 10}) == pytest.approx(6.2137, abs=1e-3)
    assert temperature_f(0, "C") == 32 and temperature_f({"unitCode": "wmoUnit:degF",
                                                           "value": 50}) == 50
    with pytest.raises(ValueError):
        wind_mph("calm-ish")


def test_spread_hourly_splits_intervals():
    """A 6-hour 6 mm interval becomes six hourly amounts of 1 mm, indexed by hour end."""
    layer = {"uom": "wmoUnit:mm", "values": [{"validTime": "2026-01-15T06:00:00+00:00/PT6H",
                                               "value": 6.0}]}
    hourly = spread_hourly(layer, to_inches=False)
    assert len(hourly) == 6 and hourly.iloc[0] == 1.0
    assert hourly.index[0] == pd.Timestamp("2026-01-15T07:00Z")
