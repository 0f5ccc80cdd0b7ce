"""The run's allocator settings (pipeline.allocator): set on glibc, harmless elsewhere."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from pipeline import allocator


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc's malloc only")
def test_glibc_keeps_freed_memory_for_the_run_and_gives_it_back_after():
    code = ("from pipeline import allocator\n"
            "print(allocator.keep_freed_memory())\n"
            "allocator.give_back()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.split() == ["True"]


def test_without_glibc_nothing_is_set(monkeypatch):
    monkeypatch.setattr(allocator, "_libc", lambda: None)
    assert allocator.keep_freed_memory() is False
    allocator.give_back()  # does nothing, raises nothing


def _printed(code: str, **env: str) -> list[str]:
    """What ``code`` prints in a fresh interpreter, numpy's own switch unset unless given."""
    base = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True, env={**base, **env})
    return done.stdout.split()


def test_numpy_stops_advising_huge_pages_unless_told():
    code = ("import numpy as np\n"
            "from pipeline import allocator\n"
            "was = allocator.small_pages_for_numpy()\n"
            "print(was, np._core.multiarray._set_madvise_hugepage(False))\n")
    assert _printed(code)[1] == "False"  # off after the call, whatever it was before
    assert _printed(code, NUMPY_MADVISE_HUGEPAGE="1") == ["False", "True"]  # kept as told


def test_the_run_gives_its_settings_back():
    """After give_back numpy advises huge pages again as before the run (glibc's thresholds
    are back at its initial values: not observable from Python, mallopt only sets)."""
    code = ("import numpy as np\n"
            "from pipeline import allocator\n"
            "switch = np._core.multiarray._set_madvise_hugepage\n"
            "switch(True)\n"
            "allocator.set_for_run()\n"
            "during = switch(False)\n"
            "switch(False)\n"
            "allocator.give_back()\n"
            "print(during, switch(True))\n")
    assert _printed(code) == ["False", "True"]


def test_the_flow_gives_the_settings_back_however_it_ends():
    from flows.twice_daily import _run_over, twice_daily

    for hooks in (twice_daily.on_completion_hooks, twice_daily.on_failure_hooks,
                  twice_daily.on_crashed_hooks):
        assert _run_over in hooks
