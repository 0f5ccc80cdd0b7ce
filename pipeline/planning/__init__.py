"""Slot planning: the statements whose messages are true for the most subscribers.

Built on the generic DTW engine (:mod:`pipeline.cluster`) and the truth model
(:mod:`pipeline.truth`): :mod:`~pipeline.planning.plan` (greedy cover, the integer program
over the LP bound's pool, DTW membership), :mod:`~pipeline.planning.select` (the program) and
:mod:`~pipeline.planning.baselines` (per-state, k-means and DTW-only groupings, scored alike).
"""

from pipeline.planning.baselines import baseline_labels, score_baselines
from pipeline.planning.plan import SlotPlan, StatementPlan, plan_slots, plan_statements

__all__ = ["SlotPlan", "StatementPlan", "baseline_labels", "plan_slots", "plan_statements",
           "score_baselines"]
