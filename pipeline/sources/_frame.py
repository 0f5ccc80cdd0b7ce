"""Small helpers every source uses to hand back contract rows and report left-out ZIPs."""

from __future__ import annotations

import logging

import pandas as pd

from pipeline import contract

log = logging.getLogger(__name__)


def finish(frame: pd.DataFrame, failures: dict[str, str], *, source: str) -> pd.DataFrame:
    """Order contract columns, sort rows, attach ``attrs["failures"]`` and log a summary.

    ``failures`` maps each requested ZIP left out (or partly left out) to the reason; the
    validation step quarantines and reports them.
    """
    columns = [c for c in contract.COLUMNS if c in frame]
    frame = frame[columns].sort_values(["zip", "valid_time"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame.attrs["failures"] = dict(failures)
    if failures:
        sample = ", ".join(f"{z} ({r})" for z, r in list(failures.items())[:3])
        log.warning("%s: %d ZIP(s) left out, e.g. %s", source, len(failures), sample)
    return frame


def empty_frame() -> pd.DataFrame:
    """A contract-shaped frame with no rows."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in contract.COLUMNS})
    frame["zip"] = frame["zip"].astype("str")
    for column in ("valid_time", "issue_time"):
        frame[column] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame
