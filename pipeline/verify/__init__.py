"""Verification: after a window, was each message true where subscribers live, as the weather
happened?

- :mod:`~pipeline.verify.observations`: observations from analyses (GRIB/NetCDF), station
  tables (CSV, MET ASCII) or the synthetic source, at ZIPs;
- :mod:`~pipeline.verify.facts`: observed facts by the forecast's own facts code, with what
  is known and what is not;
- :mod:`~pipeline.verify.checks`: each claim checked, "not verifiable" where the observations
  cannot tell;
- :mod:`~pipeline.verify.scores`: scores nationally, per state, slot and claim; whose miss it
  was; precipitation yes/no and temperature errors with baselines;
- :mod:`~pipeline.verify.job`: the steps of ``zipcast verify`` and where results are kept.
"""

from pipeline.verify.job import VerificationSummary, stored_verification, verify

__all__ = ["VerificationSummary", "stored_verification", "verify"]
