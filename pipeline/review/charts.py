"""The detail page's chart of a slot's representative series, drawn as SVG on the server.

Two stacked panels share a local-hour axis: temperature (°F) above, precipitation chance
(%) below. Each shows the slot's barycenter as a solid line, its medoid ZIP as a dashed
line, and the members' 10th–90th percentile band (see
:func:`pipeline.review.sparkline.member_bands`) as a shaded area. The output holds numbers
and escaped text only, so it can be inlined in a page under a strict CSP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import numpy as np

from pipeline.review.sparkline import RAIN_COLOR, TEMP_COLOR
from pipeline.times import clock

WIDTH, HEIGHT = 720, 346
LEFT, RIGHT = 48, 16  # room for the y tick labels
TEMP_TOP, TEMP_BOTTOM = 40, 200  # the legend sits above
RAIN_TOP, RAIN_BOTTOM = 236, 312
MAX_HOUR_TICKS = 12
GRID, AXIS_TEXT = "#e5e7eb", "#4b5563"


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]``, about ``target`` of them (1, 2, 5 × 10ⁿ)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    raw = (hi - lo) / max(target - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    count = int(math.ceil((hi - first) / step - 1e-9)) + 1
    return [round(first + i * step, 10) for i in range(count)]


def _y(values: np.ndarray, lo: float, hi: float, top: float, bottom: float) -> np.ndarray:
    span = hi - lo if hi > lo else 1.0
    return bottom - (np.asarray(values, dtype=float) - lo) / span * (bottom - top)


def _points(xs: np.ndarray, ys: np.ndarray) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True) if np.isfinite(y))


def _band(xs: np.ndarray, band: tuple, lo: float, hi: float, top: float, bottom: float,
          color: str) -> str:
    lower, upper = (_y(np.asarray(b, dtype=float), lo, hi, top, bottom) for b in band)
    ring = _points(np.r_[xs, xs[::-1]], np.r_[upper, lower[::-1]])
    return f'<polygon class="band" points="{ring}" fill="{color}" fill-opacity="0.16"/>'


def _line(xs: np.ndarray, ys: np.ndarray, color: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    kind = "medoid" if dashed else "barycenter"
    return (f'<polyline class="{kind}" points="{_points(xs, ys)}" fill="none" '
            f'stroke="{color}" stroke-width="{1.4 if dashed else 2.2}"{dash}/>')


def _y_axis(ticks: Sequence[float], lo: float, hi: float, top: float, bottom: float,
            unit: str) -> list[str]:
    parts = []
    for tick in ticks:
        y = float(_y(np.array([tick]), lo, hi, top, bottom)[0])
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}"/><text x="{LEFT - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end" fill="{AXIS_TEXT}">{tick:g}{unit}</text>')
    return parts


def _hour_axis(xs: np.ndarray, hours: Sequence[float]) -> list[str]:
    n = len(xs)
    stride = max(1, math.ceil(n / MAX_HOUR_TICKS))
    parts = [f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{RAIN_BOTTOM}" y2="{RAIN_BOTTOM}" '
             f'stroke="{AXIS_TEXT}"/>']
    for i in range(0, n, stride):
        if i >= len(hours) or not math.isfinite(hours[i]):
            continue
        parts.append(f'<line x1="{xs[i]:.1f}" x2="{xs[i]:.1f}" y1="{RAIN_BOTTOM}" '
                     f'y2="{RAIN_BOTTOM + 4}" stroke="{AXIS_TEXT}"/>'
                     f'<text class="hour" x="{xs[i]:.1f}" y="{RAIN_BOTTOM + 16}" '
                     f'text-anchor="middle" fill="{AXIS_TEXT}">{escape(clock(hours[i]))}</text>')
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 4}" '
                 f'text-anchor="middle" fill="{AXIS_TEXT}">local time</text>')
    return parts


def _legend(has_medoid: bool, has_band: bool, medoid_zip: str) -> str:
    items = [("barycenter", "")]
    if has_medoid:
        items.append((f"medoid ZIP {medoid_zip}".strip(), ' stroke-dasharray="5 3"'))
    parts, x = [], LEFT
    for text, dash in items:
        parts.append(f'<line x1="{x}" x2="{x + 22}" y1="12" y2="12" stroke="{AXIS_TEXT}" '
                     f'stroke-width="2"{dash}/><text x="{x + 28}" y="16" fill="{AXIS_TEXT}">'
                     f"{escape(text)}</text>")
        x += 40 + 7 * len(text)
    if has_band:
        parts.append(f'<rect x="{x}" y="6" width="22" height="12" fill="{AXIS_TEXT}" '
                     f'fill-opacity="0.16"/><text x="{x + 28}" y="16" fill="{AXIS_TEXT}">'
                     "members’ 10th–90th percentile</text>")
    return "".join(parts)


def series_chart_svg(
    local_hour: Sequence[float],
    temperature: Sequence[float],
    precip: Sequence[float],
    *,
    temp_band: tuple | None = None,
    precip_band: tuple | None = None,
    medoid_temperature: Sequence[float] | None = None,
    medoid_precip: Sequence[float] | None = None,
    medoid_zip: str = "",
    label: str = "",
) -> str:
    """A labelled SVG chart of a slot's representative forecast.

    Parameters
    ----------
    local_hour : sequence of shape (n_steps,), local clock hour of each step
    temperature, precip : sequences of shape (n_steps,), the barycenter (°F, %)
    temp_band, precip_band : (lo, hi) arrays of shape (n_steps,), or None
    medoid_temperature, medoid_precip : the medoid ZIP's series of shape (n_steps,), or None
    medoid_zip : the medoid's ZIP, for the legend
    label : accessible title

    Returns
    -------
    str
        The SVG, or "" when there are fewer than two finite temperature steps.
    """
    temps = np.asarray(temperature, dtype=float)
    n = len(temps)
    if n < 2 or np.isfinite(temps).sum() < 2:
        return ""
    xs = np.linspace(LEFT, WIDTH - RIGHT, n)
    medoid_t = (np.asarray(medoid_temperature, dtype=float)
                if medoid_temperature is not None and len(medoid_temperature) == n else None)
    medoid_p = (np.asarray(medoid_precip, dtype=float)
                if medoid_precip is not None and len(medoid_precip) == n else None)
    spread = [temps] + [np.asarray(b, dtype=float) for b in (temp_band or ())]
    if medoid_t is not None:
        spread.append(medoid_t)
    ticks = nice_ticks(float(np.nanmin([np.nanmin(s) for s in spread])),
                       float(np.nanmax([np.nanmax(s) for s in spread])))
    t_lo, t_hi = ticks[0], ticks[-1]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="series-chart" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'font-family="sans-serif" font-size="11"><title>{escape(label)}</title>',
             _legend(medoid_t is not None or medoid_p is not None,
                     temp_band is not None or precip_band is not None, medoid_zip)]
    parts += _y_axis(ticks, t_lo, t_hi, TEMP_TOP, TEMP_BOTTOM, "°F")
    parts += _y_axis([0, 50, 100], 0, 100, RAIN_TOP, RAIN_BOTTOM, "%")
    if temp_band is not None:
        parts.append(_band(xs, temp_band, t_lo, t_hi, TEMP_TOP, TEMP_BOTTOM, TEMP_COLOR))
    if medoid_t is not None:
        parts.append(_line(xs, _y(medoid_t, t_lo, t_hi, TEMP_TOP, TEMP_BOTTOM), TEMP_COLOR,
                           dashed=True))
    parts.append(_line(xs, _y(temps, t_lo, t_hi, TEMP_TOP, TEMP_BOTTOM), TEMP_COLOR))
    if precip_band is not None:
        parts.append(_band(xs, precip_band, 0, 100, RAIN_TOP, RAIN_BOTTOM, RAIN_COLOR))
    if medoid_p is not None:
        parts.append(_line(xs, _y(medoid_p, 0, 100, RAIN_TOP, RAIN_BOTTOM), RAIN_COLOR,
                           dashed=True))
    chance = np.asarray(precip, dtype=float)
    if len(chance) == n:
        parts.append(_line(xs, _y(chance, 0, 100, RAIN_TOP, RAIN_BOTTOM), RAIN_COLOR))
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{TEMP_TOP - 8}" text-anchor="end" '
                 f'fill="{TEMP_COLOR}">temperature</text><text x="{WIDTH - RIGHT}" '
                 f'y="{RAIN_TOP - 8}" text-anchor="end" fill="{RAIN_COLOR}">'
                 "precipitation chance</text>")
    parts += _hour_axis(xs, list(local_hour))
    parts.append("</svg>")
    return "".join(parts)
