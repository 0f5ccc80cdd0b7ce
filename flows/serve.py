"""``zipcast serve``: the deployments on Prefect's embedded default (``flow.serve``).

* ``twice-daily/twice-daily``: one cron schedule per window in ``settings.flows.runs``
  (default morning 04:30 and evening 15:30, America/New_York), each passing its window;
* ``dispatch/dispatch``: every ``settings.flows.dispatch_every_minutes`` (default 5) minutes;
* ``verify-due/verify-due``: hourly, verifies runs whose window ended (``settings.verify``).

The same deployments for a work pool are in ``prefect.yaml`` (``prefect deploy --all``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect.schedules import Cron, Interval

from flows.dispatch import dispatch_flow
from flows.runners import with_runner
from flows.twice_daily import twice_daily
from flows.verify import verify_due_flow
from pipeline.settings import Settings


def cron_of(at: str) -> str:
    hour, minute = (int(x) for x in at.split(":"))
    return f"{minute} {hour} * * *"


def deployments(settings: Settings) -> list[Any]:
    """The runner deployments with their schedules, for these settings."""
    flows = settings.flows
    runs = [Cron(cron_of(at), timezone=flows.timezone, parameters={"window": window},
                 slug=f"{window}-{at.replace(':', '')}")
            for window, at in flows.runs.items()]
    every = timedelta(minutes=flows.dispatch_every_minutes)
    return [
        with_runner(twice_daily, flows).to_deployment(
            name="twice-daily", schedules=runs, tags=["zipcast"],
            description="Forecasts for every ZIP → message slots for the editors' sheet."),
        with_runner(dispatch_flow, flows).to_deployment(
            name="dispatch", schedules=[Interval(every, timezone=flows.timezone)],
            tags=["zipcast"],
            description="Send what is due for the open runs; alert on missed deadlines."),
        with_runner(verify_due_flow, flows).to_deployment(
            name="verify-due", schedules=[Interval(timedelta(hours=1), timezone=flows.timezone)],
            tags=["zipcast"],
            description="Score ended windows' messages against observations."),
    ]


def describe(settings: Settings) -> list[str]:
    """One line per deployment and schedule, for people."""
    flows = settings.flows
    lines = ["twice-daily/twice-daily"]
    lines += [f"  {window:<8} cron '{cron_of(at)}' ({at} {flows.timezone})"
              for window, at in flows.runs.items()]
    lines += ["dispatch/dispatch",
              f"  every {flows.dispatch_every_minutes} minutes",
              "verify-due/verify-due",
              f"  every hour (windows ended {settings.verify.delay_hours:g} h ago; "
              f"observations: {settings.verify.obs_path})"]
    if flows.dask:
        where = flows.dask_address or f"{flows.dask_workers} local workers"
        lines.append(f"tasks run on Dask: {where}")
    return lines


def serve(settings: Settings) -> None:
    """Register the deployments and run their schedules until interrupted."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments(settings))
