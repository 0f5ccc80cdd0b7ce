"""Writing a file whole or not at all: a temporary file beside it, then a rename.

Readers (another run, the sheet's server) see the old file or the new one, never half of
either; used for snapshots and the caches under the data folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def temp_beside(final_folder: Path, prefix: str) -> Path:
    """An empty temporary file in ``final_folder`` (same file system: the rename is atomic)."""
    handle, name = tempfile.mkstemp(dir=final_folder, prefix=prefix, suffix=".tmp")
    os.close(handle)
    return Path(name)


def fsync(path: Path) -> None:
    with path.open("rb") as written:
        os.fsync(written.fileno())


def write_atomically(final: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temp)`` on a temporary file beside ``final``, then rename it into place."""
    temp = temp_beside(final.parent, f".{final.name}.")
    try:
        write(temp)
        fsync(temp)
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
