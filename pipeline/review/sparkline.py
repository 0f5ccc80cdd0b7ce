"""Server-drawn SVG sparklines of a slot's representative forecast, with the members' spread.

The band is the per-step 10th–90th percentile of the slot's member ZIPs over their local
window, recomputed from the run's ``forecast.parquet`` (the store keeps only the
representative series). Without that file no band is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.features.windows import build_series
from pipeline.settings import Settings

WIDTH, HEIGHT, PAD = 220, 64, 4
TEMP_COLOR, RAIN_COLOR = "#c2410c", "#1d4ed8"


def member_bands(run_dir: str | Path, window: str, issue_time: pd.Timestamp,
                 settings: Settings, zips: pd.DataFrame, slot_of: pd.Series) -> dict[str, dict]:
    """Per slot, the 10th and 90th percentile per step of temperature and precip chance.

    Parameters
    ----------
    zips : gazetteer rows (zip, timezone) of the run's member ZIPs
    slot_of : ZIP -> short slot id

    Returns
    -------
    dict slot_id -> {"temperature_f": (lo, hi), "precip_probability": (lo, hi)}, each an
    ndarray of shape (n_steps,); empty when the forecast file is missing.
    """
    path = Path(run_dir) / "forecast.parquet"
    if not path.exists():
        return {}
    forecast = pd.read_parquet(path)
    zips = zips[zips["zip"].isin(slot_of.index)].reset_index(drop=True)
    series = build_series(forecast, zips, window=window, settings=settings,
                          issue_time=issue_time)
    labels = slot_of.reindex(series.zips).to_numpy()
    bands: dict[str, dict] = {}
    for slot in pd.unique(labels):
        rows = labels == slot
        bands[str(slot)] = {
            name: tuple(np.nanpercentile(series.var(name)[rows], q, axis=0) for q in (10, 90))
            for name in ("temperature_f", "precip_probability")
        }
    return bands


def _scale(values: np.ndarray, lo: float, hi: float, top: float, bottom: float) -> np.ndarray:
    span = hi - lo if hi > lo else 1.0
    return bottom - (np.asarray(values, dtype=float) - lo) / span * (bottom - top)


def _points(xs: np.ndarray, ys: np.ndarray) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True) if np.isfinite(y))


def sparkline_svg(local_hour: Sequence[float], temperature: Sequence[float],
                  precip: Sequence[float], temp_band: tuple | None = None,
                  precip_band: tuple | None = None, label: str = "") -> str:
    """An inline SVG: temperature line (orange) over its member band, precip chance (blue).

    Parameters
    ----------
    local_hour, temperature, precip : sequences of shape (n_steps,)
    temp_band, precip_band : (lo, hi) arrays of shape (n_steps,), or None
    label : accessible title
    """
    temps = np.asarray(temperature, dtype=float)
    n = len(temps)
    if n < 2:
        return ""
    xs = np.linspace(PAD, WIDTH - PAD, n)
    band_lo, band_hi = (np.asarray(b, dtype=float) for b in (temp_band or (temps,) * 2))
    t_lo = float(np.nanmin([band_lo.min(), temps.min()]))
    t_hi = float(np.nanmax([band_hi.max(), temps.max()]))
    top, mid, bottom = PAD, HEIGHT * 0.62, HEIGHT - PAD
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" viewBox="0 0 {WIDTH} '
             f'{HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">'
             f"<title>{escape(label)}</title>"]
    if temp_band is not None:
        upper = _scale(band_hi, t_lo, t_hi, top, mid)
        lower = _scale(band_lo, t_lo, t_hi, top, mid)
        ring = _points(np.r_[xs, xs[::-1]], np.r_[upper, lower[::-1]])
        parts.append(f'<polygon points="{ring}" fill="{TEMP_COLOR}" fill-opacity="0.18"/>')
    parts.append(f'<polyline points="{_points(xs, _scale(temps, t_lo, t_hi, top, mid))}"'
                 f' fill="none" stroke="{TEMP_COLOR}" stroke-width="1.6"/>')
    if precip_band is not None:
        upper = _scale(precip_band[1], 0, 100, mid + 4, bottom)
        lower = _scale(precip_band[0], 0, 100, mid + 4, bottom)
        ring = _points(np.r_[xs, xs[::-1]], np.r_[upper, lower[::-1]])
        parts.append(f'<polygon points="{ring}" fill="{RAIN_COLOR}" fill-opacity="0.15"/>')
    chance = np.asarray(precip, dtype=float)
    parts.append(f'<polyline points="{_points(xs, _scale(chance, 0, 100, mid + 4, bottom))}" '
                 f'fill="none" stroke="{RAIN_COLOR}" stroke-width="1.2"/>')
    hours = list(local_hour)
    for i in (0, n // 2, n - 1):
        parts.append(f'<text x="{xs[i]:.0f}" y="{HEIGHT - 1}" font-size="8" fill="#555" '
                     f'text-anchor="middle">{int(hours[i]) % 24 if i < len(hours) else ""}'
                     "</text>")
    parts.append(f'<text x="{WIDTH - PAD}" y="10" font-size="8" fill="{TEMP_COLOR}" '
                 f'text-anchor="end">{t_lo:.0f}–{t_hi:.0f}°F</text></svg>')
    return "".join(parts)
