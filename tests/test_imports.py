"""What importing the CLI, and each command's modules, pulls in (issue 17: imports ≤ 2 s).

Heavy optional dependencies are imported where they are used, so ``zipcast --help`` and a
command that does not need them never pay for them. Each check runs in a fresh interpreter
and looks at ``sys.modules``; nothing here is timed (timings on a shared machine are noise).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: optional dependencies of one feature each: the SMS channel, Dask scale-out, GRIB/NetCDF
#: sources, the review sheet (and its spreadsheet exchange)
OPTIONAL = ["twilio", "dask", "distributed", "prefect_dask", "cfgrib", "eccodes", "xarray",
            "fastapi", "starlette", "uvicorn", "openpyxl"]
#: the orchestrator and the planning stack: needed by `zipcast run`, not by the rest
RUN_ONLY = ["prefect", "numba", "llvmlite", "sklearn", "tslearn", "highspy"]


def imported(*modules: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after importing ``modules`` in a fresh process."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    return set(printed(code))


def printed(code: str) -> Any:
    """The JSON that ``code``, run in a fresh interpreter from the repository, prints last."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_cli_module_imports_no_heavy_dependency() -> None:
    heavy = {*OPTIONAL, *RUN_ONLY, "pandas", "geopandas", "shapely", "pyproj", "scipy",
             "sqlalchemy", "alembic", "pandera"}
    assert imported("flows.cli") & heavy == set()


@pytest.mark.parametrize(
    ("command", "modules", "absent"),
    [
        # what each command imports before it does its work (see flows/cli.py)
        ("run", ["flows.runners", "flows.twice_daily", "pipeline.quality", "pipeline.sources",
                 "pipeline.snapshots", "pipeline.store"],
         # Prefect's client imports starlette; the planning stack comes in a thread once
         # the run starts (flows.twice_daily.import_later_steps)
         [*(m for m in OPTIONAL if m != "starlette"), "sklearn", "tslearn", "highspy"]),
        ("runs", ["flows.progress", "pipeline.dispatch.job", "pipeline.editorial.gate",
                  "pipeline.store"], [*OPTIONAL, *RUN_ONLY, "scipy"]),
        ("dispatch", ["pipeline.dispatch.job", "pipeline.dispatch.locks", "pipeline.store",
                      "pipeline.times"], [*OPTIONAL, *RUN_ONLY, "scipy", "geopandas"]),
        ("review", ["pipeline.review.cli"], [*RUN_ONLY, "twilio", "dask", "distributed",
                                             "cfgrib", "xarray", "openpyxl", "geopandas"]),
        ("subscribers", ["flows.subscribers_cli", "pipeline.dispatch.subscribers"],
         [*OPTIONAL, *RUN_ONLY, "scipy", "geopandas"]),
    ],
)
def test_command_imports_only_what_it_needs(command: str, modules: list[str],
                                            absent: list[str]) -> None:
    assert imported(*modules) & set(absent) == set(), command


def test_a_run_imports_its_later_steps_in_a_thread() -> None:
    """What ``zipcast run`` leaves out of its imports, the run loads beside its start."""
    code = (
        "import json, sys\n"
        "from flows.twice_daily import LATER_STEPS, import_later_steps\n"
        "before = 'sklearn' in sys.modules\n"
        "thread = import_later_steps()\n"
        "assert import_later_steps() is thread\n"
        "thread.join(120)\n"
        "print(json.dumps([before, all(m in sys.modules for m in LATER_STEPS),"
        " 'sklearn' in sys.modules]))\n"
    )
    assert printed(code) == [False, True, True]


def test_a_run_without_dask_does_not_import_it_to_ask() -> None:
    """The planner asks whether the run's tasks run on Dask; without prefect-dask loaded the
    answer is no, without importing it (0.3 s before the planner of every run)."""
    code = (
        "import json, sys\n"
        "from flows.runners import dask_address\n"
        "print(json.dumps([dask_address(), 'prefect_dask' in sys.modules,"
        " 'distributed' in sys.modules]))\n"
    )
    assert printed(code) == [None, False, False]
