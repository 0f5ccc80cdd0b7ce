"""Message truthfulness: is what a subscriber reads true where they live?

- :mod:`~pipeline.truth.rule`: statements and per-ZIP facts as arrays;
- :mod:`~pipeline.truth.claims`: the claims a message makes, each with one ``holds`` check,
  and :func:`fits` (every claim holds);
- :mod:`~pipeline.truth.wording`: messages rendered from claims (GSM-7, one SMS);
- :mod:`~pipeline.truth.search`: the exact best statement for a group of ZIPs;
- :mod:`~pipeline.truth.bound`: the LP upper bound on truthfulness with k slots;
- :mod:`~pipeline.truth.scores`: truthfulness nationally, per state and per slot.
"""

from pipeline.times import clock
from pipeline.truth.bound import CoverageBound, StatementPool, coverage_bound
from pipeline.truth.claims import Claim, claims_of, fits
from pipeline.truth.rule import (
    HAZARDS,
    PRECIP_TYPES,
    SKY_CATEGORIES,
    WIND_CATEGORIES,
    FactArrays,
    Statement,
    onset_tolerance,
)
from pipeline.truth.scores import score_grouping, truthfulness
from pipeline.truth.search import StatementSearch, best_statement

__all__ = [
    "HAZARDS", "PRECIP_TYPES", "SKY_CATEGORIES", "WIND_CATEGORIES", "Claim", "CoverageBound",
    "FactArrays", "Statement", "StatementPool", "StatementSearch", "best_statement",
    "claims_of", "clock", "coverage_bound", "fits", "onset_tolerance", "score_grouping",
    "truthfulness",
]
