"""Synthetic national forecast: weather-like, deterministic, fast — the embedded default source.

``synthetic_forecast(zips, issue_time, hours=72, step_hours=1, seed=0)`` returns contract rows
(:mod:`pipeline.contract`) for every ZIP. Every random choice comes from ``(issue hour, seed)``
and is drawn for the whole domain (systems, storm cells, noise waves), then *evaluated* at each
ZIP's latitude/longitude. A ZIP's series is therefore the same whether you ask for the nation or
one state, and the same inputs give a bit-identical frame.

The model, piece by piece (all °F, mph, inches):

* **Climatology.** January and July normals by latitude (cold northern-tier winters, warm Gulf
  coast, tropical Hawaii / Puerto Rico / Guam, frigid interior Alaska), with continental
  corrections (mild intermountain-West winters, hot desert Southwest summers) and blending
  toward marine air near the Pacific coast (west of the coastal ranges / Cascades), the
  Atlantic and Gulf coasts, and southern coastal Alaska. The day of year of the issue time
  picks the point between January and July. A moisture index (humid East and Gulf, dry West)
  drives dew points, clouds and storm fuel. No elevation: Denver is as warm as Kansas.
* **Diurnal cycle** in local *solar* time (UTC hour + lon/15): minimum near 06, maximum near 15.
  Its amplitude is larger inland and in dry air (~±13 °F in the desert), smaller at coasts and
  in the tropics, smaller in high-latitude winter, and damped by cloud.
* **Synoptic systems.** 2–4 lows (plus one near Alaska) are drawn from the seed and travel
  west→east at 8–15° of longitude a day with a slight northward drift. Each carries a cold front
  trailing south-southwest from the low, a warm front running east-southeast, and a comma head
  around/north of the low. The warm sector (ahead of the cold front, south of the warm front) is
  10–25 °F warmer (less in summer) and moister than the air behind; the edge is a steep sigmoid,
  so fronts are sharp lines while everything else is smooth. Both air masses fade out 10–18° of
  longitude from the front, where the next system takes over. Rain falls in a narrow band
  along the cold front, a broad stratiform shield north of the warm front and in the comma
  head; amounts scale with moisture and warmth. Winds strengthen around the low and along the
  front; post-frontal air is dry, gusty and clearing. Small-scale waves break the bands into
  heavier and lighter cells.
* **Scattered showers and thunderstorms.** Storm cells (Gaussian blobs ~10–25 km across living
  1–3 h and drifting east) are seeded at random places and times and kept with a probability
  given by the local instability: warm, humid, afternoon, and especially just ahead of a cold
  front. Tropical islands get trade-wind showers the same way.
* **Lake-effect snow.** In cold post-frontal air, snow bands fall on the lee shores of Lakes
  Superior, Michigan, Erie and Ontario.
* **Noise.** A dozen slowly drifting plane waves add large-scale temperature / moisture / wind
  anomalies and mesoscale cloud texture (smooth in space and time, never per-ZIP noise).

Derived variables: rain cools the air toward its wet-bulb temperature; precipitation falls as
snow at ≤ 33 °F, a mix between 33 and 36 °F (snow ratio 8–18:1 by temperature); relative
humidity from a dew point (mean temperature minus a moisture-dependent depression, near zero in
rain) so it is high at night and in rain, with radiation fog on calm saturated nights; apparent
temperature is the NWS wind chill (≤ 50 °F) or heat index (≥ 80 °F); gusts exceed winds;
cloud cover is near-overcast in rain; precipitation probability is a widened (lead-time-fuzzier)
version of the rain bands, the thunderstorm chance where the air is unstable, and at least 56 %
where ≥ 0.01 in falls.

Steps: the model runs hourly; for 3- or 6-hourly steps ``precip_in`` / ``snow_in`` are sums of the
hourly amounts, ``precip_probability`` / ``gust_mph`` / ``weather_code`` the maxima over the step,
and the other variables are the values at ``valid_time`` (identical to the hourly run).

Output types: ``zip`` is the pandas ``str`` dtype (as in the gazetteer); times are
``datetime64[us, UTC]``; every variable is float64 — ``weather_code`` too, holding integer WMO
4677 codes (0–3 sky, 45 fog, 61/63/65 rain, 71/73/75 snow, 80/81/82 rain showers, 85/86 snow
showers, 95 thunderstorm). Values are rounded like a forecast product: temperatures and winds to
0.1, amounts to 0.001 in, percentages to whole numbers.

Implementation: the fields are evaluated on the (ZIP × hour) grid in float32 numpy, except the
synoptic systems, which are one fused numba kernel (``cache=True``: the first call in a fresh
checkout compiles for ~5 s, later processes load it). The whole nation (41,084 ZIPs × 72 h)
takes a few seconds. The weather depends on the issue time floored to the hour.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit, prange

from pipeline.allocator import trim
from pipeline.contract import COLUMNS, VARIABLES
from pipeline.frames import repeat_each
from pipeline.times import to_utc

__all__ = ["synthetic_forecast", "synthetic_observed"]

F32 = np.float32

# --- climatology tables ----------------------------------------------------------------------
# Land normals (°F) by latitude for a continental interior.
_LAT_KNOTS = np.array([-20, 0, 10, 15, 18, 21, 25, 30, 34, 38, 42, 46, 49, 55, 61, 65, 71.0])
_JAN_KNOTS = np.array([81, 80, 80, 80, 77, 73, 67, 55, 45, 35, 24, 13, 7, 2, -3, -8, -14.0])
_JUL_KNOTS = np.array([78, 81, 82, 82, 83, 81, 83, 83, 81, 78, 75, 72, 70, 64, 60, 60, 42.0])
# Pacific coast: coastline, marine barrier (coastal ranges / Cascades) and marine-air normals.
_PAC_LAT = np.array([32.5, 34.0, 35.0, 36.0, 37.0, 38.0, 40.0, 42.0, 44.0, 46.0, 48.5])
_PAC_COAST = np.array(
    [-117.2, -118.8, -120.7, -121.9, -122.4, -123.0, -124.2, -124.4, -124.1, -124.0, -124.7]
)
_PAC_BARRIER = np.array(
    [-116.6, -117.6, -119.8, -121.0, -121.4, -121.9, -122.8, -122.9, -122.2, -121.9, -121.6]
)
_PAC_JAN = np.array([57, 56, 54, 52, 51, 50, 48, 47, 46, 45, 45.0])
_PAC_JUL = np.array([71, 70, 66, 63, 62, 62, 60, 60, 61, 62, 63.0])
# Atlantic coast (longitude of the coastline by latitude) and marine-air normals.
_ATL_LAT = np.array(
    [24.5, 25.5, 27, 28.5, 30.3, 32, 33.5, 34.7, 35.2, 36.5, 37.5, 39, 40.5, 41.2, 41.7, 42.5,
     43.7, 44.5, 45.0]
)  # fmt: skip
_ATL_COAST = np.array(
    [-81.8, -80.1, -80.1, -80.6, -81.4, -80.8, -79.0, -76.7, -75.5, -75.9, -75.6, -74.5, -74.0,
     -72.5, -70.0, -70.8, -70.2, -68.0, -67.0]
)  # fmt: skip
_ATL_JAN = np.array([70, 68, 64, 60, 55, 51, 48, 45, 45, 42, 40, 37, 34, 33, 32, 31, 27, 25, 24.0])
_ATL_JUL = np.array([84, 84, 83, 82, 82, 82, 81, 80, 80, 79, 78, 77, 76, 74, 72, 71, 68, 66, 65.0])
# Gulf coast (latitude of the coastline by longitude).
_GULF_LON = np.array(
    [-97.6, -97.2, -96.0, -95.0, -94.0, -92.0, -90.0, -89.0, -88.0, -86.0, -84.5, -83.0, -82.7,
     -82.0, -81.3, -80.9]
)  # fmt: skip
_GULF_LAT = np.array(
    [26.0, 27.8, 28.5, 29.2, 29.7, 29.6, 29.1, 30.3, 30.4, 30.4, 30.0, 29.0, 28.0, 26.6, 25.5, 25.1]
)
# Lake-effect snow belts: lon, lat, half-widths (deg), strength.
_LAKE_BELTS = np.array(
    [
        [-87.6, 46.5, 1.3, 0.25, 1.0],  # Lake Superior: Upper Peninsula south shore
        [-86.0, 43.6, 0.35, 1.3, 0.9],  # Lake Michigan: western Michigan
        [-79.0, 42.45, 0.8, 0.3, 1.0],  # Lake Erie: Buffalo / Chautauqua
        [-75.7, 43.7, 0.45, 0.25, 1.2],  # Lake Ontario: Tug Hill
    ]
)

# Storm-cell seeding boxes: lon0, lon1, lat0, lat1, candidates per deg² per hour, peak scale.
_CELL_BOXES = np.array(
    [
        [-125.0, -66.5, 24.5, 49.5, 0.06, 1.0],  # contiguous US
        [-160.5, -154.5, 18.8, 22.4, 0.25, 0.35],  # Hawaii
        [-67.4, -64.5, 17.6, 18.6, 0.4, 0.45],  # Puerto Rico, Virgin Islands
        [144.4, 146.0, 13.1, 15.4, 0.4, 0.45],  # Guam, Northern Marianas
    ]
)


def _sig(x):
    """Logistic function via tanh (no overflow; keeps float32)."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _wrap(h):
    """Wrap an hour difference into [-12, 12)."""
    return (h + 12.0) % 24.0 - 12.0


# --- climatology -----------------------------------------------------------------------------


def _season(doy: float) -> np.float64:
    """0 in late January … 1 in late July."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * (doy - 20.0) / 365.25)


def _climate(lon: np.ndarray, lat: np.ndarray, doy: float) -> dict[str, np.ndarray]:
    """Per-point climate (float64, any shape): mean temperature, diurnal amplitude, moisture…"""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    conus = (lat > 24.0) & (lat < 50.0) & (lon > -126.0) & (lon < -66.0)
    alaska = (lon < -129.0) & (lat > 50.0)
    tropics = np.abs(lat) < 23.5
    season = _season(doy)

    jan = np.interp(lat, _LAT_KNOTS, _JAN_KNOTS)
    jul = np.interp(lat, _LAT_KNOTS, _JUL_KNOTS)
    # continental corrections
    west = _sig((-106.0 - lon) / 2.0) * np.interp(lat, [31, 37, 42, 47, 49], [3, 6, 10, 16, 18])
    desert = np.exp(-(((lon + 112.5) / 4.5) ** 2 + ((lat - 34.0) / 3.5) ** 2))
    plains = np.exp(-(((lon + 99.0) / 5.0) ** 2 + ((lat - 32.5) / 4.0) ** 2))
    jan = jan + conus * (west + 10.0 * desert)
    jul = jul + conus * (14.0 * desert + 5.0 * plains)
    # marine blending
    d_w = np.clip(lon - np.interp(lat, _PAC_LAT, _PAC_COAST), 0.0, None)
    w_pac = conus * 0.9 * _sig((np.interp(lat, _PAC_LAT, _PAC_BARRIER) - lon) / 0.35)
    w_pac = w_pac * (0.7 + 0.3 * np.exp(-d_w))
    d_e = np.clip(np.interp(lat, _ATL_LAT, _ATL_COAST) - lon, 0.0, None)
    w_atl = conus * 0.7 * np.exp(-d_e / 0.8)
    gulf_lat = np.interp(lon, _GULF_LON, _GULF_LAT)
    d_g = np.clip(lat - gulf_lat, 0.0, None)
    in_gulf = conus & (lon > -98.0) & (lon < -80.3)
    w_gulf = in_gulf * 0.6 * np.exp(-d_g / 0.8)
    w_ak = alaska * 0.8 * _sig((61.6 - lat) / 0.7)
    for w, mj, ml in (
        (w_pac, np.interp(lat, _PAC_LAT, _PAC_JAN), np.interp(lat, _PAC_LAT, _PAC_JUL)),
        (w_atl, np.interp(lat, _ATL_LAT, _ATL_JAN), np.interp(lat, _ATL_LAT, _ATL_JUL)),
        (w_gulf, np.interp(gulf_lat, [25, 27, 29, 30.5], [69, 64, 58, 55]), 84.0),
        (w_ak, np.interp(lat, [52, 56, 59, 61, 62], [33, 31, 27, 22, 20]), 55.0),
    ):
        jan = jan + w * (mj - jan)
        jul = jul + w * (ml - jul)
    t_mean = jan + season * (jul - jan)

    maritime = np.maximum.reduce(
        [w_pac / 0.9, w_atl / 0.7, 0.8 * w_gulf / 0.6, w_ak / 0.8, 0.75 * tropics]
    )
    # moisture 0 (desert) … 1 (tropical)
    east = _sig((lon + 100.0) / 2.5)
    gulf_broad = np.exp(-d_g / 7.0) * _sig((lon + 101.0) / 2.0)
    q = 0.22 + 0.38 * east + 0.25 * gulf_broad - 0.15 * desert + 0.35 * w_pac + 0.1 * w_atl
    q = q + 0.06 * season * east
    q = np.where(conus, q, np.where(alaska, 0.6, np.where(tropics, 0.85, 0.55)))
    q = np.clip(q, 0.05, 0.95)
    # diurnal half-range: dry/inland large, coast/tropics small, dark winters small
    decl = 23.44 * np.sin(2 * np.pi * (doy - 80.0) / 365.25)
    sun = np.clip(np.cos(np.radians(lat - decl)), 0.05, 1.0)
    amp = (6.0 + 8.0 * (1.0 - q)) * (1.0 - 0.6 * maritime) * (0.35 + 0.65 * sun)
    plains_wind = conus * np.exp(-(((lon + 100.0) / 6.0) ** 2)) * _sig((lat - 30.0) / 2.0)
    wind = 5.0 + 3.0 * plains_wind + 3.0 * maritime + 1.5 * (1.0 - season)
    wind = np.where(tropics & ~conus, 10.0, wind)
    extratropical = _sig((np.abs(lat) - 23.0) / 2.5)
    return {
        "t_mean": t_mean,
        "amp": amp,
        "q": q,
        "maritime": maritime,
        "wind": wind,
        "ex": extratropical,
        "season": season,
    }


# --- synoptic systems ------------------------------------------------------------------------


@dataclass(frozen=True)
class _System:
    lon0: float
    lat0: float
    u: float  # deg lon per hour
    v: float  # deg lat per hour
    dT: float  # warm-sector minus cold-air temperature (°F)
    a_cf: float  # cold-front band peak rate (in/h)
    w_cf: float  # cold-front band half-width (deg)
    length: float  # cold-front length south of the low (deg lat)
    tilt: float  # deg lon west per deg lat south
    curve: float  # extra westward bend of the front's tail
    a_wf: float  # warm-front shield rate
    len_wf: float  # warm-front length east of the low (deg lon)
    a_ch: float  # comma-head rate
    a_wind: float  # wind boost near the low (mph)


def _draw_systems(rng: np.random.Generator, season: float) -> list[_System]:
    n = int(rng.integers(2, 5))
    span = 62.0 / n
    strength = 1.0 - 0.5 * season  # summer fronts are weaker
    out = []
    for k in range(n + 1):
        if k < n:
            lon0 = -135.0 + (k + rng.uniform(0.2, 0.8)) * span
            lat0 = rng.uniform(37.0, 49.0) + 4.0 * season
            u = rng.uniform(8.0, 15.0) / 24.0
        else:  # the Gulf of Alaska / Aleutian low
            lon0 = rng.uniform(-178.0, -150.0)
            lat0 = rng.uniform(53.0, 60.0)
            u = rng.uniform(6.0, 12.0) / 24.0
        out.append(
            _System(
                lon0=float(lon0),
                lat0=float(lat0),
                u=float(u),
                v=float(rng.uniform(-1.0, 3.0) / 24.0),
                dT=float(rng.uniform(10.0, 25.0) * strength),
                a_cf=float(rng.uniform(0.08, 0.25)),
                w_cf=float(rng.uniform(0.4, 0.8)),
                length=float(rng.uniform(13.0, 22.0)),
                tilt=float(rng.uniform(0.2, 0.6)),
                curve=float(rng.uniform(0.005, 0.03)),
                a_wf=float(rng.uniform(0.02, 0.07)),
                len_wf=float(rng.uniform(6.0, 12.0)),
                a_ch=float(rng.uniform(0.03, 0.08)),
                a_wind=float(rng.uniform(6.0, 16.0) * (0.6 + 0.4 * strength)),
            )
        )
    return out


_N_TERMS = 8  # temp, moist, rate, wide, cloud, wind, post, prefrontal


def _params(systems: list[_System]) -> np.ndarray:
    return np.array([list(vars(p).values()) for p in systems], dtype=np.float64).reshape(
        len(systems), 14
    )


@njit(cache=True)
def _sigs(x):
    """Smoothstep stand-in for the logistic function: 0 below -4, 1 above 4, no exp."""
    if x >= 4.0:
        return 1.0
    if x <= -4.0:
        return 0.0
    y = 0.125 * x + 0.5
    return y * y * (3.0 - 2.0 * y)


@njit(cache=True, inline="always")
def _system_point(params, k, lon, lat, coslat, t, fuzz, out):
    """Add system ``k``'s terms at one point and time into ``out`` (length _N_TERMS).

    Terms below ~e^-30 of their peak are skipped (a pure function of the point, so still
    deterministic and independent of which other points are evaluated). An exp whose factor
    is exactly 0 is skipped too: the sums are bit-for-bit those of evaluating it. The row is
    read in place (``params[k, i]``) and the function inlined: a row view per call cost
    reference counting on the hot path, shared by the kernel's threads.
    """
    lon0, lat0, u, v = params[k, 0], params[k, 1], params[k, 2], params[k, 3]
    d_t, a_cf, w_cf, length = params[k, 4], params[k, 5], params[k, 6], params[k, 7]
    tilt, curve, a_wf, len_wf = params[k, 8], params[k, 9], params[k, 10], params[k, 11]
    a_ch, a_wind = params[k, 12], params[k, 13]
    lx = lon0 + u * t
    ly = lat0 + v * t
    du = ly - lat  # > 0 south of the low
    dc = (lon - (lx + 1.5 - tilt * du - curve * du * du)) * coslat  # > 0 ahead of cold front
    dn = lat - (ly - 0.35 * (lon - lx))  # > 0 north of the warm front
    dx = (lon - lx) * coslat
    dy = lat - ly
    # warm sector (sharp edges at the fronts, fading 10-18° ahead of the cold front) and the
    # cold air behind the front (fading 10-18° behind it, where the next system takes over)
    warm = _sigs(dc / 0.35) * _sigs(-dn / 0.6) * _sigs(14.0 - dc)
    behind = _sigs(-dc / 0.35) * _sigs((du + 3.0) / 1.5) * _sigs(dc + 14.0)
    along = _sigs((du + 1.0) / 0.8) * _sigs((length - du) / 2.5)
    along_wf = _sigs((lon - lx + 1.0) / 1.2) * _sigs((lx + len_wf - lon) / 2.0)
    f2 = fuzz * fuzz
    rate = 0.0
    wide = 0.0
    cloud = 0.0
    cf = 0.0
    if along > 0.0:
        cf_x2 = ((dc + 0.3) / w_cf) ** 2
        if cf_x2 < 120.0 * f2:
            cf = math.exp(-cf_x2) * along
            rate += a_cf * cf
            cf_wide = math.exp(-cf_x2 / f2) * along
            wide += a_cf * cf_wide
            cloud += 4.0 * cf_wide
    if along_wf > 0.0:
        wf_x2 = ((dn - 1.5) / 1.1) ** 2
        if wf_x2 < 40.0 * f2:
            rate += a_wf * math.exp(-wf_x2) * along_wf
            wide += a_wf * math.exp(-wf_x2 / f2) * along_wf
        if abs(dn - 4.0) < 24.0:
            cloud += 3.0 * math.exp(-(((dn - 4.0) / 4.0) ** 2)) * along_wf
    ch_r = ((dx + 1.0) / 2.2) ** 2 + ((dy - 1.2) / 1.6) ** 2
    if ch_r < 40.0 * f2:
        ch_wide = math.exp(-ch_r / f2)
        rate += a_ch * math.exp(-ch_r)
        wide += a_ch * ch_wide
        cloud += 3.0 * ch_wide
    post = 0.0
    if dc < 10.0 and along > 0.0:
        behind_front = _sigs(-(dc + 1.5) / 0.5)
        if behind_front > 0.0:
            post = behind_front * math.exp(min(dc, 0.0) / 8.0) * along
    r2 = dx * dx + dy * dy
    wind = a_wind * ((math.exp(-r2 / 30.0) if r2 < 900.0 else 0.0) + 0.5 * cf + 0.3 * post)
    if warm > 0.0 or behind > 0.0:
        env = math.exp(-((dx / 28.0) ** 2) - ((dy + 6.0) / 20.0) ** 2)
        out[0] += d_t * env * (0.55 * warm - 0.45 * behind)
        out[1] += 0.12 * warm * env - 0.2 * post
    else:  # the air-mass term is +0.0, which leaves a sum that started at +0.0 unchanged
        out[1] += 0.0 - 0.2 * post
    out[2] += rate
    out[3] += wide
    out[4] += cloud - 1.5 * post
    out[5] += wind
    out[6] += post
    if warm > 0.0 and along > 0.0 and abs(dc - 2.0) < 15.0:
        out[7] += warm * math.exp(-(((dc - 2.0) / 2.5) ** 2)) * along


@njit(cache=True, parallel=True)
def _systems_grid(params, lon, lat, t, fuzz):
    """All systems' terms on the (point × hour) grid: float32 array (_N_TERMS, N, T)."""
    n, m = lon.shape[0], t.shape[0]
    out = np.empty((_N_TERMS, n, m), dtype=np.float32)
    for i in prange(n):
        coslat = math.cos(math.radians(lat[i]))
        acc = np.empty(_N_TERMS)
        for j in range(m):
            acc[:] = 0.0
            for k in range(params.shape[0]):
                _system_point(params, k, lon[i], lat[i], coslat, t[j], fuzz[j], acc)
            acc[6] = min(acc[6], 1.0)
            acc[7] = min(acc[7], 1.0)
            for q in range(_N_TERMS):
                out[q, i, j] = acc[q]
    return out


@njit(cache=True)
def _systems_points(params, lon, lat, t):
    """All systems' terms at scattered (point, time) pairs: float64 array (_N_TERMS, n)."""
    n = lon.shape[0]
    out = np.zeros((_N_TERMS, n))
    acc = np.empty(_N_TERMS)
    for i in range(n):
        acc[:] = 0.0
        coslat = math.cos(math.radians(lat[i]))
        for k in range(params.shape[0]):
            _system_point(params, k, lon[i], lat[i], coslat, t[i], 1.0, acc)
        acc[6] = min(acc[6], 1.0)
        acc[7] = min(acc[7], 1.0)
        out[:, i] = acc
    return out


# --- noise waves -----------------------------------------------------------------------------

_FIELDS = ("temp", "moist", "wind", "cloud", "pmod")
# amplitude of each field on large-scale and mesoscale waves
_WAVE_AMPS = {
    "large": {"temp": 5.0, "moist": 0.1, "wind": 2.0, "cloud": 0.6, "pmod": 0.0},
    "meso": {"temp": 0.0, "moist": 0.0, "wind": 0.0, "cloud": 0.8, "pmod": 0.35},
}


def _draw_waves(rng: np.random.Generator, n_per_band: int = 6) -> list[tuple]:
    waves = []
    for band, (lo, hi) in (("large", (15.0, 40.0)), ("meso", (4.0, 12.0))):
        for _ in range(n_per_band):
            length = rng.uniform(lo, hi)
            ang = rng.uniform(0.0, 2 * np.pi)
            k = 2 * np.pi / length
            kx, ky = k * np.cos(ang), k * np.sin(ang)
            phase = rng.uniform(0.0, 2 * np.pi)
            speed = rng.uniform(3.0, 12.0) / 24.0  # eastward drift, deg/h
            weights = {
                f: float(rng.normal() * _WAVE_AMPS[band][f] / np.sqrt(n_per_band / 2))
                for f in _FIELDS
            }
            waves.append((float(kx), float(ky), float(phase), float(speed), weights))
    return waves


# --- storm cells -----------------------------------------------------------------------------


def _instability(clim, sys_temp, prefrontal, solar_hour):
    """Chance-of-storms index 0..1: warm, humid, afternoon, boosted ahead of cold fronts."""
    warmth = _sig((clim["t_mean"] + sys_temp - 68.0) / 5.0)
    diurnal = 0.15 + 0.85 * np.exp(-((_wrap(solar_hour - 16.0) / 3.2) ** 2))
    inst = warmth * clim["q"] ** 1.5 * diurnal * (1.0 + 1.5 * prefrontal)
    return np.clip(inst, 0.0, 1.0)


def _draw_cells(rng, params, doy, base_hour, n_hours):
    """Accepted storm cells as a structured dict of 1-D arrays (domain-wide, ZIP-independent)."""
    cols = {k: [] for k in ("lon", "lat", "t0", "sig", "sig_t", "peak", "u", "v")}
    t_lo, t_hi = -2.0, n_hours + 1.0
    for lon0, lon1, lat0, lat1, density, peak_scale in _CELL_BOXES:
        area = (lon1 - lon0) * (lat1 - lat0) * np.cos(np.radians(0.5 * (lat0 + lat1)))
        n = int(density * area * (t_hi - t_lo))
        lon = rng.uniform(lon0, lon1, n)
        lat = rng.uniform(lat0, lat1, n)
        t0 = rng.uniform(t_lo, t_hi, n)
        accept_u = rng.uniform(0.0, 1.0, n)
        sig = rng.uniform(0.08, 0.22, n)
        sig_t = rng.uniform(0.6, 1.5, n)
        peak = np.minimum(0.05 + rng.exponential(0.35, n), 2.5) * peak_scale
        u = rng.uniform(0.15, 0.45, n)
        v = rng.uniform(-0.1, 0.2, n)
        clim = _climate(lon, lat, doy)
        terms = _systems_points(params, lon, lat, t0)
        solar = (base_hour + t0 + lon / 15.0) % 24.0
        inst = _instability(clim, terms[0] * clim["ex"], terms[7], solar)
        keep = accept_u < inst
        peak = peak * (0.4 + 0.8 * clim["q"])
        for k, arr in zip(cols, (lon, lat, t0, sig, sig_t, peak, u, v), strict=True):
            cols[k].append(arr[keep])
    return {k: np.concatenate(v) for k, v in cols.items()}


def _rasterize_cells(cells, lon, lat, n_hours):
    """Hourly convective amounts (N, n_hours) at the points; sums run in cell order."""
    n = len(lon)
    order = np.argsort(lon, kind="stable")
    lon_sorted = lon[order]
    flat_idx, values = [], []
    for i in range(len(cells["lon"])):
        c_lon, c_lat, t0 = cells["lon"][i], cells["lat"][i], cells["t0"][i]
        sig, sig_t, peak = cells["sig"][i], cells["sig_t"][i], cells["peak"][i]
        u, v = cells["u"][i], cells["v"][i]
        h0 = max(1, int(np.ceil(t0 - 3.0 * sig_t + 0.5)))
        h1 = min(n_hours, int(np.floor(t0 + 3.0 * sig_t + 0.5)))
        if h1 < h0:
            continue
        hours = np.arange(h0, h1 + 1)
        tm = hours - 0.5 - t0
        cx = c_lon + u * tm
        cy = c_lat + v * tm
        coslat = np.cos(np.radians(c_lat))
        reach = 3.0 * sig / coslat
        lo = np.searchsorted(lon_sorted, cx.min() - reach, side="left")
        hi = np.searchsorted(lon_sorted, cx.max() + reach, side="right")
        if hi <= lo:
            continue
        idx = order[lo:hi]
        near = np.abs(lat[idx] - c_lat) < 3.0 * sig + abs(v) * 3.0 * sig_t + 0.01
        idx = np.sort(idx[near])
        if idx.size == 0:
            continue
        d2 = ((lon[idx, None] - cx[None, :]) * coslat) ** 2 + (lat[idx, None] - cy[None, :]) ** 2
        val = peak * np.exp(-d2 / (2 * sig * sig) - tm[None, :] ** 2 / (2 * sig_t * sig_t))
        flat_idx.append((idx[:, None] * n_hours + (hours - 1)[None, :]).ravel())
        values.append(val.ravel())
    if not flat_idx:
        return np.zeros((n, n_hours), dtype=F32)
    acc = np.bincount(
        np.concatenate(flat_idx), weights=np.concatenate(values), minlength=n * n_hours
    )
    return acc.reshape(n, n_hours).astype(F32)


# --- the hourly model ------------------------------------------------------------------------


def _diurnal_shape(solar_hour):
    """-1 at 06 local solar time, +1 at 15; 9-hour rise, 15-hour fall."""
    hh = (solar_hour - 6.0) % 24.0
    ang = np.where(hh < 9.0, -np.pi + np.pi * hh / 9.0, np.pi * (hh - 9.0) / 15.0)
    return np.cos(ang).astype(F32)


@dataclass
class _Domain:
    """What every ZIP shares (the draws) and what is evaluated once for all of them (the
    systems' grid, numba-parallel, and the storm cells): :func:`_hourly` takes rows of it."""

    lon64: np.ndarray
    lat64: np.ndarray
    doy: float
    base_hour: float
    waves: list[tuple]
    grid: np.ndarray  # (_N_TERMS, N, n_hours) float32
    conv: np.ndarray  # (N, n_hours) float32


def _domain(lon64, lat64, base: pd.Timestamp, n_hours: int, seed: int) -> _Domain:
    doy = float(base.day_of_year) + base.hour / 24.0
    base_hour = float(base.hour)
    hour_epoch = int(base.value // 3_600_000_000_000)  # .value is always nanoseconds
    seq = np.random.SeedSequence([int(seed) % 2**64, hour_epoch % 2**64, 0x2C1C])
    rng_sys, rng_waves, rng_cells = (np.random.default_rng(s) for s in seq.spawn(3))

    systems = _draw_systems(rng_sys, float(_season(doy)))
    waves = _draw_waves(rng_waves)
    params = _params(systems)
    cells = _draw_cells(rng_cells, params, doy, base_hour, n_hours)
    t_mid = np.arange(1, n_hours + 1, dtype=F32) - F32(0.5)
    fuzz = F32(1.3) + t_mid / F32(72.0)
    grid = _systems_grid(params, lon64, lat64, t_mid.astype(np.float64),
                         fuzz.astype(np.float64))
    conv = _rasterize_cells(cells, lon64, lat64, n_hours)
    return _Domain(lon64, lat64, doy, base_hour, waves, grid, conv)


_MAX_THREADS = 4  # row blocks computed side by side (at most one per core)
_MIN_BLOCK_ROWS = 4096  # smaller frames are computed in one thread
_BLOCK_ROWS = 2048  # rows per block: (2048, 72) float32 temporaries stay in the cache


def _hourly(domain: _Domain, rows: slice) -> dict[str, np.ndarray]:
    """The hourly fields of ``rows`` of the domain: every operation is per ZIP and hour, so
    row blocks computed apart (in threads) give the whole domain's values, bit for bit. The
    rows' part of ``domain.grid`` is scaled in place (blocks never overlap)."""
    lon64, lat64 = domain.lon64[rows], domain.lat64[rows]
    n_hours = domain.grid.shape[2]
    base_hour = domain.base_hour
    clim64 = _climate(lon64, lat64, domain.doy)
    col = {k: np.asarray(v, dtype=F32)[:, None] for k, v in clim64.items() if k != "season"}
    lon = lon64.astype(F32)[:, None]
    lat = lat64.astype(F32)[:, None]
    coslat = np.cos(np.radians(lat)).astype(F32)
    t_end = np.arange(1, n_hours + 1, dtype=F32)[None, :]  # valid time of the hour
    t_mid = t_end - F32(0.5)  # synoptic fields at mid-hour (rates → amounts)

    shape = (len(lon64), n_hours)
    grid = domain.grid[:, rows]
    acc = dict(zip(("temp", "moist", "rate", "wide", "cloud", "wind", "post"), grid, strict=False))
    prefrontal = grid[7]
    acc["temp"] *= col["ex"]

    # drifting waves
    noise = {f: np.zeros(shape, F32) for f in _FIELDS}
    x = (lon * coslat).astype(F32)
    for kx, ky, phase, speed, weights in domain.waves:
        a = kx * x + ky * lat + phase
        b = -kx * speed * t_mid
        basis = np.sin(a) * np.cos(b) + np.cos(a) * np.sin(b)
        for f, w in weights.items():
            if w != 0.0:
                noise[f] += F32(w) * basis
    noise["temp"] *= col["ex"]

    solar_end = (base_hour + t_end + lon / F32(15.0)) % F32(24.0)
    solar_mid = (base_hour + t_mid + lon / F32(15.0)) % F32(24.0)
    q = np.clip(col["q"] + acc["moist"] + noise["moist"], 0.03, 0.98)
    t_daily = col["t_mean"] + acc["temp"] + noise["temp"]  # mean temperature, no diurnal term

    # precipitation rates (in/h)
    moist_factor = (0.3 + 0.9 * q) * np.clip(np.exp((t_daily - 45.0) / 40.0), 0.35, 1.3)
    pmod = np.clip(1.0 + noise["pmod"], 0.3, 1.8)
    frontal = acc["rate"] * moist_factor * pmod
    belts = np.zeros(len(lon64))
    for b_lon, b_lat, sx, sy, strength in _LAKE_BELTS:
        belts += strength * np.exp(-(((lon64 - b_lon) / sx) ** 2) - ((lat64 - b_lat) / sy) ** 2)
    lake = np.zeros(shape, F32)
    near = np.flatnonzero(belts > 1e-3)
    if near.size:
        winter = 1.0 - float(clim64["season"])
        lake[near] = (
            F32(0.07 * winter)
            * belts[near, None].astype(F32)
            * acc["post"][near]
            * _sig((34.0 - t_daily[near]) / 2.0)
        )
    conv = domain.conv[rows]
    rate = frontal + lake + conv
    rate = np.where(rate < 0.003, F32(0.0), rate)
    inst = _instability(col, acc["temp"] + noise["temp"], prefrontal, solar_mid)

    # clouds, temperature, humidity, wind
    cloud_idx = -0.6 + 2.2 * (q - 0.45) + noise["cloud"] + acc["cloud"] + 1.2 * inst + 20.0 * lake
    cloud = 100.0 * _sig(2.0 * cloud_idx)
    wet = _sig((rate - 0.01) / 0.004)
    cloud = np.maximum(cloud, (85.0 + 15.0 * _sig((rate - 0.03) / 0.01)) * wet)
    diurnal = _diurnal_shape(solar_end)
    temp = t_daily + col["amp"] * (1.0 - 0.6 * cloud / 100.0) * diurnal
    dep_dry = 7.0 + 26.0 * (1.0 - q) ** 1.2  # dew-point depression below the daily mean
    # rain cools the air toward its wet-bulb temperature (evaporation), most in dry air
    temp = temp - 0.4 * wet * np.maximum(temp - (t_daily - dep_dry), 0.0)
    temp = np.clip(temp, -80.0, 140.0)
    dep = dep_dry * (1.0 - 0.85 * wet)
    wind_pre = (
        col["wind"] * (1.0 + 0.25 * diurnal * (1.0 - col["maritime"]))
        + noise["wind"]
        + acc["wind"]
        + np.minimum(conv * 15.0, 12.0)
    )
    saturated = t_daily - dep  # dew point the air mass would have
    fog = (saturated - temp >= -1.5) & (wind_pre < 6.0) & (rate < 0.003)  # radiation fog
    dew = np.minimum(saturated, temp - (1.0 - wet))  # dew forms: RH tops out near 96 % dry
    tc = (temp - 32.0) / 1.8
    dc = (dew - 32.0) / 1.8
    rh = 100.0 * np.exp(17.625 * dc / (243.04 + dc) - 17.625 * tc / (243.04 + tc))
    rh = np.clip(rh, 3.0, 100.0)
    wind = np.maximum(wind_pre, 0.0)
    gust = wind * (1.3 + 0.15 * diurnal) + 3.0 + np.minimum(conv * 40.0, 35.0)

    # snow and probability
    snow_frac = np.clip((36.0 - temp) / 3.0, 0.0, 1.0)
    slr = np.clip(10.0 + 0.35 * (32.0 - temp), 8.0, 18.0)
    snow = rate * snow_frac * slr
    pop_bands = 100.0 * (1.0 - np.exp(-acc["wide"] * moist_factor * pmod / 0.03))
    pop_storm = 100.0 * np.clip(0.6 * inst, 0.0, 0.6)
    pop_amount = 100.0 * (1.0 - np.exp(-rate / 0.012))
    pop = np.maximum(np.maximum(pop_bands, pop_storm), pop_amount)

    return {
        "temperature_f": temp,
        "rate": rate,
        "conv": conv,
        "snow": snow,
        "snow_frac": snow_frac,
        "pop": pop,
        "wind": wind,
        "gust": gust,
        "cloud": cloud,
        "rh": rh,
        "fog": fog,
    }


def _apparent(temp, wind, rh):
    """NWS wind chill (≤ 50 °F, wind ≥ 3 mph) or Rothfusz heat index (≥ 80 °F)."""
    v16 = np.maximum(wind, 3.0) ** 0.16
    chill = 35.74 + 0.6215 * temp - 35.75 * v16 + 0.4275 * temp * v16
    t, r = temp, rh
    heat = (
        -42.379
        + 2.04901523 * t
        + 10.14333127 * r
        - 0.22475541 * t * r
        - 6.83783e-3 * t * t
        - 5.481717e-2 * r * r
        + 1.22874e-3 * t * t * r
        + 8.5282e-4 * t * r * r
        - 1.99e-6 * t * t * r * r
    )
    out = np.where((temp <= 50.0) & (wind >= 3.0), np.minimum(chill, temp), temp)
    return np.where(temp >= 80.0, heat, out)


def _weather_code(amount, conv, snow_frac, temp, cloud, fog):
    """Hourly WMO 4677 code from rounded hourly amounts and the state at the hour.

    The codes are picked as int8 (a dozen (N, hours) choices: int64 would be ~25 MB each
    nationally) and returned as float64, the contract's type."""
    c = np.int8
    wet = amount >= 0.01
    snowy = snow_frac >= 0.5
    convective = conv >= 0.5 * amount
    sky = np.where(cloud < 20, c(0), np.where(cloud < 50, c(1), np.where(cloud < 80, c(2), c(3))))
    sky = np.where(fog, c(45), sky)
    rain = np.where(amount < 0.1, c(61), np.where(amount < 0.3, c(63), c(65)))
    shower = np.where(amount < 0.1, c(80), np.where(amount < 0.3, c(81), c(82)))
    shower = np.where((amount >= 0.15) & (temp >= 55.0), c(95), shower)
    snow = np.where(amount < 0.04, c(71), np.where(amount < 0.1, c(73), c(75)))
    snow_shower = np.where(amount < 0.06, c(85), c(86))
    precip = np.where(
        snowy, np.where(convective, snow_shower, snow), np.where(convective, shower, rain)
    )
    return np.where(wet, precip, sky).astype(np.float64)


def _as_utc(ts) -> pd.Timestamp:
    return to_utc(ts).as_unit("us")


def synthetic_forecast(
    zips: pd.DataFrame,
    issue_time: pd.Timestamp | str,
    *,
    hours: int = 72,
    step_hours: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """Synthetic contract rows for every ZIP in ``zips``, sorted by zip then valid_time.

    Parameters
    ----------
    zips : DataFrame
        At least ``zip``, ``lat`` and ``lon`` (the gazetteer; ``timezone`` is not needed since
        the diurnal cycle runs on solar time). ZIPs must be unique.
    issue_time : Timestamp or str
        Issue time; naive values are taken as UTC. Valid times are the issue time floored to
        the hour plus ``step_hours``, ``2·step_hours``, … up to ``hours``.
    hours, step_hours : int
        Horizon and step; ``hours // step_hours`` steps per ZIP.
    seed : int
        With the issue hour, determines all the weather.
    """
    if step_hours < 1 or hours < step_hours:
        raise ValueError(f"need 1 <= step_hours <= hours, got {step_hours=} {hours=}")
    missing = {"zip", "lat", "lon"} - set(zips.columns)
    if missing:
        raise ValueError(f"zips is missing column(s) {sorted(missing)}")
    zip_col = zips["zip"].astype("str")
    if zip_col.duplicated().any():
        raise ValueError("zips has duplicate ZIP codes")
    issue = _as_utc(issue_time)
    base = issue.floor("h")
    n_steps = hours // step_hours
    n_hours = n_steps * step_hours

    order = np.argsort(zip_col.to_numpy(dtype=object), kind="stable")
    zip_col = zip_col.iloc[order].reset_index(drop=True)
    lon64 = zips["lon"].to_numpy(dtype=np.float64)[order]
    lat64 = zips["lat"].to_numpy(dtype=np.float64)[order]
    n = len(zip_col)

    if n == 0:
        empty = {c: pd.Series(dtype="float64") for c in COLUMNS}
        empty["zip"] = pd.Series(dtype="str")
        empty["valid_time"] = pd.Series(dtype="datetime64[us, UTC]")
        empty["issue_time"] = pd.Series(dtype="datetime64[us, UTC]")
        return pd.DataFrame(empty)[COLUMNS]
    block = _variables(_domain(lon64, lat64, base, n_hours, seed), n_steps, step_hours)
    return _frame(block.reshape(len(VARIABLES), n * n_steps), zip_col, base, issue, step_hours)


def _variables(domain: _Domain, n_steps: int, step_hours: int) -> np.ndarray:
    """The contract variables, rounded: float64 (n_variables, n_locations, n_steps).

    The rows are computed in blocks of ``_BLOCK_ROWS`` (the same values: see
    :func:`_hourly`), so that each of a block's many elementwise steps works on temporaries
    that stay in the CPU's cache (about 0.6 MB each) instead of streaming ~6 MB ones through
    memory: nationally 0.46 → 0.35 s on 2 quiet cores. numpy lets go of the GIL on these
    steps, so the blocks run side by side in threads. The domain is freed when this returns,
    before the frame is built around the block.
    """
    n = len(domain.lon64)
    block = np.empty((len(VARIABLES), n, n_steps), dtype=np.float64)

    def fill(rows: slice) -> None:
        _fill_variables({v: b[rows] for v, b in zip(VARIABLES, block, strict=True)},
                        _hourly(domain, rows), step_hours)

    n_threads = max(1, min(_usable_cores(), _MAX_THREADS, n // _MIN_BLOCK_ROWS))
    blocks = [slice(a, min(a + _BLOCK_ROWS, n)) for a in range(0, n, _BLOCK_ROWS)]
    if n_threads == 1:
        for rows in blocks:
            fill(rows)
    else:
        with ThreadPoolExecutor(n_threads, thread_name_prefix="synthetic") as pool:
            list(pool.map(fill, blocks))
        # glibc keeps the threads' freed temporaries in their arenas (measured nationally:
        # ~110 MiB held after they end), and the run's peak comes later: hand them back
        trim()
    return block


def _usable_cores() -> int:
    """The cores this process may run on (its affinity, e.g. a container's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def synthetic_observed(
    zips: pd.DataFrame,
    issue_time: pd.Timestamp | str,
    *,
    hours: int = 48,
    seed: int = 0,
    error_seed: int = 1,
) -> pd.DataFrame:
    """What "actually happened" to a synthetic forecast: hourly contract rows of the same
    weather, displaced and perturbed the way a real day-1 forecast misses.

    - **Position**: the whole pattern is sampled 0.2–0.5° away in a random direction, so fronts,
      rain bands and storms arrive 20–55 km off where they were forecast (a typical day-1
      position error), which moves onsets by an hour or more and wets or dries the edges.
    - **Temperature**: a smooth bias of up to ±1.5 °F that grows by half that per day of lead
      time, varying across the country on a scale of ~1,000 km.
    - **Wind**: scaled by 0.85–1.15 (models over- and under-mix).

    The same ``seed`` and issue time give the forecast's weather; ``error_seed`` picks the
    error. Rows have the forecast's columns (``issue_time`` is the forecast's).
    """
    issue = _as_utc(issue_time)
    hour_epoch = int(issue.floor("h").value // 3_600_000_000_000)
    rng = np.random.default_rng([int(seed) % 2**32, int(error_seed) % 2**32, hour_epoch % 2**32,
                                 0x0B5])
    distance = rng.uniform(0.2, 0.5)
    angle = rng.uniform(0.0, 2 * np.pi)
    shifted = zips[["zip", "lat", "lon"]].copy()
    shifted["lat"] = shifted["lat"].to_numpy(float) + distance * np.sin(angle)
    shifted["lon"] = shifted["lon"].to_numpy(float) + distance * np.cos(angle)
    frame = synthetic_forecast(shifted, issue, hours=hours, step_hours=1, seed=seed)
    if frame.empty:
        return frame
    n_steps = hours
    lat = np.repeat(shifted.sort_values("zip")["lat"].to_numpy(float), n_steps)
    lon = np.repeat(shifted.sort_values("zip")["lon"].to_numpy(float), n_steps)
    kx, ky, phase = rng.uniform(0.05, 0.12), rng.uniform(0.05, 0.12), rng.uniform(0, 2 * np.pi)
    lead_days = np.tile(np.arange(1, n_steps + 1, dtype=float) / 24.0, len(frame) // n_steps)
    bias = 1.5 * np.sin(kx * lon + ky * lat + phase) * (1.0 + 0.5 * lead_days)
    for column in ("temperature_f", "apparent_temperature_f"):
        frame[column] = np.round(frame[column].to_numpy(float) + bias, 1)
    scale = rng.uniform(0.85, 1.15)
    for column in ("wind_mph", "gust_mph"):
        frame[column] = np.round(frame[column].to_numpy(float) * scale, 1)
    return frame


def _round_into(out: np.ndarray, values: np.ndarray, decimals: int = 0) -> None:
    """``out[...] = np.round(values.astype(float64), decimals)`` without the two temporaries
    (the same multiply, rint and divide, run in ``out``)."""
    out[...] = values
    np.round(out, decimals, out=out)


def _fill_variables(out: dict[str, np.ndarray], h: dict[str, np.ndarray], step_hours: int) -> None:
    """Write the contract variables, rounded, into ``out`` (float64 (N, steps) views of the
    frame's one float block): the national frame is ~240 MB of floats, and every separate
    array of that size first costs its page faults, then a copy into the frame."""
    n, n_steps = out["temperature_f"].shape
    hourly = step_hours == 1
    last = slice(step_hours - 1, None, step_hours)  # the hour ending at each valid time

    def step_max(a):
        return a if hourly else a.reshape(n, n_steps, step_hours).max(axis=2)

    def step_sum_into(row, hourly_amount):
        np.round(hourly_amount.reshape(n, n_steps, step_hours).sum(axis=2), 3, out=row)

    amount_h = out["precip_in"] if hourly else np.empty(h["rate"].shape)
    _round_into(amount_h, h["rate"], 3)
    snow_h = out["snow_in"] if hourly else np.empty(h["snow"].shape)
    _round_into(snow_h, h["snow"], 3)
    if not hourly:
        step_sum_into(out["precip_in"], amount_h)
        step_sum_into(out["snow_in"], snow_h)
    code_h = _weather_code(
        amount_h, h["conv"], h["snow_frac"], h["temperature_f"], h["cloud"], h["fog"]
    )
    out["weather_code"][...] = step_max(code_h)

    temp = h["temperature_f"][:, last]
    wind = h["wind"][:, last]
    rh = h["rh"][:, last]
    apparent = _apparent(temp, wind, rh)
    _round_into(out["temperature_f"], temp, 1)
    _round_into(out["apparent_temperature_f"], np.clip(apparent, -80.0, 140.0, out=apparent), 1)
    _round_into(out["precip_probability"], np.clip(step_max(h["pop"]), 0.0, 100.0))
    _round_into(out["wind_mph"], wind, 1)
    _round_into(out["gust_mph"], step_max(h["gust"]), 1)
    _round_into(out["cloud_cover"], h["cloud"][:, last])
    _round_into(out["relative_humidity"], rh)
    # rounding can push a gust below its (separately rounded) wind at the same hour
    np.maximum(out["gust_mph"], out["wind_mph"], out=out["gust_mph"])


def _frame(
    block: np.ndarray, zip_col: pd.Series, base: pd.Timestamp, issue: pd.Timestamp,
    step_hours: int,
) -> pd.DataFrame:
    """The contract frame around ``block`` (variables × rows, kept as the frame's float block,
    not copied): ZIP-major rows, ``zip`` / ``valid_time`` / ``issue_time`` first."""
    n = len(zip_col)
    n_steps = block.shape[1] // n
    frame = pd.DataFrame(block.T, columns=VARIABLES, copy=False)
    steps_us = np.arange(1, n_steps + 1, dtype=np.int64) * step_hours * 3_600_000_000
    valid = np.tile(base.value // 1000 + steps_us, n).view("datetime64[us]")
    issued = np.full(len(frame), issue.value // 1000, dtype=np.int64).view("datetime64[us]")
    frame.insert(0, "issue_time", pd.DatetimeIndex(issued).tz_localize("UTC"))
    frame.insert(0, "valid_time", pd.DatetimeIndex(valid).tz_localize("UTC"))
    frame.insert(0, "zip", repeat_each(zip_col, n_steps))
    return frame
