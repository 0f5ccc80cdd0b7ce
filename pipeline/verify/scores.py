"""Scores: how true each message was where subscribers live, as the weather happened.

Three messages are scored at every ZIP (see :class:`VerificationSummary`):

- ``sent``: what its subscribers read: the approved editors' text of its slot, rendered for
  the ZIP and read back into claims by the claim parser; the automatic message where the ZIP
  got one (a misfit, or an unapproved slot under the "automatic" policy). Held slots sent
  nothing and are left out.
- ``automatic``: what zipcast would have sent with no editor: the slot's drafted statement
  where it fits, the ZIP's automatic message elsewhere.
- ``forecast``: the ZIP's own forecast facts as a message (its automatic message, exact
  values: "near 44F"): how right the forecast itself was, read as precisely as it can be
  said. It is the best message *by the forecast*, not by the weather: a slot's 5 °F range is
  often true where "near 44F" is not.

The sent message's misses are split into the **forecast's** (the ZIP's own forecast was
wrong too) and the **grouping's** (the ZIP's own forecast was right; the slot's message was
not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.settings import TruthRules
from pipeline.store.verification import (
    FALSE,
    KINDS,
    NOT_SENT,
    TOPICS,
    TRUE,
    UNVERIFIABLE,
    Attribution,
    Baseline,
    Categorical,
    Errors,
    MessageScores,
    Score,
)
from pipeline.truth.claims import (
    Claim,
    Hazard,
    NoOtherHazard,
    Onset,
    Precipitation,
    Sky,
    TemperatureRange,
    Wind,
    claims_of,
)
from pipeline.truth.parse import ReadingWindow, parse
from pipeline.truth.rule import Statement
from pipeline.verify.checks import MessageVerdict, check_message
from pipeline.verify.facts import ObservedFacts


@dataclass
class Scored:
    """Per-ZIP statuses of the three messages (``TRUE``/``FALSE``/``UNVERIFIABLE``, and
    ``NOT_SENT`` for ZIPs that got no message in ``sent``), and per message kind each topic's
    status (``NOT_SENT`` where the message says nothing of the topic)."""

    status: dict[str, np.ndarray]
    topics: dict[str, dict[str, np.ndarray]]


def own_claims(facts: pd.DataFrame) -> list[tuple[np.ndarray, list[Claim]]]:
    """Each ZIP's own forecast as claims (:func:`pipeline.truth.wording.own_statement`'s),
    grouped by what the claims say in words, with per-ZIP numbers in array fields.

    Returns a list of (row indexes, claims) covering every row of ``facts``.
    """
    high = np.round(facts["high_f"].to_numpy(float))
    low = np.round(facts["low_f"].to_numpy(float))
    onset = facts["precip_onset_h"].to_numpy(float)
    if "precip_start_hour" in facts:
        onset = np.where(np.isnan(onset), facts["precip_start_hour"].to_numpy(float), onset)
    onset = np.round(onset)
    temps = ~(np.isnan(high) | np.isnan(low))
    sky = facts["sky"].where(facts["sky"].notna(), "").astype(str).to_numpy()
    hazards = facts["hazards"].fillna("").astype(str).to_numpy()
    key = pd.DataFrame({"t": temps, "p": facts["precip_type"].astype(str).to_numpy(),
                        "w": facts["wind_category"].astype(str).to_numpy(), "s": sky,
                        "h": hazards})
    out = []
    for (has_temps, precip_type, wind, sky_name, hazard_text), rows in \
            key.groupby(["t", "p", "w", "s", "h"], sort=False).indices.items():
        stated = tuple(h for h in hazard_text.split(",") if h)
        claims: list[Claim] = []
        if has_temps:
            claims += [TemperatureRange("high", high[rows], high[rows]),
                       TemperatureRange("low", low[rows], low[rows])]
        claims.append(Precipitation(precip_type))
        if precip_type != "none":
            claims.append(Onset(onset[rows]))
        claims.append(Wind(wind))
        if sky_name:
            claims.append(Sky(sky_name))
        claims += [Hazard(h) for h in stated]
        claims.append(NoOtherHazard(stated))
        out.append((np.asarray(rows), claims))
    return out


def _fill(status: np.ndarray, topics: dict[str, np.ndarray], rows: np.ndarray,
          verdict: MessageVerdict) -> None:
    status[rows] = verdict.status
    for topic in TOPICS:  # the topics a message is silent on claim nothing
        topics[topic][rows] = verdict.topics.get(topic, NOT_SENT)


def _copy(source: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {t: values.copy() for t, values in source.items()}


def score_messages(
    assignments: pd.DataFrame,
    obs: ObservedFacts,
    statements: dict[str, Statement],
    sent_texts: pd.DataFrame,
    rules: TruthRules,
) -> Scored:
    """Statuses of the three messages at every ZIP of ``obs`` (assignments aligned to it).

    Parameters
    ----------
    assignments : the run's ``assignments.parquet`` rows, in ``obs.zips`` order
    obs : observed facts
    statements : slot id -> the slot's drafted statement
    sent_texts : :func:`pipeline.dispatch.plan.zip_texts` frame in ``obs.zips`` order
        (``body``: the text, None when nothing is sent; ``automatic``: an automatic message)
    rules : ``settings.truth``
    """
    n = len(obs)
    status = {k: np.full(n, UNVERIFIABLE, dtype=np.int8) for k in KINDS}
    own = {t: np.full(n, NOT_SENT, dtype=np.int8) for t in TOPICS}
    for rows, claims in own_claims(assignments):
        _fill(status["forecast"], own, rows, check_message(claims, obs.take(rows), rules))

    # zipcast without editors: the slot's draft where it fits, the automatic message elsewhere
    fits = assignments["fits"].to_numpy(bool).copy()
    if "automatic" in assignments:
        fits &= ~assignments["automatic"].fillna(False).to_numpy(bool)
    slot_ids = assignments["slot_id"].astype(str).to_numpy()
    status["automatic"][:] = status["forecast"]
    drafted = _copy(own)
    for slot_id, rows in pd.Series(np.arange(n))[fits].groupby(slot_ids[fits]).groups.items():
        statement = statements.get(str(slot_id))
        if statement is not None:
            index = np.asarray(rows)
            _fill(status["automatic"], drafted, index,
                  check_message(claims_of(statement), obs.take(index), rules))

    # what was sent: editors' texts read back into claims; automatic messages are own facts
    body = sent_texts["body"].to_numpy(dtype=object)
    auto = sent_texts["automatic"].fillna(False).to_numpy(bool)
    nothing = pd.isna(body)
    status["sent"][:] = np.where(nothing, NOT_SENT, status["forecast"])
    sent = {t: np.where(nothing, NOT_SENT, values).astype(np.int8) for t, values in own.items()}
    edited = ~nothing & ~auto
    starts = assignments["window_start_h"].to_numpy(float) if "window_start_h" in assignments \
        else np.zeros(n)
    hours = assignments["window_hours"].to_numpy(float) if "window_hours" in assignments \
        else np.full(n, 24.0)
    # the reader's window: the slot's earliest start, as the fact check at approval reads it
    slot_start = pd.Series(starts).groupby(slot_ids).transform("min").to_numpy(float)
    groups = pd.DataFrame({"body": body, "start": np.floor(slot_start), "hours": hours})[edited]
    for (text, start, length), rows in groups.groupby(["body", "start", "hours"],
                                                      sort=False).indices.items():
        index = np.flatnonzero(edited)[rows]
        window = ReadingWindow(float(start), float(length))
        claims = [p.claim for p in parse(str(text), window=window)]
        _fill(status["sent"], sent, index, check_message(claims, obs.take(index), rules))
    return Scored(status=status, topics={"sent": sent, "automatic": drafted, "forecast": own})


def score(status: np.ndarray, weights: np.ndarray) -> Score:
    scored = status != NOT_SENT
    w = weights[scored]
    s = status[scored]
    verifiable = s != UNVERIFIABLE
    total = float(w.sum())
    decided = float(w[verifiable].sum())
    return Score(
        true_share=round(float(w[s == TRUE].sum()) / decided, 4) if decided > 0 else None,
        verifiable_share=round(decided / total, 4) if total > 0 else 0.0,
        n_true=int((s == TRUE).sum()), n_false=int((s == FALSE).sum()),
        n_unverifiable=int((s == UNVERIFIABLE).sum()))


def message_scores(status: np.ndarray, topics: dict[str, np.ndarray] | None,
                   weights: np.ndarray, states: np.ndarray, slots: np.ndarray) -> MessageScores:
    def by(keys: np.ndarray) -> dict[str, Score]:
        groups = pd.Series(np.arange(len(keys))).groupby(keys).groups
        return {str(k): score(status[np.asarray(v)], weights[np.asarray(v)])
                for k, v in sorted(groups.items())}

    per_topic = {t: score(values, weights) for t, values in (topics or {}).items()
                 if (values != NOT_SENT).any()}
    return MessageScores(national=score(status, weights), per_state=by(states),
                         per_slot=by(slots), per_topic=per_topic)


def attribution(scored: Scored, weights: np.ndarray) -> Attribution:
    """Whose miss each false sent message was, claim type by claim type: the forecast's when
    the ZIP's own forecast was false on a claim type the message was false on; the
    grouping's when its own forecast was true on every claim type the message was false on;
    undecided otherwise (its own forecast not verifiable there, or silent on it)."""
    sent = scored.status["sent"]
    decided = (sent == TRUE) | (sent == FALSE)
    false = sent == FALSE
    forecast_fault = np.zeros(len(sent), dtype=bool)
    own_right = false.copy()
    for topic in TOPICS:
        failed = scored.topics["sent"][topic] == FALSE
        own = scored.topics["forecast"][topic]
        forecast_fault |= failed & (own == FALSE)
        own_right &= ~failed | (own == TRUE)
    forecast_fault &= false
    grouping = own_right & ~forecast_fault
    w_false = float(weights[false].sum())
    w_decided = float(weights[decided].sum())

    def share(mask: np.ndarray) -> float | None:
        return round(float(weights[false & mask].sum()) / w_false, 4) if w_false > 0 else None

    return Attribution(
        false_share=round(w_false / w_decided, 4) if w_decided > 0 else None,
        forecast_share=share(forecast_fault), grouping_share=share(grouping),
        undecided_share=share(~forecast_fault & ~grouping))


def categorical(forecast_wet: np.ndarray, observed_wet: np.ndarray, known: np.ndarray
                ) -> Categorical:
    f, o = forecast_wet[known], observed_wet[known]
    hits, misses = int((f & o).sum()), int((~f & o).sum())
    false_alarms, negatives = int((f & ~o).sum()), int((~f & ~o).sum())

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return Categorical(n=int(known.sum()), hits=hits, misses=misses, false_alarms=false_alarms,
                       correct_negatives=negatives, hit_rate=ratio(hits, hits + misses),
                       false_alarm_ratio=ratio(false_alarms, hits + false_alarms),
                       critical_success_index=ratio(hits, hits + misses + false_alarms))


def errors(high: np.ndarray, low: np.ndarray, obs: ObservedFacts) -> Errors:
    def mae(forecast: np.ndarray, observed: np.ndarray, known: np.ndarray
            ) -> tuple[int, float | None]:
        ok = known & ~np.isnan(forecast) & ~np.isnan(observed)
        return int(ok.sum()), (round(float(np.abs(forecast[ok] - observed[ok]).mean()), 2)
                               if ok.any() else None)

    n_high, mae_high = mae(high, obs.arrays.high, obs.known_high)
    n_low, mae_low = mae(low, obs.arrays.low, obs.known_low)
    return Errors(n_high=n_high, mae_high_f=mae_high, n_low=n_low, mae_low_f=mae_low)


__all__ = ["KINDS", "NOT_SENT", "Attribution", "Baseline", "Categorical", "Errors",
           "MessageScores", "Score", "Scored", "attribution", "categorical", "errors",
           "message_scores", "own_claims", "score", "score_messages"]
