"""Spreadsheet export and import of the review sheet: formula-safe cells, lossless round trips,
and the import route's saves, conflicts and reports."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from pipeline.editorial.models import AuditEntry, Message
from pipeline.editorial.render import MAX_TEXT_CHARS
from pipeline.review.spreadsheet import (
    COLUMNS,
    MAX_UPLOAD_BYTES,
    SheetUnreadable,
    defuse,
    parse,
    restore,
    to_csv,
    to_xlsx,
)
from pipeline.store.db import session_scope

from .conftest import RUN_ID, csrf_of

SHEET = f"/runs/{RUN_ID}"
TRICKY = ["=1+1", "+cmd|' /C calc'!A0", "-2", "@SUM(A1:A9)", "\tindented", "\rreturn",
          "'=already quoted", "''+twice", "'plain quote", "It’s 40°F, “mild”, €2",
          "line one\nline two, with \"quotes\"", "Rain from {{ rain_start }}.", "'",
          "literal _x000D_ and _x005F_", "bell\x07 and \x0b", "x\r\ny"]


def _zip_of_notes() -> bytes:
    """A valid ZIP archive that is not a workbook."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "not a sheet")
    return out.getvalue()


def _records(messages):
    return [{"run": "r1", "id": f"s{i:03d}", "name": f"Slot {i}", "facts": "=HYPERLINK(\"x\")",
             "zips": 10 - i, "message": text, "status": "approved" if i % 2 else "draft",
             "version": i} for i, text in enumerate(messages, start=1)]


def _csv(rows, header=COLUMNS) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _messages(review_settings):
    with session_scope(review_settings.db_url) as db:
        return {m.slot_id.split("/")[1]: (m.text, m.status, m.version)
                for m in db.scalars(select(Message))}


def _audit(review_settings):
    with session_scope(review_settings.db_url) as db:
        return [(a.slot_id.split("/")[1], a.action, a.new_text)
                for a in db.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def _export(client, kind="csv"):
    response = client.get(f"{SHEET}/export.{kind}")
    assert response.status_code == 200
    return response


def _exported_rows(client):
    text = _export(client).content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _import(client, content: bytes, filename="sheet.csv", **kwargs):
    token = csrf_of(client.get(SHEET).text)
    return client.post(f"{SHEET}/import", data={"csrf_token": token},
                       files={"file": (filename, content, "application/octet-stream")},
                       **kwargs)


def _save(client, text, version, slot="s001", action="save"):
    token = csrf_of(client.get(SHEET).text)
    return client.post(f"{SHEET}/slots/{slot}/message", data={
        "text": text, "version": version, "action": action, "csrf_token": token})


def _edited(rows, **changes) -> bytes:
    """The exported rows as CSV with ``slot_id=(message, status)`` changes applied."""
    for row in rows:
        if row["id"] in changes:
            row["message"], row["status"] = changes[row["id"]]
    return _csv([[row[c] for c in COLUMNS] for row in rows])


# --- formula injection -----------------------------------------------------------------

@pytest.mark.parametrize("text", ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_triggers_get_a_leading_quote(text):
    """Text starting with = + - @ tab or CR is prefixed with ' (OWASP CSV injection)."""
    assert defuse(text) == "'" + text
    assert restore(defuse(text)) == text


@pytest.mark.parametrize("text", ["plain", "", "'quoted", "a=1", " =1", "'", "''"])
def test_harmless_text_is_left_alone(text):
    """Text that no spreadsheet would evaluate keeps its exact form both ways."""
    assert defuse(text) == text and restore(text) == text


def test_quotes_before_a_trigger_round_trip():
    """A message that itself starts with '= gets one more quote, so import is exact."""
    assert defuse("'=x") == "''=x" and restore("''=x") == "'=x"
    assert restore("'=x") == "=x"


def test_csv_cells_are_defused_as_a_csv_reader_sees_them():
    """Read back with the csv module, formula cells start with ' and numbers stay numbers."""
    content = to_csv(_records(["=1+1", "-2"]))
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(COLUMNS)
    assert rows[1] == ["s001", "Slot 1", "'=HYPERLINK(\"x\")", "9", "'=1+1", "approved", "1",
                       "r1"]
    assert rows[2][4] == "'-2"


def test_xlsx_cells_are_strings_never_formulas():
    """In the XLSX every text cell has type 's' and no cell is a formula."""
    book = load_workbook(io.BytesIO(to_xlsx(_records(TRICKY))))
    cells = [cell for row in book.active.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert all(c.data_type == "s" for c in cells if isinstance(c.value, str))
    assert book.active["E2"].value == "'=1+1" and book.active["C2"].value.startswith("'=")
    assert book.active["D2"].value == 9 and book.active["G2"].value == 1


@pytest.mark.parametrize("write", [to_csv, to_xlsx], ids=["csv", "xlsx"])
def test_round_trip_is_lossless(write):
    """Every message, version and status comes back exactly as exported."""
    records = _records(TRICKY)
    rows, problems = parse(write(records), "sheet")
    assert problems == []
    assert [(r.slot_id, r.message, r.version, r.approve) for r in rows] == [
        (rec["id"], rec["message"].replace("\r\n", "\n"), rec["version"],
         rec["status"] == "approved") for rec in records]


# --- parsing problems ----------------------------------------------------------------

def test_bad_rows_are_reported_with_row_numbers():
    """Each bad row names its spreadsheet row and reason; good rows still parse."""
    content = _csv([["s001", "", "", "", "fine", "draft", "0"],
                    ["", "", "", "", "no id", "draft", "0"],
                    ["s002", "", "", "", "   ", "draft", "0"],
                    ["s003", "", "", "", "x", "draft", "two"],
                    ["s004", "", "", "", "x" * (MAX_TEXT_CHARS + 1), "draft", "0"],
                    ["s001", "", "", "", "again", "draft", "0"],
                    ["", "", "", "", "", "", ""],
                    ["s005", "", "", "", "excel float", "approved", "3.0"]])
    rows, problems = parse(content)
    assert [(r.row, r.slot_id, r.version, r.approve) for r in rows] == [
        (2, "s001", 0, False), (9, "s005", 3, True)]
    assert [(p.row, p.reason.split(":")[0]) for p in problems] == [
        (3, "no slot id in the id column"), (4, "s002"), (5, "s003"), (6, "s004"),
        (7, "slot s001 already appears on row 2; ignored")]
    assert "empty" in problems[1].reason and "whole number" in problems[2].reason
    assert f"at most {MAX_TEXT_CHARS}" in problems[3].reason


@pytest.mark.parametrize("content, name, says", [
    (bytes(range(256)) * 4, "sheet.csv", "binary"),
    (b"PK\x03\x04 not really a zip", "sheet.xlsx", "not a readable XLSX"),
    (_zip_of_notes(), "sheet.xlsx", "not a readable XLSX"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "photo.png", "binary"),
    (b"", "empty.csv", "empty"),
    (b"id,name,message\ns001,x,hello\n", "sheet.csv", "missing: version"),
    (b"a" * (MAX_UPLOAD_BYTES + 1), "big.csv", "at most 2 MB"),
])
def test_unreadable_files_are_refused_whole(content, name, says):
    """A file that is not a usable sheet raises SheetUnreadable saying why."""
    with pytest.raises(SheetUnreadable, match=says):
        parse(content, name)


def test_semicolon_csv_and_windows_1252_are_read():
    """Excel's ';' separator (some locales) and cp1252 encoding are understood."""
    content = "id;message;version\r\ns001;Highs near 40°F – mild;2\r\n".encode("cp1252")
    rows, problems = parse(content, "sheet.csv")
    assert problems == [] and rows[0].message == "Highs near 40°F – mild"


def test_xlsx_with_typed_formula_is_taken_as_text():
    """A formula someone typed into the XLSX is imported as its text, never evaluated."""
    book = Workbook()
    book.active.append(["id", "message", "version", "status"])
    book.active.append(["s001", "=1+1", 0, "draft"])
    out = io.BytesIO()
    book.save(out)
    rows, _ = parse(out.getvalue(), "edited.xlsx")
    assert rows[0].message == "=1+1" and rows[0].version == 0


# --- routes ----------------------------------------------------------------------------

def test_export_csv_lists_slots_in_sheet_order(client):
    """The CSV has one row per slot, largest first, with draft text, status and version."""
    response = _export(client)
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="zipcast-{RUN_ID}.csv"')
    rows = _exported_rows(client)
    assert [(r["id"], r["zips"], r["status"], r["version"]) for r in rows] == [
        ("s001", "3", "empty", "0"), ("s002", "2", "empty", "0")]
    assert rows[0]["message"] == "Rain from {{ rain_start }}, high {{ high }}°F."
    assert rows[0]["facts"] == "Rain from 7 am, 40–45°F"
    assert rows[0]["name"] == "Rhode Island · test s001"


def test_export_shows_saved_messages_defused(client):
    """A saved message replaces the draft, with its status and version, quote-prefixed."""
    _save(client, "=cmd()", 0)
    rows = _exported_rows(client)
    assert (rows[0]["message"], rows[0]["status"], rows[0]["version"]) == (
        "'=cmd()", "draft", "1")


def test_export_xlsx(client):
    """The XLSX download opens with openpyxl and holds the same rows."""
    response = _export(client, "xlsx")
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert f'filename="zipcast-{RUN_ID}.xlsx"' in response.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == list(COLUMNS)
    assert [v[0] for v in values[1:]] == ["s001", "s002"] and values[1][6] == 0


def test_import_applies_changes_and_audits(client, review_settings):
    """A changed message is saved at version 1 with an "import" audit row; others untouched."""
    content = _edited(_exported_rows(client), s001=("=Rain at {{ rain_start }}.", "draft"))
    html = _import(client, content).text
    assert "Imported sheet.csv: 1 message saved, 1 unchanged." in html
    assert _messages(review_settings) == {"s001": ("=Rain at {{ rain_start }}.", "draft", 1)}
    assert _audit(review_settings) == [("s001", "import", "=Rain at {{ rain_start }}.")]
    assert "=Rain at {{ rain_start }}.</textarea>" in html


def test_untouched_export_imports_as_nothing_changed(client, review_settings):
    """Importing an unedited export (CSV or XLSX) writes nothing."""
    _save(client, "-5°F tonight", 0)
    for kind in ("csv", "xlsx"):
        html = _import(client, _export(client, kind).content, f"sheet.{kind}").text
        assert f"Imported sheet.{kind}: 0 messages saved, 2 unchanged." in html
    assert _messages(review_settings) == {"s001": ("-5°F tonight", "draft", 1)}


def test_import_xlsx_approves(client, review_settings):
    """An XLSX row with status "approved" and a text that fills is approved."""
    book = load_workbook(io.BytesIO(_export(client, "xlsx").content))
    book.active["E3"] = "Snow from {{ snow_start }} in {{ city }}!"
    book.active["F3"] = "approved"
    out = io.BytesIO()
    book.save(out)
    html = _import(client, out.getvalue(), "edited.xlsx").text
    assert "1 message saved (1 approved), 1 unchanged." in html
    assert _messages(review_settings)["s002"] == (
        "Snow from {{ snow_start }} in {{ city }}!", "approved", 1)


def test_import_conflict_on_stale_version_is_reported_not_written(client, lead,
                                                                   review_settings):
    """Someone saved after the export: that row is a reported conflict; others apply."""
    rows = _exported_rows(client)
    _save(lead, "Dana's text", 0)
    content = _edited(rows, s001=("Eli's text", "draft"), s002=("Eli's snow", "draft"))
    html = _import(client, content).text
    assert "Row 2: s001 was saved by dana (v1) after this file&#39;s v0; not written" in html
    assert _messages(review_settings) == {"s001": ("Dana's text", "draft", 1),
                                          "s002": ("Eli's snow", "draft", 1)}


def test_import_reports_bad_rows_and_applies_good_ones(client, review_settings):
    """Unknown ids, bad versions, empty and over-long messages are named by row number."""
    content = _csv([["s001", "", "", "", "Good change", "draft", "0"],
                    ["s999", "", "", "", "Who?", "draft", "0"],
                    ["s002", "", "", "", "x", "draft", "v2"],
                    ["s002", "", "", "", "", "draft", "0"],
                    ["s002", "", "", "", "y" * (MAX_TEXT_CHARS + 5), "draft", "0"]])
    html = _import(client, content).text
    assert "1 message saved, 0 unchanged, 4 with problems." in html
    assert "Row 3: no slot &#39;s999&#39; in this run" in html
    assert "Row 4: s002: version &#39;v2&#39; is not a whole number" in html
    assert "Row 5: s002: the message is empty" in html
    assert f"Row 6: s002: the message is {MAX_TEXT_CHARS + 5} characters" in html
    assert _messages(review_settings) == {"s001": ("Good change", "draft", 1)}


def test_import_approval_blocked_by_unknown_placeholder(client, review_settings):
    """Approval through import is checked like the editor: blocked, saved as a draft."""
    content = _edited(_exported_rows(client), s001=("Hi {{ temp }}", "approved"))
    html = _import(client, content).text
    assert "Row 2: s001 saved as a draft but not approved: unknown placeholder {{ temp }}" \
        in html
    assert _messages(review_settings) == {"s001": ("Hi {{ temp }}", "draft", 1)}
    assert _audit(review_settings) == [("s001", "import", "Hi {{ temp }}")]


@pytest.mark.parametrize("content, name", [(bytes(range(256)) * 8, "sheet.csv"),
                                           (b"PK\x03\x04garbage", "sheet.xlsx"),
                                           (b"hello, world\n", "notes.txt")])
def test_garbage_file_is_a_clear_error_and_writes_nothing(client, review_settings,
                                                          content, name):
    """A file that is not a sheet says so on the sheet; no message or audit row is written."""
    html = _import(client, content, name).text
    assert f"Nothing imported from {name}:" in html and 'class="flash error"' in html
    assert _messages(review_settings) == {} and _audit(review_settings) == []


def test_oversized_upload_is_refused(client, review_settings):
    """Files over the cap are refused with the limit named."""
    html = _import(client, b"id,message,version\n" + b"x" * MAX_UPLOAD_BYTES).text
    assert "at most 2 MB can be imported" in html
    assert _messages(review_settings) == {}


def test_import_without_a_file_asks_for_one(client):
    """Submitting the form with no file selected asks for a file."""
    token = csrf_of(client.get(SHEET).text)
    html = client.post(f"{SHEET}/import", data={"csrf_token": token},
                       files={"file": ("", b"", "application/octet-stream")}).text
    assert "Choose a CSV or XLSX file to import." in html


def test_import_needs_the_csrf_token_in_the_multipart_form(client, review_settings):
    """The multipart upload is checked for the session's CSRF token like other forms."""
    content = _edited(_exported_rows(client), s001=("Sneaky", "draft"))
    for data in ({}, {"csrf_token": "wrong"}):
        response = client.post(f"{SHEET}/import", data=data,
                               files={"file": ("sheet.csv", content, "text/csv")})
        assert response.status_code == 403
    assert _messages(review_settings) == {}


def test_export_and_import_need_a_session(app):
    """Signed out, export and import redirect to the sign-in page."""
    with TestClient(app) as anonymous:
        for kind in ("csv", "xlsx"):
            response = anonymous.get(f"{SHEET}/export.{kind}", follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login?next=")
        token = csrf_of(anonymous.get("/login").text)
        response = anonymous.post(f"{SHEET}/import", data={"csrf_token": token},
                                  files={"file": ("s.csv", b"id,message,version\n", "text/csv")},
                                  follow_redirects=False)
        assert response.status_code == 303


def test_sheet_offers_export_and_import(client):
    """The sheet links both exports and has a multipart import form with the CSRF field."""
    html = client.get(SHEET).text
    assert f'href="/runs/{RUN_ID}/export.csv"' in html
    assert f'href="/runs/{RUN_ID}/export.xlsx"' in html
    form = html[html.index(f'action="/runs/{RUN_ID}/import"'):]
    assert 'enctype="multipart/form-data"' in form[:200]
    assert 'name="csrf_token"' in form[:400]


def test_unknown_run_is_404(client):
    """Export and import of a run that does not exist answer 404."""
    assert client.get("/runs/nope/export.csv").status_code == 404
    token = csrf_of(client.get(SHEET).text)
    assert client.post("/runs/nope/import", data={"csrf_token": token},
                       files={"file": ("s.csv", b"x", "text/csv")}).status_code == 404



def test_rows_exported_from_another_run_are_refused(client, review_settings):
    """Yesterday's export imported into today's run: reported per row, nothing written."""
    export = client.get(f"/runs/{RUN_ID}/export.csv").text
    other = export.replace(RUN_ID, "20260114T0900Z-morning-synthetic-old")
    other = other.replace("Rain from {{ rain_start }}", "Old text from {{ rain_start }}")
    token = csrf_of(client.get(f"/runs/{RUN_ID}").text)
    html = client.post(f"/runs/{RUN_ID}/import", data={"csrf_token": token},
                       files={"file": ("old.csv", other.encode(), "text/csv")}).text
    assert "was exported from run 20260114T0900Z-morning-synthetic-old" in html
    with session_scope(review_settings.db_url) as db:
        assert not db.scalars(select(Message)).all()
