"""Prefect's environment for zipcast, set before Prefect is imported (CLI, tests, benchmarks)."""

from __future__ import annotations

import os


def quiet_prefect(verbose: bool = False) -> None:
    """Analytics off, a start-up limit that suits a busy 2-core machine, logs to taste.

    Only defaults: what the environment already says wins.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # the embedded server can take ~30 s to start on a busy 2-core machine (default limit 20 s)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
