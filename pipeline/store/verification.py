"""A run's verification as typed records: ``verification.json`` in the run folder, the
``verifications`` table, and the readers the review app and the next sheet use.

:mod:`pipeline.verify` computes these; they live here, with the run summary's records, so the
review pages read them without importing the verification code above them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.models import Verification
from pipeline.store.summary import Record

SUMMARY_FILE = "verification.json"
ZIPS_FILE = "verification.parquet"
MAP_FILE = "verification-{kind}.svg"  # one map per message kind
KINDS = ("sent", "automatic", "forecast")
KIND_NAMES = {"sent": "what subscribers read", "automatic": "zipcast's drafts, unedited",
              "forecast": "each ZIP's own forecast, exactly"}
TOPICS = ("high", "low", "precipitation", "onset", "wind", "sky", "hazards")
TRUE, FALSE, UNVERIFIABLE, NOT_SENT = 1, 0, -1, -2
#: observed truthfulness → colour, for the map and the page's legend (lowest bound first
#: matched from the top); slots nothing decided stay grey
SCORE_BINS = ((0.95, "#15803d", "95 % or more"), (0.85, "#65a30d", "85–95 %"),
              (0.70, "#eab308", "70–85 %"), (0.50, "#ea580c", "50–70 %"),
              (0.0, "#b91c1c", "under 50 %"))
NOT_DECIDED = ("#cbd5e1", "not verifiable")


def score_color(share: float | None) -> str:
    if share is None:
        return NOT_DECIDED[0]
    return next(color for low, color, _ in SCORE_BINS if share >= low)


class Score(Record):
    """Weighted share of true messages among those the observations decide."""

    true_share: float | None  # None when nothing was verifiable
    verifiable_share: float  # of the messages scored (weighted)
    n_true: int
    n_false: int
    n_unverifiable: int


class MessageScores(Record):
    national: Score
    per_state: dict[str, Score]
    per_slot: dict[str, Score]
    per_topic: dict[str, Score]


class Attribution(Record):
    """Of the sent messages found false (weighted): whose miss was it?"""

    false_share: float | None  # false among verifiable sent messages
    forecast_share: float | None  # of the false ones: the ZIP's own forecast was false too
    grouping_share: float | None  # of the false ones: its own forecast was true
    undecided_share: float | None  # of the false ones: its own forecast is not verifiable


class Categorical(Record):
    """Precipitation yes/no, forecast against observed, counted in ZIPs."""

    n: int
    hits: int
    misses: int
    false_alarms: int
    correct_negatives: int
    hit_rate: float | None  # hits / (hits + misses), "probability of detection"
    false_alarm_ratio: float | None  # false alarms / (hits + false alarms)
    critical_success_index: float | None  # hits / (hits + misses + false alarms)


class Errors(Record):
    """Mean absolute error of highs and lows, in °F, over ZIPs whose observation is known."""

    n_high: int
    mae_high_f: float | None
    n_low: int
    mae_low_f: float | None


class Baseline(Record):
    name: str  # persistence, climatology
    available: bool
    why: str = ""
    precipitation: Categorical | None = None
    temperature: Errors | None = None


class Coverage(Record):
    """Share of ZIPs (weighted) whose observed fact is known."""

    high: float
    low: float
    precipitation: float
    precip_type: float
    onset: float
    wind: float
    sky: float


class VerificationSummary(Record):
    """What ``zipcast verify`` found for one run (``verification.json``)."""

    run_id: str
    verified_at: str
    issue_time: str
    window: str
    window_end: str
    weighting: str  # subscribers, or ZIPs when the run's ZIPs have none
    n_zips: int
    n_sent: int  # ZIPs whose subscribers got a message
    n_held: int  # ZIPs of held slots (nothing sent)
    observations: list[dict[str, Any]]
    coverage: Coverage
    messages: dict[str, MessageScores]  # sent, automatic, forecast
    attribution: Attribution
    precipitation: Categorical
    temperature: Errors
    baselines: list[Baseline]
    seconds: dict[str, float]

    def lines(self) -> list[str]:
        """What a person reads after ``zipcast verify``."""
        def pct(value: float | None) -> str:
            return "not verifiable" if value is None else f"{100 * value:.1f} %"

        out = [f"run {self.run_id} ({self.window}, window ended {self.window_end})",
               "observations: " + "; ".join(
                   f"{o['kind']} {o['path']} ({', '.join(o['variables'])}; "
                   f"{o['n_zips']:,} ZIPs)" for o in self.observations)]
        for kind in KINDS:
            s = self.messages[kind].national
            out.append(f"{kind:>9}: true for {pct(s.true_share)} of {self.weighting} "
                       f"(verifiable: {pct(s.verifiable_share)}; {s.n_true:,} true, "
                       f"{s.n_false:,} false, {s.n_unverifiable:,} not verifiable)")
        a = self.attribution
        if a.false_share:
            out.append(f"misses: {pct(a.false_share)} of verifiable sent messages; of them "
                       f"{pct(a.forecast_share)} the forecast's, {pct(a.grouping_share)} the "
                       f"grouping's, {pct(a.undecided_share)} undecided")
        topics = self.messages["sent"].per_topic
        if topics:
            out.append("sent, by claim: " + ", ".join(
                f"{t} {pct(s.true_share)}" for t, s in topics.items()))
        p = self.precipitation
        if p.n:
            out.append(f"precipitation yes/no ({p.n:,} ZIPs): hit rate {pct(p.hit_rate)}, "
                       f"false alarms {pct(p.false_alarm_ratio)}, CSI "
                       f"{pct(p.critical_success_index)}")
        t = self.temperature
        if t.n_high:
            out.append(f"highs: mean absolute error {t.mae_high_f} F ({t.n_high:,} ZIPs); "
                       f"lows {t.mae_low_f} F ({t.n_low:,})")
        for b in self.baselines:
            if not b.available:
                out.append(f"baseline {b.name}: not available ({b.why})")
            else:
                csi = b.precipitation.critical_success_index if b.precipitation else None
                mae = b.temperature.mae_high_f if b.temperature else None
                out.append(f"baseline {b.name}: CSI {pct(csi)}, highs MAE {mae} F ({b.why})")
        return out




def read_verification(run_dir: str | Path) -> VerificationSummary | None:
    """The run's ``verification.json``, or None when it was not verified."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.exists():
        return None
    return VerificationSummary.model_validate_json(path.read_text())


def slot_topics(run_dir: str | Path, kind: str = "sent") -> dict[str, dict[str, float | None]]:
    """Per slot, the ``kind`` message's true share per topic (weighted as the verification
    was: its ``weight`` column), from ``verification.parquet``; empty when not verified."""
    path = Path(run_dir) / ZIPS_FILE
    if not path.exists() or kind not in KINDS:
        return {}
    table = pd.read_parquet(path, columns=["slot_id", "weight",
                                           *[f"{kind}_{t}" for t in TOPICS]])
    out: dict[str, dict[str, float | None]] = {}
    for slot, rows in table.groupby("slot_id"):
        shares: dict[str, float | None] = {}
        for topic in TOPICS:
            status = rows[f"{kind}_{topic}"]
            decided = status.isin([TRUE, FALSE])
            if not (status != NOT_SENT).any():
                continue
            w = rows["weight"][decided]
            shares[topic] = round(float(w[status[decided] == TRUE].sum() / w.sum()), 4) \
                if w.sum() > 0 else None
        out[str(slot)] = shares
    return out


def recent_verifications(db: Session, limit: int = 30) -> list[Verification]:
    """The newest verifications by window end, newest first."""
    return list(db.scalars(select(Verification).order_by(
        Verification.window_end.desc()).limit(limit)))


def verification_of(db: Session, run_id: str) -> dict[str, Any] | None:
    """The stored summary of one run's verification (the table's JSON), or None."""
    row = db.get(Verification, run_id)
    return row.summary if row is not None else None
