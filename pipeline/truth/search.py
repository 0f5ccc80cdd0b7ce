"""The best statement for a group of ZIPs: exact, by prefix sums over binned facts.

A statement's categorical part (precipitation type, wind category, hazards) must equal each
member's, so the search runs one category combination at a time. Within one, the stated
high and low ranges and the onset are *boxes*: ``[a - slack, a + range + slack]`` for a whole
°F ``a``, ``[s - tol, s + tol]`` for a whole hour ``s``. Values are binned on a doubled grid —
bin ``2n`` holds exactly ``n``, bin ``2n + 1`` the open interval ``(n, n + 1)`` — so a box
covers whole bins and the box sums (prefix sums over the histogram) are exact: the search finds
the true maximum over every statement the rule allows, which the LP bound
(:mod:`pipeline.truth.bound`) relies on.

Stating the sky only narrows a statement, so the search never states it; the planner adds
the sky afterwards where every member that chose the slot shares it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.settings import TruthRules
from pipeline.truth.claims import fits
from pipeline.truth.rule import (
    PRECIP_TYPES,
    WIND_CATEGORIES,
    FactArrays,
    Statement,
    as_arrays,
    hazard_names,
    onset_tolerance,
)


def doubled_bins(values: np.ndarray) -> np.ndarray:
    """Bin ``2n`` for the whole number ``n``, ``2n + 1`` for values strictly between n, n+1."""
    floor = np.floor(values)
    return (2 * floor + (values > floor)).astype(np.int64)


def box_sums(hist: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """Sum of ``hist`` over a box of ``widths`` bins starting at every *even* index.

    Boxes start on whole numbers, which are the even bins of the doubled grid; the result has
    ``ceil(n / 2)`` positions per axis, position ``p`` standing for the box from bin ``2p``.
    Axis by axis: prefix sums along the axis, then the difference at each box's ends (a numba
    kernel, bit for bit what ``np.cumsum`` and ``np.take`` give).
    """
    from pipeline.truth._boxes import box_axis

    if any(int(width) < 0 for width in widths):
        raise ValueError(f"box widths must be 0 or more, got {tuple(widths)}")
    out = np.ascontiguousarray(hist, dtype=np.float64)
    for axis, width in enumerate(widths):
        shape = out.shape
        pre, post = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1:]))
        out = box_axis(out.reshape(pre, shape[axis], post), int(width)).reshape(
            shape[:axis] + ((shape[axis] + 1) // 2,) + shape[axis + 1:])
    return out


@dataclass(frozen=True)
class Box:
    """The best box of one category: its weight and the stated values it stands for."""

    weight: float
    high: int  # stated high range starts here (whole °F)
    low: int
    onset: int | None


def _axis(values: np.ndarray, width: int) -> tuple[np.ndarray, int, int]:
    """Doubled bins relative to an even origin low enough for every box that touches them."""
    bins = doubled_bins(values)
    origin = int(bins.min()) - (width - 1)
    origin -= origin % 2  # boxes start on whole numbers: even bins
    return bins - origin, origin, int(bins.max()) - origin + 1


def best_box(
    high: np.ndarray, low: np.ndarray, onset: np.ndarray | None, weight: np.ndarray,
    rules: TruthRules, onset_tol: float, onset_span: tuple[float, float] = (-1e9, 1e9),
) -> Box:
    """Best stated high, low (and onset) for one category's members, exactly.

    The stated onset is kept within ``onset_span`` (whole hours); clamping never loses: a box
    centred before the span covers no onset that the box at the span's start misses.

    One compiled call (:func:`pipeline.truth._boxes.best_box_kernel`, the same box bit for
    bit as :func:`best_box_numpy`): the planner asks for about 1,500 boxes a national run,
    and numpy's dozen calls per box cost more than the sums themselves.
    """
    from pipeline.truth._boxes import best_box_kernel

    values = [np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)]
    if onset is not None:
        values.append(np.asarray(onset, dtype=np.float64))
    if not len(values[0]) or any(np.isnan(v).any() for v in values):
        return best_box_numpy(high, low, onset, weight, rules, onset_tol, onset_span)
    slack, span = rules.temperature_slack_f, rules.stated_range_f
    width = int(2 * (span + 2 * slack)) + 1
    owidth = int(4 * onset_tol) + 1
    lo, hi = ((int(np.ceil(onset_span[0])), int(np.floor(onset_span[1])))
              if onset is not None else (0, 0))  # a dry category has no onset to keep in it
    best, ph, pl, po, h0, l0, o0 = best_box_kernel(
        values[0], values[1], values[2] if onset is not None else values[0],
        onset is not None, np.asarray(weight, dtype=np.float64), width, owidth, lo, hi,
        int(onset_tol))
    return Box(float(best), (int(ph) + int(h0)) // 2 + int(slack),
               (int(pl) + int(l0)) // 2 + int(slack),
               None if onset is None else (int(po) + int(o0)) // 2 + int(onset_tol))


def best_box_numpy(
    high: np.ndarray, low: np.ndarray, onset: np.ndarray | None, weight: np.ndarray,
    rules: TruthRules, onset_tol: float, onset_span: tuple[float, float] = (-1e9, 1e9),
) -> Box:
    """:func:`best_box` in numpy: the reference the compiled box is tested against, and the
    answer where a value is missing."""
    slack, span = rules.temperature_slack_f, rules.stated_range_f
    width = int(2 * (span + 2 * slack)) + 1
    hb, h0, nh = _axis(high, width)
    lb, l0, nl = _axis(low, width)
    index = [hb, lb]
    shape = [nh, nl]
    widths = [width, width]
    if onset is not None:
        owidth = int(4 * onset_tol) + 1
        ob, o0, no = _axis(onset, owidth)
        index.append(ob)
        shape.append(no)
        widths.append(owidth)
    flat = np.ravel_multi_index(tuple(index), tuple(shape))
    hist = np.bincount(flat, weights=weight, minlength=int(np.prod(shape))).reshape(shape)
    sums = box_sums(hist, tuple(widths))
    if onset is not None:  # the stated onset (box centre) stays within the windows' span
        stated = (np.arange(sums.shape[2]) * 2 + o0) // 2 + int(onset_tol)
        lo, hi = int(np.ceil(onset_span[0])), int(np.floor(onset_span[1]))
        stated_ok = (stated >= lo) & (stated <= hi)
        if stated_ok.any():
            sums = np.where(stated_ok[None, None, :], sums, -np.inf)
    best = float(sums.max())
    cand = np.argwhere(sums >= best - 1e-9) * 2  # back to (even) start bins
    # among equally good boxes, the one centred nearest the members' medians
    centre = [np.median(hb) - (width - 1) / 2, np.median(lb) - (width - 1) / 2]
    if onset is not None:
        centre.append(np.median(index[2]) - (owidth - 1) / 2)
    pick = cand[np.argmin(np.abs(cand - np.array(centre)).sum(axis=1))]
    a = (int(pick[0]) + h0) // 2 + int(slack)
    c = (int(pick[1]) + l0) // 2 + int(slack)
    s = None if onset is None else (int(pick[2]) + o0) // 2 + int(onset_tol)
    return Box(best, a, c, s)


def category_codes(f: FactArrays) -> np.ndarray:
    """One int per (precipitation type, wind category, hazard mask) combination."""
    return (f.kind.astype(np.int64) * len(WIND_CATEGORIES) + f.wind) * 64 + f.hazards


def _statement(code: int, box: Box, rules: TruthRules) -> Statement:
    rest, mask = divmod(int(code), 64)
    kind, wind = divmod(rest, len(WIND_CATEGORIES))
    r = rules.stated_range_f
    return Statement(
        high_f=(float(box.high), float(box.high + r)), low_f=(float(box.low), float(box.low + r)),
        precip_type=PRECIP_TYPES[kind],
        onset_h=None if box.onset is None else float(box.onset),
        wind_category=WIND_CATEGORIES[wind], hazards=hazard_names(mask),
    )


class StatementSearch:
    """The exact best-statement search over fixed facts, for any weights.

    Categories are split once; :meth:`best` then scores each category's best box for the
    given weights, largest possible first, and stops when no later category can win.
    """

    def __init__(self, facts: pd.DataFrame | FactArrays, rules: TruthRules) -> None:
        f = as_arrays(facts)
        self.facts, self.rules = f, rules
        self.onset_tol = onset_tolerance(rules, f.step_hours)
        known = ~(np.isnan(f.high) | np.isnan(f.low))
        codes = category_codes(f)
        order = np.flatnonzero(known)[np.argsort(codes[known], kind="stable")]
        cats, starts = np.unique(codes[order], return_index=True)
        self.groups = list(zip(cats.tolist(), np.split(order, starts[1:]), strict=True))

    def _box(self, g: int, w: np.ndarray) -> Box:
        code, rows = self.groups[g]
        rows = rows[w[rows] > 0]
        f = self.facts
        kind = (code // 64) // len(WIND_CATEGORIES)
        return best_box(f.high[rows], f.low[rows], f.onset[rows] if kind else None, w[rows],
                        self.rules, self.onset_tol, f.onset_span)

    def each(self, weights: np.ndarray, above: float = 0.0, per_category: int = 1
             ) -> list[tuple[float, Statement]]:
        """Every category's best statement whose weight exceeds ``above``; with
        ``per_category`` > 1, also the next best after removing what the previous ones fit."""
        out = []
        f = self.facts
        for g, (code, rows) in enumerate(self.groups):
            w = weights
            for _ in range(per_category):
                if float(w[rows].sum()) <= above:
                    break
                box = self._box(g, w)
                if box.weight <= above:
                    break
                statement = _statement(code, box, self.rules)
                out.append((box.weight, statement))
                w = w.copy()
                w[rows[fits(f.take(rows), statement, self.rules)]] = 0.0
        return out

    def best(self, weights: np.ndarray) -> tuple[float, Statement]:
        """The statement of greatest fitting weight, and that weight."""
        w = weights
        totals = [float(w[rows].sum()) for _, rows in self.groups]
        best: tuple[float, int, Box] | None = None
        for g in np.argsort(totals, kind="stable")[::-1]:
            if totals[g] <= 0 or (best is not None and totals[g] <= best[0]):
                break  # groups come heaviest first: no later one can win
            box = self._box(int(g), w)
            if best is None or box.weight > best[0]:
                best = (box.weight, self.groups[int(g)][0], box)
        if best is None:
            raise ValueError("no ZIP with known facts and positive weight")
        return best[0], _statement(best[1], best[2], self.rules)


def best_statement(
    facts: pd.DataFrame | FactArrays, weights: np.ndarray | None, rules: TruthRules,
) -> tuple[Statement, np.ndarray]:
    """The statement that fits the most weight among ``facts``, and its fit mask."""
    f = as_arrays(facts)
    if len(f) == 0:
        raise ValueError("best_statement needs at least one ZIP")
    w = np.ones(len(f)) if weights is None else np.asarray(weights, dtype=float)
    _, statement = StatementSearch(f, rules).best(w)
    return statement, fits(f, statement, rules)
