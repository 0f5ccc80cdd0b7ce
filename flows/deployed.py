"""Entry points of the work-pool deployments (``prefect.yaml``): the flows with the task
runner the worker's ``ZIPCAST_FLOWS__*`` settings ask for — a ``DaskTaskRunner`` when
``DASK_ADDRESS`` or ``DASK_WORKERS`` is set, Prefect's default otherwise."""

from __future__ import annotations

from flows.dispatch import dispatch_flow as _dispatch_flow
from flows.runners import with_runner
from flows.twice_daily import twice_daily as _twice_daily
from flows.verify import verify_due_flow as _verify_due_flow
from pipeline.settings import get_settings

twice_daily = with_runner(_twice_daily, get_settings().flows)
dispatch_flow = with_runner(_dispatch_flow, get_settings().flows)
verify_due_flow = with_runner(_verify_due_flow, get_settings().flows)
