"""The dry-run outbox: every message appended as one JSON line to a file.

Each line is written with a single ``os.write`` on an ``O_APPEND`` descriptor, so lines from
several channels sharing the file never interleave and a crash leaves at worst a last line
without its newline. Readers ignore such a line (and any other that does not parse); a channel
that reopens the file first ends a dangling line with a marker that keeps it unparseable (a
complete line always ends in ``}``), so the cut-short message is never counted as written.

A run dispatched in partitions (:mod:`pipeline.dispatch.partitions`) writes one file per
partition next to the run's file: ``<run>.jsonl`` is the single-call (and one-partition)
file, ``<run>.part-<p>-of-<n>.jsonl`` partition ``p`` of ``n``. Each file has one writer at a
time (the partition's lock), which holds on any file system, also one where ``O_APPEND`` is
not atomic (NFS). :func:`read_outbox` and :meth:`FileChannel.already_sent` on the run's file
read all of them: :func:`outbox_files`.

Line format (ASCII; ``key`` first, which lets :meth:`FileChannel.already_sent` read a million
lines without parsing each one in full)::

    {"key":"run/morning/42/sms","channel":"sms","address":"+15555550100","body":"...",
     "run_id":"run","window":"morning","slot_id":"S03","zip":"10001"}
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from json.decoder import scanstring  # type: ignore[attr-defined]  # C-accelerated, untyped
from pathlib import Path

from pipeline.channels.base import Outgoing, Sent, TransientError

_KEY_PREFIX = '{"key":"'
# ends a dangling line: JSON never ends so, so the line stays unreadable (and its key unseen)
_CUT = b"\t#cut\n"
_READ_BLOCK = 8 << 20  # bytes read at a time when collecting keys


def part_path(path: str | os.PathLike[str], part: int, n_parts: int) -> Path:
    """The outbox file of partition ``part`` of ``n_parts`` of the run whose (single-call)
    outbox file is ``path``: ``<run>.part-<p>-of-<n>.jsonl``; ``path`` itself for one part."""
    path = Path(path)
    if n_parts == 1:
        return path
    return path.with_name(f"{path.stem}.part-{part}-of-{n_parts}{path.suffix}")


def outbox_files(path: str | os.PathLike[str]) -> list[Path]:
    """The run's existing outbox files: ``path`` (if it exists), then its partition files
    (see :func:`part_path`) by number of partitions, then partition."""
    path = Path(path)
    pattern = re.compile(re.escape(path.stem) + r"\.part-(\d+)-of-(\d+)"
                         + re.escape(path.suffix))
    parts = []
    try:
        with os.scandir(path.parent) as entries:
            for entry in entries:
                if (match := pattern.fullmatch(entry.name)) and entry.is_file():
                    parts.append(((int(match[2]), int(match[1])), Path(entry.path)))
    except FileNotFoundError:
        return []
    return ([path] if path.is_file() else []) + [p for _, p in sorted(parts)]


def outbox_line(message: Outgoing) -> bytes:
    """One message as its outbox line, newline included."""
    record: dict[str, object] = {"key": message.key, "channel": message.channel,
                                 "address": message.address, "body": message.body}
    if message.channel == "email":
        record["subject"] = message.subject
    if message.unsubscribe_url:
        record["unsubscribe_url"] = message.unsubscribe_url
    for name, value in message.meta.items():
        record.setdefault(name, value)
    # ensure_ascii: lines are pure ASCII, so no byte of a line is ever a newline but the last
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=True) + "\n").encode("ascii")


def _complete_lines(data: bytes) -> Iterator[str]:
    """The newline-terminated lines of ``data``; a trailing partial line is left out."""
    end = data.rfind(b"\n")
    if end < 0:
        return
    yield from data[:end].decode("ascii", "replace").split("\n")


def read_outbox(path: str | os.PathLike[str]) -> list[dict]:
    """Every complete, readable line of a run's outbox, in order.

    Parameters
    ----------
    path : path-like
        The run's outbox file ``<run>.jsonl``; the run's partition files
        ``<run>.part-<p>-of-<n>.jsonl`` beside it are read too, after it (see
        :func:`outbox_files`). No file reads as empty.

    Returns
    -------
    list of dict
        One dict per message, file by file in the order of :func:`outbox_files`; a trailing
        partial line (a write cut short) and unreadable lines are skipped.
    """
    records = []
    for file in outbox_files(path):
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            continue
        for line in _complete_lines(data):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def _line_key(line: str) -> str | None:
    """The ``key`` of an outbox line, or None for a line that is not a whole record.

    A line this module wrote starts with the key and ends in ``}``, so only the key is
    decoded; anything else is parsed in full.
    """
    if line.startswith(_KEY_PREFIX) and line.endswith("}"):
        try:
            return scanstring(line, len(_KEY_PREFIX))[0]
        except ValueError:
            return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    key = record.get("key") if isinstance(record, dict) else None
    return key if isinstance(key, str) else None


class FileChannel:
    """Append messages to a JSON-lines outbox instead of sending them.

    Parameters
    ----------
    path : path-like
        The outbox file, e.g. ``<outbox_dir>/<run_id>.jsonl``; parent folders are created on
        the first write. A partition writes to its own file (:func:`part_path`).

    Notes
    -----
    ``send`` and ``send_many`` never raise PermanentError; a failed write (disk full) is a
    TransientError. :meth:`already_sent` looks in every file of :func:`outbox_files`
    ``(path)``, so on the run's file it also sees what partitions wrote.
    """

    name = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._keys: set[str] = set()  # keys seen in the files up to their _offsets
        self._offsets: dict[Path, int] = {}

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and _last_byte(self.path, size) != b"\n":
                    os.write(fd, _CUT)  # end the line a killed writer left dangling
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
        return self._fd

    def _append(self, chunk: bytes) -> None:
        try:
            fd = self._open()
            written = os.write(fd, chunk)
            while written < len(chunk):  # only on a full disk or a signal; finish the line
                written += os.write(fd, chunk[written:])
        except OSError as err:
            raise TransientError(f"cannot append to outbox {self.path}: {err}") from err

    def send(self, message: Outgoing) -> Sent:
        """Append one message as one line."""
        self._append(outbox_line(message))
        return Sent()

    def send_many(self, messages: Sequence[Outgoing]) -> list[Sent]:
        """Append a batch in one write; one :class:`Sent` per message, in order."""
        if messages:
            self._append(b"".join(outbox_line(m) for m in messages))
        return [Sent() for _ in messages]

    def sent_keys(self) -> set[str]:
        """Every key in the run's outbox files so far (:func:`outbox_files`).

        Read incrementally (only lines added since the last call are parsed) and in blocks,
        so a million-line outbox costs a few seconds once and little memory beyond the keys.
        A file that shrank or went away makes it start over.
        """
        files = outbox_files(self.path)
        if not set(self._offsets) <= set(files) or not all(self._scan(f) for f in files):
            self._keys.clear()
            self._offsets.clear()
            for file in files:
                self._scan(file)
        return self._keys

    def _scan(self, path: Path) -> bool:
        """Add the keys of lines of ``path`` past its offset; False if it shrank or vanished."""
        offset = self._offsets.get(path, 0)
        try:
            with open(path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size < offset:  # truncated or replaced
                    return False
                handle.seek(offset)
                carry = b""
                while block := handle.read(_READ_BLOCK):
                    block = carry + block
                    complete = block.rfind(b"\n") + 1
                    for line in _complete_lines(block[:complete]):
                        key = _line_key(line)
                        if key is not None:
                            self._keys.add(key)
                    offset += complete
                    carry = block[complete:]
        except FileNotFoundError:
            self._offsets.pop(path, None)
            return False
        self._offsets[path] = offset
        return True

    def already_sent(self, messages: Sequence[Outgoing]) -> dict[str, str | None]:
        """Of ``messages``, those whose key is already in the file (key -> None)."""
        keys = self.sent_keys()
        return {m.key: None for m in messages if m.key in keys}

    def close(self) -> None:
        """Close the file descriptor."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        return handle.read(1)
