"""The run's allocator settings (pipeline.allocator): set on glibc, harmless elsewhere."""

from __future__ import annotations

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
