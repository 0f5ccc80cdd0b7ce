"""Where a flow's tasks run: in the flow's own process, or on Dask through prefect-dask.

``ZIPCAST_FLOWS__DASK_ADDRESS=tcp://scheduler:8786`` uses an existing Dask cluster;
``ZIPCAST_FLOWS__DASK_WORKERS=N`` starts a local cluster of N worker processes for the run.
With neither, tasks run in the flow's process (Prefect's default thread pool).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.settings import FlowSettings


def task_runner(flows: FlowSettings) -> Any:
    """A ``DaskTaskRunner`` for these settings, or None (keep the flow's default)."""
    if not flows.dask:
        return None
    from prefect_dask import DaskTaskRunner

    if flows.dask_address:
        return DaskTaskRunner(address=flows.dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": flows.dask_workers,
                                          "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None})


def with_runner(flow_obj: Any, flows: FlowSettings) -> Any:
    runner = task_runner(flows)
    return flow_obj if runner is None else flow_obj.with_options(task_runner=runner)


@contextmanager
def by_hand() -> Iterator[None]:
    """A flow run started by a person (``zipcast run``): no Prefect heartbeats.

    Prefect's heartbeat thread sleeps in one-second steps and the end of the run waits for
    its current step, so every run ended on the next whole second after it started: half a
    second of waiting on average, up to one (measured on the shared local server: a flow of
    0.1-0.9 s took 1.07 s, and 0.28-0.98 s without heartbeats). Heartbeats let a Prefect
    automation mark a run whose process died as crashed, every 180 s by default; the person
    at the terminal sees that themselves. Scheduled runs (``zipcast serve``, deployments)
    keep them, and so does a run where ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` is configured
    (environment or Prefect profile).
    """
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    if "heartbeat_frequency" in get_current_settings().flows.model_fields_set:
        yield
        return
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def dask_address() -> str | None:
    """The scheduler address when the current flow run's tasks run on Dask, else None.

    A ``DaskTaskRunner`` exists only once prefect-dask is imported: without it this asks no
    further, rather than importing prefect-dask and Dask (0.3 s, just before the planner,
    in every run without Dask).
    """
    from prefect.context import FlowRunContext

    prefect_dask = sys.modules.get("prefect_dask")
    context = FlowRunContext.get()
    runner = getattr(context, "task_runner", None)
    if prefect_dask is None or not isinstance(runner, prefect_dask.DaskTaskRunner):
        return None
    return runner.client.scheduler.address  # the client starts on first use


@contextmanager
def dask_client(address: str | None) -> Iterator[Any]:
    """A client of the run's Dask cluster (None without one), closed afterwards."""
    if address is None:
        yield None
        return
    from distributed import Client

    client = Client(address, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
