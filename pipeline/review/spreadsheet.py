"""The review sheet as a spreadsheet: rows out (CSV, XLSX) and edited rows back in.

No web code here: the routes in :mod:`pipeline.review.routes.exchange` call these functions.

Cells are defused against formula injection the way OWASP's "CSV Injection" page advises:
text starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``,
so Excel, LibreOffice and Sheets show it as text instead of running it. Import strips that
quote again, so an exported sheet that nobody touched imports as "nothing changed".
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook, load_workbook

from pipeline.editorial.render import draft_problems

COLUMNS = ("id", "name", "facts", "zips", "message", "status", "version", "run")
REQUIRED = ("id", "message", "version")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")  # a tuple: "" must not match
QUOTE = "'"
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_ROWS = 10_000  # far above the slots of a run; a bigger sheet is not ours
MAX_XLSX_UNPACKED_BYTES = 64 * 1024 * 1024  # a zip bomb is refused before openpyxl opens it
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# XML turns a bare CR into LF and cannot hold most control characters, so XLSX text uses the
# OOXML escape _xHHHH_ (ECMA-376 ST_Xstring) for them, as Excel does; a literal "_xHHHH_"
# in a message is protected by escaping its underscore (_x005F_)
_OOXML_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
_OOXML_LITERAL = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


class SheetUnreadable(ValueError):
    """The upload is not a CSV or XLSX file this sheet can read; nothing was imported."""


@dataclass(frozen=True)
class ImportRow:
    """One well-formed spreadsheet row: what the editor wants stored for a slot."""

    row: int  # the row number the spreadsheet program shows (header = 1)
    slot_id: str
    message: str
    version: int
    approve: bool
    run: str | None = None  # the run the row was exported from (None: no run column)


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be imported, and why."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"Row {self.row}: {self.reason}"


def defuse(text: str) -> str:
    """``text`` made safe for a spreadsheet cell: a leading ``'`` before a formula trigger.

    Text that already starts with quotes before a trigger (``'=x``) gets one more, so that
    :func:`restore` is its exact inverse and a round trip is lossless.
    """
    return QUOTE + text if text.lstrip(QUOTE)[:1] in FORMULA_TRIGGERS else text


def restore(text: str) -> str:
    """Undo :func:`defuse`: drop one leading ``'`` when quotes are followed by a trigger."""
    if text.startswith(QUOTE) and text.lstrip(QUOTE)[:1] in FORMULA_TRIGGERS:
        return text[1:]
    return text


def sheet_rows(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """The export rows, in the order given (the sheet's order).

    Parameters
    ----------
    rows : :class:`pipeline.review.rows.SlotRow`-like objects (``slot``, ``text``,
        ``status``, ``version``)
    """
    return [{"run": row.slot.run_id, "id": row.slot.slot_id, "name": row.slot.name,
             "facts": row.slot.headline,
             "zips": row.slot.n_zips, "message": row.text, "status": row.status,
             "version": row.version} for row in rows]


def _cells(record: dict[str, Any]) -> list[Any]:
    return [defuse(value) if isinstance(value, str) else value
            for value in (record[name] for name in COLUMNS)]


def _ooxml_escape(text: str) -> str:
    text = _OOXML_LITERAL.sub("_x005F_", text)
    return _OOXML_CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def _ooxml_unescape(value: Any) -> Any:
    if not isinstance(value, str) or "_x" not in value:
        return value
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


def to_csv(records: Sequence[dict[str, Any]]) -> bytes:
    """CSV bytes, UTF-8 with a byte-order mark so Excel reads °, ’ and € correctly."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(_cells(record) for record in records)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(records: Sequence[dict[str, Any]], title: str = "messages") -> bytes:
    """XLSX bytes; every text cell is stored as a string (type ``s``), never a formula."""
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]  # Excel's limit on sheet names
    sheet.append(COLUMNS)
    for record in records:
        sheet.append([_ooxml_escape(v) if isinstance(v, str) else v for v in _cells(record)])
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # openpyxl would otherwise store "=…" as a formula
    for letter, width in zip("ABCDEFG", (8, 32, 32, 6, 60, 10, 8), strict=True):
        sheet.column_dimensions[letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def parse(content: bytes, filename: str = "") -> tuple[list[ImportRow], list[RowProblem]]:
    """The rows of an uploaded CSV or XLSX sheet, and the rows that cannot be used.

    XLSX is recognised by its ZIP signature (``PK``) or an ``.xlsx`` name; anything else is
    read as CSV. Row numbers are those a spreadsheet program shows (the header is row 1).

    Raises
    ------
    SheetUnreadable : too large, not CSV/XLSX at all, or required columns are missing
    """
    if len(content) > MAX_UPLOAD_BYTES:
        raise SheetUnreadable(f"the file is too large: at most "
                              f"{MAX_UPLOAD_BYTES // 2**20} MB can be imported")
    if not content.strip():
        raise SheetUnreadable("the file is empty")
    is_xlsx = content[:2] == b"PK" or filename.lower().endswith((".xlsx", ".xlsm"))
    table = _xlsx_table(content) if is_xlsx else _csv_table(content)
    return _import_rows(table)


def _csv_table(content: bytes) -> Iterator[tuple[int, list[Any]]]:
    if b"\x00" in content:
        raise SheetUnreadable("this is not a CSV file (it holds binary data); export the "
                              "sheet again, or save your spreadsheet as CSV or XLSX")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # Excel's plain "CSV (Comma delimited)" on Windows writes cp1252
            text = content.decode("cp1252")
        except UnicodeDecodeError:
            raise SheetUnreadable("the CSV file is neither UTF-8 nor Windows-1252 text; "
                                  "save it as 'CSV UTF-8'") from None
    header = text.splitlines()[0] if text else ""
    # some locales' Excel separate with ";": take whichever of , ; tab the header uses most
    delimiter = max(",;\t", key=header.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, record in enumerate(reader, start=1):
            yield number, list(record)
    except csv.Error as err:
        raise SheetUnreadable(f"the CSV file cannot be read near line {reader.line_num}: "
                              f"{err}") from None


def _xlsx_table(content: bytes) -> Iterator[tuple[int, list[Any]]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_XLSX_UNPACKED_BYTES:
            raise SheetUnreadable("the XLSX file unpacks to more than "
                                  f"{MAX_XLSX_UNPACKED_BYTES // 2**20} MB; it is not a sheet "
                                  "exported from here")
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except SheetUnreadable:
        raise
    except Exception as err:  # noqa: BLE001 -- zipfile and openpyxl raise many kinds
        raise _not_xlsx(err) from None
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_ooxml_unescape(value) for value in values]
    except Exception as err:  # noqa: BLE001 -- a broken sheet inside a valid ZIP
        raise _not_xlsx(err) from None
    finally:
        book.close()


def _not_xlsx(err: Exception) -> SheetUnreadable:
    return SheetUnreadable(f"this is not a readable XLSX file ({type(err).__name__}); "
                           "export the sheet again, or save it as CSV or XLSX")


def _import_rows(table: Iterator[tuple[int, list[Any]]]
                 ) -> tuple[list[ImportRow], list[RowProblem]]:
    try:
        _, header = next(table)
    except StopIteration:
        raise SheetUnreadable("the file has no rows") from None
    names = [_text(value).strip().lower() for value in header]
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise SheetUnreadable(f"row 1 must name the columns; missing: {', '.join(missing)} "
                              f"(expected {', '.join(COLUMNS)})")
    where = {name: names.index(name) for name in COLUMNS if name in names}
    rows: list[ImportRow] = []
    problems: list[RowProblem] = []
    first_row_of: dict[str, int] = {}
    for number, values in table:
        if number > MAX_ROWS + 1:
            raise SheetUnreadable(f"the sheet has more than {MAX_ROWS} rows")
        cell = {name: values[i] if i < len(values) else None for name, i in where.items()}
        if all(_text(value).strip() == "" for value in values):
            continue  # blank lines at the end of a sheet
        parsed = _import_row(number, cell)
        if isinstance(parsed, RowProblem):
            problems.append(parsed)
        elif parsed.slot_id in first_row_of:
            problems.append(RowProblem(number, f"slot {parsed.slot_id} already appears on row "
                                               f"{first_row_of[parsed.slot_id]}; ignored"))
        else:
            first_row_of[parsed.slot_id] = number
            rows.append(parsed)
    return rows, problems


def _import_row(number: int, cell: dict[str, Any]) -> ImportRow | RowProblem:
    slot_id = restore(_text(cell["id"]).strip())
    if not slot_id:
        return RowProblem(number, "no slot id in the id column")
    message = restore(_text(cell["message"])).replace("\r\n", "\n")
    if not message.strip():
        return RowProblem(number, f"{slot_id}: the message is empty")
    if refused := draft_problems(message):  # too long, or not plain text and placeholders
        return RowProblem(number, f"{slot_id}: {'; '.join(refused)}")
    version = _version(cell["version"])
    if version is None:
        return RowProblem(number, f"{slot_id}: version {_text(cell['version'])!r} is not a "
                                  "whole number; keep the version from the export")
    approve = restore(_text(cell.get("status")).strip()).lower() == "approved"
    run = restore(_text(cell.get("run")).strip()) or None
    return ImportRow(number, slot_id, message, version, approve, run)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _version(value: Any) -> int | None:
    """A whole, non-negative version from a cell: 3, "3", or Excel's 3.0."""
    if isinstance(value, bool):
        return None
    try:
        number = float(restore(_text(value).strip()))
    except ValueError:
        return None
    return int(number) if number.is_integer() and number >= 0 else None
