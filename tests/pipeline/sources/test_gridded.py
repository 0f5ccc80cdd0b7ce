"""Tests of the gridded source on real NOAA files and a directory of real GRIB step files."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pipeline.config.sources import SourceSettings
from pipeline.sources._grid import chord_to_km, sample_plan, unit_vectors
from pipeline.sources.errors import SourceError
from pipeline.sources.gridded import _per_step, gridded_forecast
from pipeline.validate import validate_forecast
from tests.pipeline.sources.grib_steps import make_gridded_dir

RUN = pd.Timestamp("2026-01-15T12:00Z")
NEAREST = SourceSettings(gridded_method="nearest")


def test_bilinear_is_exact_for_a_linear_field_in_either_longitude_convention():
    """A linear field on a 1° grid is recovered to 1/100 cell, 0–360 or −180–180 longitudes."""
    lat1, lon1 = np.arange(20.0, 51.0), np.arange(230.0, 300.0)
    lon2d, lat2d = np.meshgrid(lon1, lat1)
    field = (2 * lat2d + 0.5 * lon2d)[None]
    lat, lon = np.array([33.3, 45.7]), np.array([-97.25, -120.6])
    for grid_lon in (lon2d, lon2d - 360):
        plan = sample_plan(lat2d, grid_lon, lat, lon)
        got = plan.sample(field)[:, 0]
        np.testing.assert_allclose(got, 2 * lat + 0.5 * (lon + 360), atol=0.01)


def test_points_beyond_the_grid_are_left_out():
    """A point 5° off a 1° grid's edge is outside; one on the edge is inside."""
    lon2d, lat2d = np.meshgrid(np.arange(-100.0, -90.0), np.arange(30.0, 40.0))
    plan = sample_plan(lat2d, lon2d, np.array([39.0, 45.0]), np.array([-95.0, -95.0]))
    assert plan.inside.tolist() == [True, False]


def test_accumulations_become_step_amounts():
    """Since-start and 6-hour buckets are differenced into 3-hourly amounts, never negative."""
    t = [np.datetime64(f"2026-01-15T{h:02d}", "ns") for h in (0, 3, 6, 9, 12)]
    ones = np.ones(2)
    buckets = {(t[0], t[1]): 1 * ones, (t[0], t[2]): 3 * ones,
               (t[2], t[3]): 0.5 * ones, (t[2], t[4]): 0.4 * ones}
    amounts, _ = _per_step(buckets, np.array(t[1:]))
    assert amounts[0].tolist() == [1.0, 2.0, 0.5, pytest.approx(-0.1)]  # clipped later


def test_eta_grib_matches_the_nearest_grid_point(real_forecasts, nation):
    """Eta t2m at each ZIP equals (K → °F) the value at the brute-force nearest grid node."""
    path = real_forecasts / "eta_grid211_f24.grib1"
    frame = gridded_forecast(nation, RUN, path=path, settings=NEAREST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_dataset(path, engine="cfgrib", backend_kwargs={
            "indexpath": "", "filter_by_keys": {"shortName": "2t"}})
    grid = unit_vectors(ds.latitude.values, ds.longitude.values)
    sample = frame.drop_duplicates("zip").sample(50, random_state=0).merge(nation[["zip", "lat",
                                                                                   "lon"]])
    for row in sample.itertuples():
        node = np.argmin(((grid - unit_vectors([row.lat], [row.lon])) ** 2).sum(axis=1))
        expect = (ds.t2m.values.ravel()[node] - 273.15) * 9 / 5 + 32
        assert row.temperature_f == pytest.approx(expect, abs=2e-3)
    assert (frame["issue_time"] == pd.Timestamp("2004-12-08T12:00Z")).all()
    assert (frame["valid_time"] == pd.Timestamp("2004-12-09T12:00Z")).all()
    failures = frame.attrs["failures"]
    states = nation.set_index("zip").loc[list(failures), "state"]
    assert {"HI", "GU"} <= set(states) and "96813" in failures  # Honolulu is off grid 211
    validate_forecast(frame, source="gridded")


def test_ndfd_lambert_grid_needs_fill_for_missing_wind(real_forecasts, nation):
    """NDFD maxt (2-D Lambert) alone lacks wind and rain: an error, or zeros when allowed."""
    path = real_forecasts / "ndfd_conus_maxt.grib2"
    with pytest.raises(SourceError, match="GRIDDED_FILL_MISSING"):
        gridded_forecast(nation, RUN, path=path)
    frame = gridded_forecast(nation, RUN, path=path,
                             settings=SourceSettings(gridded_fill_missing=True))
    assert frame["valid_time"].nunique() == 3  # +14/38/62 h; +86 h is beyond 72 h
    assert (frame["wind_mph"] == 0).all() and frame["temperature_f"].between(20, 115).all()
    assert "96813" in frame.attrs["failures"] and "10001" not in frame.attrs["failures"]


def test_file_without_temperature_is_refused(real_forecasts, few_zips):
    """NDFD minrh has no temperature, so the source refuses it and lists what it found."""
    with pytest.raises(SourceError, match="no 2 m temperature.*found unknown"):
        gridded_forecast(few_zips, RUN, path=real_forecasts / "ndfd_conus_minrh.grib2")


def test_gfs_netcdf_analysis_has_no_forecast_steps(real_forecasts, few_zips):
    """The GFS NetCDF is an analysis (valid at its run time), so there is no step to keep."""
    with pytest.raises(SourceError, match="no temperature steps.*2010-10-26 12:00"):
        gridded_forecast(few_zips, RUN, path=real_forecasts / "gfs_1deg_namerica.nc",
                         settings=SourceSettings(gridded_fill_missing=True))


def test_gfs_netcdf_values_at_zips(real_forecasts, few_zips):
    """GFS 2 m temperature (K, 0–360 lon) sampled bilinearly sits between its 4 neighbours."""
    from pipeline.sources._fields import read_file

    pieces = {p.role: p for p in read_file(real_forecasts / "gfs_1deg_namerica.nc")}
    assert {"temperature", "u10", "v10"} <= set(pieces)
    t = pieces["temperature"]
    plan = sample_plan(t.lat, t.lon, few_zips["lat"].to_numpy(), few_zips["lon"].to_numpy())
    assert plan.inside.tolist() == [True, True, True, True, False]  # Honolulu: south of 20N
    values = plan.sample(t.values)[:, 0]
    corners = t.values[0].ravel()[plan.index]
    assert ((values >= corners.min(axis=1) - 1e-9) & (values <= corners.max(axis=1) + 1e-9)).all()
    assert chord_to_km(np.array([0.0]))[0] == 0


def test_directory_of_step_files_gives_3_hourly_rows(real_forecasts, nation, tmp_path):
    """Eight real-GRIB step files give 3-hourly rows for thousands of ZIPs with step rain."""
    make_gridded_dir(real_forecasts / "eta_grid211_f24.grib1", tmp_path / "run", n_steps=8)
    zips = nation[nation["state"].isin(["NY", "CO", "TX", "HI"])]
    frame = gridded_forecast(zips, RUN, path=tmp_path / "run")
    checked = validate_forecast(frame, source="gridded")
    assert checked["zip"].nunique() > 3000
    steps = checked["valid_time"].drop_duplicates().sort_values()
    assert (steps.diff().dropna() == pd.Timedelta(hours=3)).all() and len(steps) == 8
    assert checked["precip_in"].ge(0).all() and checked["precip_in"].gt(0).any()
    assert set(frame.attrs["failures"]) >= set(zips.loc[zips["state"] == "HI", "zip"])
    # the per-step amounts never add up to more than the last file's since-start total
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        last = xr.open_dataset(tmp_path / "run" / "eta.f024.grib2", engine="cfgrib",
                               backend_kwargs={"indexpath": "",
                                               "filter_by_keys": {"shortName": "tp"}})
    total = checked.groupby("zip")["precip_in"].sum()
    assert 0 < total.max() <= float(last.tp.max()) / 25.4 + 1e-3


def test_glob_and_missing_paths(tmp_path, few_zips):
    """An empty glob and a non-GRIB file give clear SourceErrors."""
    with pytest.raises(SourceError, match="no files at"):
        gridded_forecast(few_zips, RUN, path=str(tmp_path / "*.grib2"))
    (tmp_path / "x.grib2").write_text("not a grib")
    with pytest.raises(SourceError, match="neither GRIB nor NetCDF"):
        gridded_forecast(few_zips, RUN, path=tmp_path / "x.grib2")


@pytest.mark.slow
def test_national_run_on_24_step_files(real_forecasts, nation, tmp_path):
    """The acceptance case: 24 three-hourly real-GRIB step files, the whole nation, validated."""
    make_gridded_dir(real_forecasts / "eta_grid211_f24.grib1", tmp_path / "run", n_steps=24)
    frame = gridded_forecast(nation, RUN, path=tmp_path / "run")
    checked = validate_forecast(frame, source="gridded")
    assert checked["valid_time"].nunique() == 24 and checked["zip"].nunique() > 40_000
