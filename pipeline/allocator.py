"""Memory settings for the length of a run: glibc's malloc keeps freed memory, and numpy
does not ask for transparent huge pages.

A national run allocates and frees the same 5–30 MB temporaries thousands of times (the
synthetic source's fields, the planner's matrices, pandas' columns). By default glibc gives
memory back to the system as soon as the top of its heap is free, and serves blocks from
128 KB upwards by fresh ``mmap`` until its threshold has adapted: every reuse then costs
page faults, which on a virtual machine are slow. Measured on a 2-core VM, alternating cold
processes: the national synthetic fetch took 2.11 s instead of 2.46 s (medians of six), and
a whole ``bench/bench_run.py`` run 27.0 s instead of 28.0 s (medians of three; this machine's
noise is about as large), for 30–60 MiB more peak memory.

:func:`keep_freed_memory` raises the two thresholds for the run; :func:`give_back`, when
the run is over, returns what it freed and sets glibc's initial thresholds again (fixed ones:
glibc cannot be told to adapt them again), so a long-lived process (``zipcast serve``) does
not keep a run's memory. Elsewhere than glibc both do nothing.

NumPy advises ``MADV_HUGEPAGE`` for every array of 4 MB or more. Where the kernel's
transparent huge pages are in ``madvise`` mode with ``defrag`` on ``madvise`` (Debian's and
Ubuntu's defaults), each first touch of such an array may then wait for the kernel to
compact memory into a 2 MB page: measured here, the synthetic source's fields took 1.9–2.9 s
with the advice and 0.64 s without it (0.4–0.6 s either way once the memory was touched).
:func:`small_pages_for_numpy` turns the advice off, unless ``NUMPY_MADVISE_HUGEPAGE`` (numpy's
own switch, read when numpy is imported) says what to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import lru_cache
from typing import Any

M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1 << 30  # free memory kept at the top of a heap before it is given back
GLIBC_DEFAULT = 128 << 10  # glibc's initial mmap and trim thresholds

_numpy_advised: list[bool] = []  # numpy's advice before a run turned it off


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


def trim() -> None:
    """Hand every heap's freed memory back to the system now (``malloc_trim(0)``; what
    Dask's ``trim_memory`` does)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def give_back() -> None:
    """The run is over: freed memory back to the system (:func:`trim`), glibc's initial
    thresholds and numpy's huge page advice as they were."""
    trim()
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_TRIM_THRESHOLD, GLIBC_DEFAULT)
        libc.mallopt(M_MMAP_THRESHOLD, GLIBC_DEFAULT)
    if _numpy_advised:
        setter = _numpy_switch()
        if setter is not None:
            setter(_numpy_advised.pop())


def small_pages_for_numpy() -> bool:
    """Stop numpy advising huge pages for its large arrays; True when it did advise them.

    Left alone when ``NUMPY_MADVISE_HUGEPAGE`` is set (the operator chose) or when this
    numpy has no switch (then it does what it always did).
    """
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False
    setter = _numpy_switch()
    if setter is None:
        return False
    was = bool(setter(False))
    if not _numpy_advised:
        _numpy_advised.append(was)
    return was


def _numpy_switch() -> Any:
    """numpy's ``_set_madvise_hugepage`` (``np._core`` in numpy 2, ``np.core`` before)."""
    import numpy as np

    for package in ("_core", "core"):
        setter = getattr(getattr(getattr(np, package, None), "multiarray", None),
                         "_set_madvise_hugepage", None)
        if setter is not None:
            return setter
    return None


def set_for_run() -> None:
    """Both settings of this module, as a run starts (:func:`give_back` when it ends)."""
    keep_freed_memory()
    small_pages_for_numpy()
