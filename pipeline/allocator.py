"""Keep freed memory in the process for the length of a run (glibc's malloc).

A national run allocates and frees the same 5–30 MB temporaries thousands of times (the
synthetic source's fields, the planner's matrices, pandas' columns). By default glibc gives
memory back to the system as soon as the top of its heap is free, and serves blocks from
128 KB upwards by fresh ``mmap`` until its threshold has adapted: every reuse then costs
page faults, which on a virtual machine are slow. Measured on a 2-core VM, alternating cold
processes: the national synthetic fetch took 2.11 s instead of 2.46 s (medians of six), and
a whole ``bench/bench_run.py`` run 27.0 s instead of 28.0 s (medians of three; this machine's
noise is about as large), for 30–60 MiB more peak memory.

:func:`keep_freed_memory` raises the two thresholds for the run; :func:`give_back` returns
what the run freed once it is over, so a long-lived process (``zipcast serve``) does not keep
it. Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Any

M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1 << 30  # free memory kept at the top of a heap before it is given back


@lru_cache(maxsize=1)
def _libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc has it; musl and macOS do not
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Blocks under 32 MB from the heap, and freed heap memory kept for reuse; True when set.

    Fixing the thresholds also stops glibc from adapting them; the peak stays what the run
    holds at once (freed memory is reused before the heap grows).
    """
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def give_back() -> None:
    """Return the freed memory of every heap to the system (``malloc_trim(0)``)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
