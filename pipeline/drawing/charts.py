"""Charts of a slot's representative series, drawn as SVG on the server.

- :func:`sparkline_svg`: the sheet's small chart, temperature over precipitation chance;
- :func:`series_chart_svg`: the detail page's chart. Two stacked panels share a local-hour
  axis: temperature (°F) above, precipitation chance (%) below, each with the slot's
  barycenter as a solid line, its medoid ZIP as a dashed line and the members' 10th–90th
  percentile band as a shaded area.

The output holds numbers and escaped text only, so it can be inlined under a strict CSP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import numpy as np

from pipeline.drawing.svg import band_ring, points, scale_y
from pipeline.times import clock

TEMP_COLOR, RAIN_COLOR = "#c2410c", "#1d4ed8"
SPARK_W, SPARK_H, SPARK_PAD = 220, 64, 4

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


def _band(xs: np.ndarray, band: tuple, lo: float, hi: float, top: float, bottom: float,
          color: str, opacity: float = 0.16) -> str:
    lower, upper = (scale_y(np.asarray(b, dtype=float), lo, hi, top, bottom) for b in band)
    return (f'<polygon class="band" points="{band_ring(xs, lower, upper)}" fill="{color}" '
            f'fill-opacity="{opacity}"/>')


def _line(xs: np.ndarray, ys: np.ndarray, color: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    kind = "medoid" if dashed else "barycenter"
    return (f'<polyline class="{kind}" points="{points(xs, ys)}" fill="none" '
            f'stroke="{color}" stroke-width="{1.4 if dashed else 2.2}"{dash}/>')


def _y_axis(ticks: Sequence[float], lo: float, hi: float, top: float, bottom: float,
            unit: str) -> list[str]:
    parts = []
    for tick in ticks:
        y = float(scale_y(np.array([tick]), lo, hi, top, bottom)[0])
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
        parts.append(_line(xs, scale_y(medoid_t, t_lo, t_hi, TEMP_TOP, TEMP_BOTTOM), TEMP_COLOR,
                           dashed=True))
    parts.append(_line(xs, scale_y(temps, t_lo, t_hi, TEMP_TOP, TEMP_BOTTOM), TEMP_COLOR))
    if precip_band is not None:
        parts.append(_band(xs, precip_band, 0, 100, RAIN_TOP, RAIN_BOTTOM, RAIN_COLOR))
    if medoid_p is not None:
        parts.append(_line(xs, scale_y(medoid_p, 0, 100, RAIN_TOP, RAIN_BOTTOM), RAIN_COLOR,
                           dashed=True))
    chance = np.asarray(precip, dtype=float)
    if len(chance) == n:
        parts.append(_line(xs, scale_y(chance, 0, 100, RAIN_TOP, RAIN_BOTTOM), RAIN_COLOR))
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{TEMP_TOP - 8}" text-anchor="end" '
                 f'fill="{TEMP_COLOR}">temperature</text><text x="{WIDTH - RIGHT}" '
                 f'y="{RAIN_TOP - 8}" text-anchor="end" fill="{RAIN_COLOR}">'
                 "precipitation chance</text>")
    parts += _hour_axis(xs, list(local_hour))
    parts.append("</svg>")
    return "".join(parts)


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
    pad = SPARK_PAD
    xs = np.linspace(pad, SPARK_W - pad, n)
    band_lo, band_hi = (np.asarray(b, dtype=float) for b in (temp_band or (temps,) * 2))
    t_lo = float(np.nanmin([band_lo.min(), temps.min()]))
    t_hi = float(np.nanmax([band_hi.max(), temps.max()]))
    top, mid, bottom = pad, SPARK_H * 0.62, SPARK_H - pad
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" viewBox="0 0 {SPARK_W} '
             f'{SPARK_H}" width="{SPARK_W}" height="{SPARK_H}" role="img">'
             f"<title>{escape(label)}</title>"]
    if temp_band is not None:
        parts.append(_band(xs, temp_band, t_lo, t_hi, top, mid, TEMP_COLOR, 0.18))
    parts.append(f'<polyline points="{points(xs, scale_y(temps, t_lo, t_hi, top, mid))}"'
                 f' fill="none" stroke="{TEMP_COLOR}" stroke-width="1.6"/>')
    if precip_band is not None:
        parts.append(_band(xs, precip_band, 0, 100, mid + 4, bottom, RAIN_COLOR, 0.15))
    chance = np.asarray(precip, dtype=float)
    parts.append(f'<polyline points="{points(xs, scale_y(chance, 0, 100, mid + 4, bottom))}" '
                 f'fill="none" stroke="{RAIN_COLOR}" stroke-width="1.2"/>')
    hours = list(local_hour)
    for i in (0, n // 2, n - 1):
        parts.append(f'<text x="{xs[i]:.0f}" y="{SPARK_H - 1}" font-size="8" fill="#555" '
                     f'text-anchor="middle">{int(hours[i]) % 24 if i < len(hours) else ""}'
                     "</text>")
    peak = float(np.nanmax(chance)) if np.isfinite(chance).any() else 0.0
    parts.append(f'<text x="{pad}" y="{mid + 11:.0f}" font-size="8" fill="{RAIN_COLOR}">'
                 f"precip chance, peak {peak:.0f}%</text>")
    parts.append(f'<text x="{SPARK_W - pad}" y="10" font-size="8" fill="{TEMP_COLOR}" '
                 f'text-anchor="end">{round(t_lo) + 0:.0f}–{round(t_hi) + 0:.0f}°F</text></svg>')
    return "".join(parts)


TREND_W, TREND_H = 720, 180


def trend_svg(labels: Sequence[str], series: dict[str, Sequence[float | None]],
              colors: dict[str, str], label: str = "") -> str:
    """Shares (0–1) over runs, oldest left: one line per series, gaps where a value is None,
    a 0–100 % axis and the first and last run named below."""
    n = len(labels)
    if n == 0:
        return ""
    top, bottom = 26, TREND_H - 22
    xs = np.linspace(LEFT, TREND_W - RIGHT, max(n, 2))[:n] if n > 1 else np.array([LEFT + 0.0])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {TREND_W} {TREND_H}" '
             f'width="{TREND_W}" height="{TREND_H}" role="img" font-family="sans-serif" '
             f'font-size="10"><title>{escape(label)}</title>']
    for tick in (0, 25, 50, 75, 100):
        y = scale_y(np.array([tick / 100]), 0, 1, top, bottom)[0]
        parts.append(f'<line x1="{LEFT}" x2="{TREND_W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}"/><text x="{LEFT - 4}" y="{y + 3:.1f}" '
                     f'text-anchor="end" fill="{AXIS_TEXT}">{tick} %</text>')
    x_legend = LEFT
    for name, values in series.items():
        color = colors.get(name, AXIS_TEXT)
        ys = np.array([math.nan if v is None else float(v) for v in values])
        run: list[str] = []
        for x, y in zip(xs, ys, strict=False):
            if math.isnan(y):
                if len(run) > 1:
                    parts.append(f'<polyline points="{" ".join(run)}" fill="none" '
                                 f'stroke="{color}" stroke-width="1.8"/>')
                run = []
                continue
            py = scale_y(np.array([y]), 0, 1, top, bottom)[0]
            run.append(f"{x:.1f},{py:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{py:.1f}" r="2.5" fill="{color}">'
                         f"<title>{escape(name)}: {100 * y:.1f} %</title></circle>")
        if len(run) > 1:
            parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" '
                         'stroke-width="1.8"/>')
        parts.append(f'<rect x="{x_legend}" y="8" width="10" height="10" fill="{color}"/>'
                     f'<text x="{x_legend + 14}" y="17" fill="{AXIS_TEXT}">{escape(name)}</text>')
        x_legend += 14 + 7 * len(name) + 16
    parts.append(f'<text x="{LEFT}" y="{TREND_H - 6}" fill="{AXIS_TEXT}">'
                 f"{escape(labels[0])}</text>")
    if n > 1:
        parts.append(f'<text x="{TREND_W - RIGHT}" y="{TREND_H - 6}" text-anchor="end" '
                     f'fill="{AXIS_TEXT}">{escape(labels[-1])}</text>')
    return "".join(parts) + "</svg>"
