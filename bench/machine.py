"""What every benchmark records about the machine it ran on (``"machine"`` in its JSON)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from types import ModuleType
from typing import Any

import numba
import numpy as np
import psutil


def machine_info(**modules: ModuleType) -> dict[str, Any]:
    """CPU, memory, load, Python, numpy and numba, plus ``name=module`` versions given."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "logical_cores": psutil.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 2),
        "load_avg_at_start": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        **{name: module.__version__ for name, module in modules.items()},
    }
