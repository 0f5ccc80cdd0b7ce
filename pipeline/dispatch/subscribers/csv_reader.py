"""Reading a subscriber CSV as text, record by record, whatever is in it.

Bytes that are not UTF-8 and cells longer than any limit cost only their record (reported
with its line and column); the csv module never sees a field past its own limit, and a
broken quote cannot swallow the rest of the file unnoticed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from pipeline.dispatch.subscribers.common import (
    FIELD_CAP,
    FIELD_LIMITS,
    SubscriberFileError,
)


def _open_text(source: str | Path | IO[str] | IO[bytes]) -> tuple[IO[str], bool]:
    """A text stream for ``source`` and whether we opened it (and must close it).

    Bytes that are not UTF-8 become lone surrogates (U+DC80–U+DCFF, ``surrogateescape``)
    instead of failing the whole file, so :class:`_Lines` can report them by line. A text
    stream passed in keeps its own error handling.
    """
    if isinstance(source, str | Path):
        try:
            return open(source, encoding="utf-8-sig", errors="surrogateescape",
                        newline=""), True
        except OSError as err:
            raise SubscriberFileError(f"cannot read {source}: {err.strerror or err}") from None
    if isinstance(source, io.TextIOBase):
        return source, False
    return io.TextIOWrapper(cast(Any, source), encoding="utf-8-sig", errors="surrogateescape",
                            newline=""), False


_UNDECODABLE = re.compile("[\udc80-\udcff]")  # surrogateescape's stand-ins for bad bytes
# A run of ordinary characters (no delimiter, quote or line break) longer than FIELD_CAP is
# replaced by a marker holding its length. Such a run is one field's text, and the csv state
# machine treats any run of ordinary characters alike, so records and fields come out the same
# while no field nears csv.field_size_limit() (131,072 by default, process-wide, and an
# over-long field otherwise stops the reader). U+FDD0/U+FDD1 are Unicode noncharacters, meant
# for internal markers. The lookbehind makes the regex start only at the start of a run, so
# it stays linear on long lines.
_LONG_RUN = re.compile(rf'(?<![^,"\r\n])[^,"\r\n]{{{FIELD_CAP + 1},}}')
_MARKER = re.compile("\ufdd0([0-9]+)\ufdd1")


def _field_length(text: str) -> int:
    """Characters ``text`` had in the file, counting the runs :class:`_Lines` shortened."""
    if "\ufdd0" not in text:
        return len(text)
    return len(text) + sum(int(m[1]) - len(m[0]) for m in _MARKER.finditer(text))


_QUOTED_REST = re.compile('(?:[^"]|"")*(")?')  # a quoted field's text, then its closing quote
_UNQUOTED = re.compile("[^,\r\n]*")


def _ends_in_quotes(text: str, in_quotes: bool) -> bool:
    """Whether csv.reader (excel dialect) is inside a quoted field at the end of ``text``.

    ``text`` starts at the start of a record (``in_quotes`` False) or inside a quoted field.
    Only for recovering from a record csv.reader gave up on, so speed does not matter.
    """
    pos = 0
    while True:
        if not in_quotes and text.startswith('"', pos):
            in_quotes, pos = True, pos + 1
        if in_quotes:
            quoted = _QUOTED_REST.match(text, pos)
            assert quoted is not None  # both patterns match the empty string
            if quoted[1] is None:
                return True
            pos = quoted.end()  # after the closing quote csv takes all up to a comma as text
        unquoted = _UNQUOTED.match(text, pos)
        assert unquoted is not None
        pos = unquoted.end()
        if not text.startswith(",", pos):
            return False
        in_quotes, pos = False, pos + 1


class _Lines:
    """The file's physical lines for csv.reader: long runs shortened, bad bytes noted.

    ``bad_byte`` is ``(line, column, byte)`` of the first undecodable byte, and
    ``record`` the lines given out, since the caller last called :meth:`next_record`
    (csv.reader reads no further than the record it returns).
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.line = 0
        self.bad_byte: tuple[int, int, int] | None = None
        self.record: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        text = self.stream.readline()
        if not text:
            raise StopIteration
        self.line += 1
        if self.bad_byte is None and (bad := _UNDECODABLE.search(text)):
            self.bad_byte = (self.line, bad.start() + 1, ord(bad[0]) - 0xDC00)
        if len(text) > FIELD_CAP:
            text = _LONG_RUN.sub(lambda run: f"\ufdd0{len(run[0])}\ufdd1", text)
        self.record.append(text)
        return text

    def next_record(self) -> None:
        """Forget the record just read: the next line starts a new one."""
        self.bad_byte, self.record = None, []

    def skip_broken_record(self) -> None:
        """Skip the rest of a record csv.reader gave up on (it drops the rest of the line
        and would read the lines of a quoted field that goes on as records of their own)."""
        in_quotes = _ends_in_quotes("".join(self.record), in_quotes=False)
        while in_quotes and (text := self.stream.readline()):
            self.line += 1
            in_quotes = _ends_in_quotes(text, in_quotes=True)


@dataclass
class _Record:
    """One CSV record: the line it starts on, its cells, and why it cannot be read (if so)."""

    line: int
    cells: list[str]
    problem: str | None = None

    @property
    def blank(self) -> bool:
        return self.problem is None and not any(cell.strip() for cell in self.cells)


def _records(stream: IO[str]) -> Iterator[_Record]:
    """CSV records with the line each starts on (a quoted field may span lines)."""
    lines = _Lines(stream)
    reader = csv.reader(lines)
    start = 1
    while True:
        try:
            record = _Record(start, next(reader))
        except StopIteration:
            return
        except csv.Error as err:
            # only a field grown past csv's limit through quotes or line breaks gets here
            # (long runs are shortened)
            record = _Record(start, [], f"cannot read this record ({err}); a field may be at "
                                        f"most {FIELD_CAP:,} characters")
            lines.skip_broken_record()
        if lines.bad_byte is not None:
            line, column, byte = lines.bad_byte
            where = f"column {column}" if line == start else f"line {line}, column {column}"
            record.problem = (f"not UTF-8 text (byte 0x{byte:02x} at {where}); save the file "
                              "as 'CSV UTF-8'")
        lines.next_record()
        yield record
        start = lines.line + 1


def _too_long(names: list[str], cells: list[str]) -> list[str]:
    """What is wrong with cells longer than their column allows (FIELD_CAP if unknown)."""
    problems = []
    for index, (name, cell) in enumerate(zip(names, cells, strict=True)):
        limit = FIELD_LIMITS.get(name, FIELD_CAP)
        if (length := _field_length(cell)) > limit:
            problems.append(f"{name or f'column {index + 1}'} is {length:,} characters; at "
                            f"most {limit:,}")
    return problems
