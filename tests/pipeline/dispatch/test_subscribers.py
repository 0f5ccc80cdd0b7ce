"""Subscribers: CSV import (every bad input has a clear outcome), demo data and lookups."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import phonenumbers
import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from pipeline.config.dispatch import DispatchSettings
from pipeline.dispatch.models import Subscriber
from pipeline.dispatch.subscribers import (
    DEMO_TOKEN_PREFIX,
    ImportReport,
    SubscriberFileError,
    SubscriberNotFound,
    by_token,
    demo_phones,
    find_by_address,
    make_demo,
    opt_out,
    parse_local_time,
    subscriber_counts,
    subscriber_stats,
    zip_density,
)
from pipeline.dispatch.subscribers import (
    import_csv as _import_csv,
)
from pipeline.store.db import get_engine, migrate, session_scope

HEADER = "zip,phone,email,webhook_url,morning_at,evening_at,status\n"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


CONSENT = "Text me the weather for my ZIP twice a day (test file)"


def import_csv(*args, **kwargs):
    """The import with the operator's statement of consent (the files here have no
    consent_text column)."""
    return _import_csv(*args, **{"consent": CONSENT, **kwargs})


@pytest.fixture
def url(settings) -> str:
    migrate(settings.db_url)
    return settings.db_url


def write(tmp_path: Path, body: str, name: str = "subs.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


def stored(url: str) -> list[Subscriber]:
    with session_scope(url) as session:
        return list(session.scalars(select(Subscriber).order_by(Subscriber.id)).all())


def errors_by_line(report: ImportReport) -> dict[int, str]:
    return dict(report.errors)


# --- one value at a time ---------------------------------------------------------------------


@pytest.mark.parametrize("written, expected", [
    ("07:00", "07:00"), ("7:00", "07:00"), ("7am", "07:00"), ("7 AM", "07:00"),
    ("6:30 pm", "18:30"), ("6:30 p.m.", "18:30"), ("12am", "00:00"), ("12:15pm", "12:15"),
    ("23:59", "23:59"), ("00:00", "00:00"), ("07:30:00", "07:30"),
])
def test_parse_local_time_accepts_common_spellings(written, expected):
    """It reads 24-hour and am/pm times into HH:MM."""
    assert parse_local_time(written) == expected


@pytest.mark.parametrize("written, says", [
    ("24:00", "outside 00:00–23:59"), ("7:60", "outside 00:00–23:59"),
    ("25:00", "outside 00:00–23:59"), ("13pm", "1–12"), ("7", "bad time"),
    ("seven", "bad time"), ("7.30", "bad time"), ("0700", "bad time"),
])
def test_parse_local_time_refuses_with_a_hint(written, says):
    """It refuses times that are not times, saying how to write one."""
    with pytest.raises(ValueError, match=says) as err:
        parse_local_time(written)
    assert "HH:MM" in str(err.value)


# --- import: bad rows, good rows -------------------------------------------------------------


def test_good_rows_are_kept_and_every_bad_row_is_reported_by_line(tmp_path, url):
    """Bad rows are listed with their editor line number and a reason; good rows go in."""
    path = write(tmp_path, (
        "02903,(401) 555-0123,,,,,\n"                      # 2 good
        "2903,,ann@example.com,,,,\n"                       # 3 unknown ZIP, padded is known
        "99999,,bob@example.com,,,,\n"                      # 4 unknown ZIP
        "10001,555-0123,,,,,\n"                             # 5 invalid phone (7 digits)
        "10001,+1 401 555 012,,,,,\n"                       # 6 invalid phone (too short)
        "10001,,carol@@example.com,,,,\n"                   # 7 invalid email
        "10001,,,http://hooks.example.com/x,,,\n"           # 8 http webhook
        "10001,,,,,,\n"                                     # 9 no channel
        "10001,,dan@example.com,,25:00,,\n"                 # 10 time out of range
        "10001,,erin@example.com,,,6ish,\n"                 # 11 bad time
        "10001,,fay@example.com\n"                          # 12 wrong column count
        "10001,,gus@example.com,,,,paused\n"                # 13 bad status
        "\n"                                                # 14 blank: not a row
        "96813,,Hana@Example.COM,https://hooks.example.com/h,7am,6:30 pm,\n"  # 15 good
    ))
    report = import_csv(url, path, now=NOW)

    errors = errors_by_line(report)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert "did you mean 02903?" in errors[3]
    assert "unknown ZIP '99999'" in errors[4] and "did you mean" not in errors[4]
    assert "invalid phone '555-0123'" in errors[5]
    assert "invalid phone" in errors[6] and "10 digits" in errors[6]
    assert "invalid email 'carol@@example.com'" in errors[7]
    assert "https://" in errors[8] and "WEBHOOK_ALLOW_HOSTS" in errors[8]
    assert "no channel" in errors[9]
    assert "morning_at" in errors[10] and "outside 00:00–23:59" in errors[10]
    assert "evening_at" in errors[11] and "HH:MM" in errors[11]
    assert "3 fields, but the header has 7" in errors[12]
    assert "active or opted_out" in errors[13]
    assert (report.rows, report.added, report.skipped) == (13, 2, 11)
    assert report.ok
    text_report = str(report)
    assert "line 3: unknown ZIP '2903': did you mean 02903?" in text_report

    people = stored(url)
    assert [(p.zip, p.phone, p.email) for p in people] == [
        ("02903", "+14015550123", None), ("96813", None, "hana@example.com")]
    hana = people[1]
    assert (hana.webhook_url, hana.morning_at, hana.evening_at) == (
        "https://hooks.example.com/h", "07:00", "18:30")


def test_every_row_of_a_row_reports_all_its_problems(tmp_path, url):
    """One line with several problems names each of them."""
    report = import_csv(url, write(tmp_path, "2903,abc,nope,ftp://x,,,\n"))
    (line, reason), = report.errors
    assert line == 2
    for part in ("did you mean 02903?", "invalid phone 'abc'", "invalid email 'nope'",
                 "invalid webhook URL"):
        assert part in reason
    assert not report.ok and stored(url) == []


def test_plain_http_webhooks_only_for_allow_listed_hosts(tmp_path, url):
    """http:// is refused except for hosts in webhook_allow_hosts (here localhost, 127.0.0.1)."""
    allowed = DispatchSettings(webhook_allow_hosts=["localhost", "127.0.0.1"])
    report = import_csv(url, write(tmp_path, (
        "10001,,,http://localhost:9000/hook,,,\n"
        "10001,,,http://127.0.0.1/hook,,,\n"
        "10001,,,http://example.com/hook,,,\n"
        "10001,,,https://example.com/hook,,,\n"
    )), settings=allowed)
    assert [line for line, _ in report.errors] == [4]
    assert report.added == 3


def test_header_is_forgiving_but_unknown_columns_are_warned_about_once(tmp_path, url):
    """Header names are case- and space-insensitive, a BOM is fine, extra columns are named."""
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff ZIP ,Phone, E-Mail,notes\n02903,401-555-0123,x,hi\n"
                     "02903,401-555-0124,y,there\n".encode())
    report = import_csv(url, path)
    assert report.added == 2 and not report.errors
    assert len(report.warnings) == 1
    assert "'e-mail', 'notes'" in report.warnings[0] and "webhook_url" in report.warnings[0]


@pytest.mark.parametrize("header, says", [
    ("phone,email\n", "no 'zip' column"),
    ("zip,name\n", "no channel column"),
    ("zip,email,email\n", "more than once"),
    ("\n\n", "empty"),
])
def test_a_wrong_header_is_a_clear_error_and_nothing_is_imported(tmp_path, url, header, says):
    """Without a zip or a channel column the file is refused as a whole."""
    body = "" if header.isspace() else "02903,a@example.com\n"
    with pytest.raises(SubscriberFileError, match=says) as err:
        import_csv(url, write(tmp_path, body, header=header))
    assert err.value.line == 1 and str(err.value).startswith("line 1:")
    with pytest.raises(SubscriberFileError, match="empty"):
        import_csv(url, io.StringIO(""))
    assert stored(url) == []


def test_unreadable_files_are_clear_errors(tmp_path, url):
    """A missing file or a header that is not UTF-8 raises SubscriberFileError; a row that is
    not UTF-8 is reported by line, byte and column."""
    with pytest.raises(SubscriberFileError, match="cannot read"):
        import_csv(url, tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("zip,email\n02903,jos\xe9@example.com\n".encode("latin-1"))
    (line, reason), = import_csv(url, latin).errors
    assert line == 2 and reason.startswith("not UTF-8 text (byte 0xe9 at column 10)")
    assert "CSV UTF-8" in reason
    latin.write_bytes("zip,e-m\xe9l\n02903,a@example.com\n".encode("latin-1"))
    with pytest.raises(SubscriberFileError, match="UTF-8"):
        import_csv(url, latin)
    assert stored(url) == []


def test_open_files_text_or_binary_are_accepted(url):
    """It reads from an open text or binary stream as well as from a path."""
    report = import_csv(url, io.StringIO("zip,email\n02903,a@example.com\n"))
    assert report.added == 1
    report = import_csv(url, io.BytesIO(b"\xef\xbb\xbfzip,email\n02903,b@example.com\n"))
    assert report.added == 1


def test_quoted_values_may_hold_commas_and_line_breaks(tmp_path, url):
    """Line numbers stay the editor's when a quoted value spans lines."""
    report = import_csv(url, write(tmp_path, (
        '"02903","(401) 555-0123","",'
        '"https://hooks.example.com/a,b",,,\n'
        '"10001",,"two\nlines@example.com",,,,\n'
        "99999,,c@example.com,,,,\n"
    )))
    assert report.added == 1
    assert [line for line, _ in report.errors] == [3, 5]


def test_the_time_zone_comes_from_the_zip_never_from_the_file(tmp_path, url):
    """02903 is New York time, 96813 Honolulu, 85001 Phoenix, whatever the CSV says."""
    path = write(tmp_path, (
        "02903,a@example.com,America/Chicago\n"
        "96813,b@example.com,America/Chicago\n"
        "85001,c@example.com,America/Chicago\n"
    ), header="zip,email,timezone\n")
    report = import_csv(url, path)
    assert "'timezone'" in report.warnings[0]
    assert [(p.zip, p.timezone) for p in stored(url)] == [
        ("02903", "America/New_York"), ("96813", "Pacific/Honolulu"),
        ("85001", "America/Phoenix")]


def test_default_times_come_from_settings(tmp_path, settings, url):
    """Rows without times get DispatchSettings.default_times."""
    from datetime import time

    settings.dispatch.default_times = {"morning": time(6, 45), "evening": time(17, 15)}
    import_csv(url, write(tmp_path, "02903,,a@example.com,,,,\n"), settings=settings)
    (person,) = stored(url)
    assert (person.morning_at, person.evening_at, person.status) == ("06:45", "17:15", "active")
    assert len(person.token) == 22


# --- import: duplicates, opt-outs, idempotence, atomicity ------------------------------------


def test_rows_sharing_a_phone_or_email_in_a_file_are_merged(tmp_path, url):
    """Later rows override ZIP, times and webhook; channels add up; merges are counted."""
    report = import_csv(url, write(tmp_path, (
        "02903,(401) 555-0123,,,7am,,\n"
        "10001,401.555.0123,Ann@example.com,,,,\n"            # same phone: adds email, new ZIP
        "96813,,ann@EXAMPLE.com,https://hooks.example.com/a,,19:00,\n"  # same email
        "85001,,bob@example.com,,,,\n"
    )))
    assert (report.added, report.merged, report.skipped) == (2, 2, 0)
    ann, bob = stored(url)
    assert (ann.zip, ann.timezone, ann.phone, ann.email, ann.webhook_url) == (
        "96813", "Pacific/Honolulu", "+14015550123", "ann@example.com",
        "https://hooks.example.com/a")
    assert (ann.morning_at, ann.evening_at) == ("07:00", "19:00")
    assert bob.email == "bob@example.com"


def test_rows_matching_stored_subscribers_update_them(tmp_path, url):
    """A later file's row with a stored phone or email updates that subscriber."""
    import_csv(url, write(tmp_path, "02903,(401) 555-0123,,,,,\n85001,,bob@example.com,,,,\n"))
    token = stored(url)[0].token
    report = import_csv(url, write(tmp_path, (
        "10001,+14015550123,ann@example.com,,8:30am,,\n"
        "85001,,BOB@example.com,,,,\n"                  # nothing new for Bob
        "96813,,cat@example.com,,,,\n"
    ), name="second.csv"))
    assert (report.added, report.updated, report.unchanged, report.merged) == (1, 1, 1, 0)
    ann, bob, cat = stored(url)
    assert (ann.zip, ann.phone, ann.email, ann.morning_at, ann.token) == (
        "10001", "+14015550123", "ann@example.com", "08:30", token)
    assert bob.zip == "85001" and cat.zip == "96813"


def test_a_row_naming_two_different_people_is_refused(tmp_path, url):
    """Phone of one subscriber and email of another: an error, and neither is changed."""
    import_csv(url, write(tmp_path, "02903,(401) 555-0123,,,,,\n85001,,bob@example.com,,,,\n"))
    report = import_csv(url, write(tmp_path, "10001,(401) 555-0123,bob@example.com,,,,\n",
                                   name="clash.csv"))
    (line, reason), = report.errors
    assert line == 2 and "cannot merge two people" in reason and "#1" in reason
    assert [(p.zip, p.phone, p.email) for p in stored(url)] == [
        ("02903", "+14015550123", None), ("85001", None, "bob@example.com")]


def test_a_new_phone_for_a_known_email_moves_and_is_warned_about(tmp_path, url):
    """A person's changed phone replaces the old one, with a warning naming both."""
    import_csv(url, write(tmp_path, "02903,(401) 555-0123,ann@example.com,,,,\n"))
    report = import_csv(url, write(tmp_path, "02903,(401) 555-0199,ann@example.com,,,,\n",
                                   name="moved.csv"))
    assert report.updated == 1
    assert "changed from +14015550123 to +14015550199" in report.warnings[0]
    assert stored(url)[0].phone == "+14015550199"


def test_webhook_only_rows_are_one_subscriber_per_url_and_zip(tmp_path, url):
    """Without phone or email, the same URL and ZIP is the same subscriber."""
    report = import_csv(url, write(tmp_path, (
        "96813,,,https://partner.example.com/hook,,,\n"
        "96813,,,https://partner.example.com/hook,8am,,\n"
        "85001,,,https://partner.example.com/hook,,,\n"
    )))
    assert (report.added, report.merged) == (2, 1)
    assert [(p.zip, p.morning_at) for p in stored(url)] == [("96813", "08:00"),
                                                            ("85001", "07:00")]


def test_phones_can_change_hands_within_one_file(tmp_path, url):
    """B moves to a new phone and A takes B's old one: no unique-index clash."""
    import_csv(url, write(tmp_path, "02903,(401) 555-0101,a@example.com,,,,\n"
                                    "02903,(401) 555-0102,b@example.com,,,,\n"))
    report = import_csv(url, write(tmp_path, "02903,(401) 555-0103,b@example.com,,,,\n"
                                             "02903,(401) 555-0102,a@example.com,,,,\n",
                                   name="swap.csv"))
    assert report.updated == 2 and not report.errors
    assert [(p.email, p.phone) for p in stored(url)] == [
        ("a@example.com", "+14015550102"), ("b@example.com", "+14015550103")]


def test_opted_out_subscribers_are_never_reactivated_by_an_import(tmp_path, url):
    """A stored opt-out stays opted out, and the report says so."""
    path = write(tmp_path, "02903,(401) 555-0123,,,,,\n")
    import_csv(url, path)
    with session_scope(url) as session:
        assert opt_out(session, stored(url)[0].id, "sms STOP", NOW)
    report = import_csv(url, write(tmp_path, "02903,(401) 555-0123,,,,,active\n", name="b.csv"))
    assert report.kept_opted_out == 1 and not report.errors
    assert "kept opted out" in report.warnings[0] and "via sms STOP" in report.warnings[0]
    (person,) = stored(url)
    assert (person.status, person.opt_out_via) == ("opted_out", "sms STOP")


def test_a_file_can_opt_people_out(tmp_path, url):
    """status=opted_out opts out; a later row for them in the same file does not undo it."""
    report = import_csv(url, write(tmp_path, (
        "02903,(401) 555-0123,,,,,opted_out\n"
        "02903,(401) 555-0123,,,,,\n"
    )), now=NOW)
    assert (report.added, report.opted_out, report.kept_opted_out) == (1, 1, 1)
    (person,) = stored(url)
    assert (person.status, person.opt_out_via) == ("opted_out", "import")


def test_importing_the_same_file_twice_changes_nothing(tmp_path, url):
    """A re-import adds and updates nothing; every stored value, token included, stays."""
    path = write(tmp_path, (
        "02903,(401) 555-0123,ann@example.com,,7am,,\n"
        "10001,,bob@example.com,https://hooks.example.com/b,,19:00,opted_out\n"
        "10001,(212) 555-0100,,,,,\n"
        "2903,,bad@example.com,,,,\n"
        "96813,,,https://partner.example.com/hook,,,\n"   # one endpoint, two ZIPs
        "85001,,,https://partner.example.com/hook,,,\n"
    ))
    first = import_csv(url, path, now=NOW)
    before = [(p.id, p.zip, p.phone, p.email, p.webhook_url, p.morning_at, p.evening_at,
               p.status, p.token, p.updated_at) for p in stored(url)]
    again = import_csv(url, path, now=datetime(2026, 2, 1, tzinfo=UTC))
    after = [(p.id, p.zip, p.phone, p.email, p.webhook_url, p.morning_at, p.evening_at,
              p.status, p.token, p.updated_at) for p in stored(url)]
    assert first.added == 5
    assert (again.added, again.updated, again.unchanged, again.kept_opted_out) == (0, 0, 5, 0)
    assert again.errors == first.errors
    assert before == after


def test_a_failure_while_writing_leaves_nothing_of_the_file(tmp_path, url):
    """Updates and inserts of one file commit together or not at all."""
    import_csv(url, write(tmp_path, "02903,(401) 555-0123,,,,,\n"))
    with get_engine(url).begin() as conn:
        conn.execute(text("CREATE TRIGGER refuse_85001 BEFORE INSERT ON subscribers "
                          "WHEN NEW.zip = '85001' BEGIN SELECT RAISE(ABORT, 'boom'); END"))
    path = write(tmp_path, "10001,(401) 555-0123,,,,,\n96813,,a@example.com,,,,\n"
                           "85001,,b@example.com,,,,\n", name="b.csv")
    with pytest.raises(Exception, match="boom"):
        import_csv(url, path)
    assert [(p.zip, p.email) for p in stored(url)] == [("02903", None)]


# --- demo subscribers ------------------------------------------------------------------------


def test_zip_density_matches_a_brute_force_haversine_count():
    """Neighbour counts equal a direct great-circle count."""
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(30, 45, 400), rng.uniform(-100, -70, 400)
    phi, lam = np.radians(lat), np.radians(lon)
    d_phi, d_lam = phi[:, None] - phi[None, :], lam[:, None] - lam[None, :]
    a = np.sin(d_phi / 2) ** 2 + np.cos(phi[:, None]) * np.cos(phi[None, :]) * np.sin(
        d_lam / 2) ** 2
    km = 2 * 6371.0088 * np.arcsin(np.sqrt(a))
    assert (zip_density(lat, lon, radius_km=150) == (km <= 150).sum(axis=1)).all()


def test_demo_phones_are_distinct_valid_us_numbers():
    """Every demo phone is a valid US number in the 555 exchange, and none repeats."""
    index = np.arange(0, 1_000_000, 997)
    phones = demo_phones(index)
    assert len(set(phones)) == len(phones)
    assert phones[0] == "+12015550100"
    for phone in phones[::25]:
        number = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(number) and phone[5:8] == "555"
        assert phonenumbers.region_code_for_number(number) == "US"


def _demo_frame(url: str):
    import pandas as pd

    with get_engine(url).connect() as conn:
        return pd.read_sql(text("SELECT * FROM subscribers ORDER BY id"), conn)


def test_demo_writes_count_subscribers_reproducibly(tmp_path):
    """The same seed gives the same ZIPs, channels and times; tokens are always fresh."""
    from pipeline.settings import Settings

    frames = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        url = Settings(data_dir=tmp_path / name).db_url
        migrate(url)
        assert make_demo(url, 5_000, seed=seed) == 5_000
        frames.append(_demo_frame(url))
    a, b, c = frames
    columns = ["zip", "timezone", "phone", "email", "webhook_url", "morning_at", "evening_at"]
    assert len(a) == 5_000
    assert a[columns].equals(b[columns])
    assert not a["zip"].equals(c["zip"])
    assert not set(a["token"]) & set(b["token"])
    assert a["token"].str.startswith(DEMO_TOKEN_PREFIX).all()


def test_demo_mix_addresses_and_times(url):
    """About 60/25/10/5 % sms/email/both/webhook; unique addresses; half-hour times."""
    make_demo(url, 20_000, seed=0)
    frame = _demo_frame(url)
    sms, email, hook = (frame[c].notna() for c in ("phone", "email", "webhook_url"))
    shares = {"sms": (sms & ~email).mean(), "email": (email & ~sms).mean(),
              "both": (sms & email).mean(), "webhook": (hook & ~sms & ~email).mean()}
    assert shares == pytest.approx({"sms": 0.60, "email": 0.25, "both": 0.10, "webhook": 0.05},
                                   abs=0.015)
    assert (sms | email | hook).all()
    assert frame["phone"].dropna().is_unique and frame["email"].dropna().is_unique
    assert frame["token"].is_unique
    assert frame["email"].dropna().str.fullmatch(r"demo-\d+@example\.com").all()
    assert frame["webhook_url"].dropna().str.startswith("https://hooks.example.com/").all()
    assert frame["morning_at"].isin(["06:30", "07:00", "07:30", "08:00", "08:30"]).all()
    assert frame["evening_at"].isin(["17:00", "17:30", "18:00", "18:30", "19:00"]).all()
    assert (frame["morning_at"] == "07:00").mean() > 0.7
    assert (frame["status"] == "active").all()


def test_demo_subscribers_crowd_where_zips_are_dense(url, nation):
    """A New York City ZIP gets many more demo subscribers than a Wyoming ZIP, on average."""
    make_demo(url, 20_000, seed=0)
    counts = subscriber_counts(url).reindex(nation["zip"], fill_value=0)
    km_from_midtown = 111 * np.hypot(nation["lat"] - 40.754,
                                     (nation["lon"] + 73.984) * np.cos(np.radians(40.754)))
    nyc = counts[(km_from_midtown < 20).to_numpy()]
    wyoming = counts[(nation["state"] == "WY").to_numpy()]
    assert len(nyc) > 100 and len(wyoming) > 100
    assert nyc.mean() > 10 * wyoming.mean()
    # and the time zone is the ZIP's
    frame = _demo_frame(url)
    zones = dict(zip(nation["zip"], nation["timezone"], strict=True))
    assert (frame["zip"].map(zones) == frame["timezone"]).all()


def test_demo_appends_and_replace_deletes_only_demo_subscribers(tmp_path, url):
    """A second demo continues the numbering; --replace keeps imported subscribers."""
    import_csv(url, write(tmp_path, "02903,(401) 555-0123,ann@example.com,,,,\n"))
    make_demo(url, 1_000, seed=1)
    make_demo(url, 1_000, seed=1)  # same seed again: no clash
    frame = _demo_frame(url)
    assert len(frame) == 2_001 and frame["phone"].dropna().is_unique
    assert frame["email"].dropna().is_unique
    make_demo(url, 500, seed=2, replace=True)
    frame = _demo_frame(url)
    assert len(frame) == 501
    assert "ann@example.com" in set(frame["email"])


def test_demo_skips_phones_and_emails_people_already_have(tmp_path, url):
    """An imported 555 number or demo-looking email is never handed out again."""
    import_csv(url, write(tmp_path, "02903,(201) 555-0100,demo-1@example.com,,,,\n"))
    make_demo(url, 3_000, seed=0, channels={"sms+email": 1.0})
    frame = _demo_frame(url)
    assert len(frame) == 3_001
    assert frame["phone"].is_unique and frame["email"].is_unique
    assert "+12015550100" not in set(frame["phone"][1:])


def test_demo_rejects_a_bad_channel_mix(url):
    """A mix naming an unknown channel is refused."""
    with pytest.raises(ValueError, match="channel mix"):
        make_demo(url, 10, channels={"fax": 1.0})
    assert make_demo(url, 100, channels={"webhook": 1.0}) == 100
    assert _demo_frame(url)["webhook_url"].notna().all()


# --- lookups used by dispatch, STOP handling and unsubscribe links ---------------------------


def test_counts_lookups_and_opt_out(tmp_path, url):
    """Counts are of active subscribers; lookups take any phone format; opt-out is once."""
    import_csv(url, write(tmp_path, (
        "02903,(401) 555-0123,ann@example.com,,,,\n"
        "02903,,bob@example.com,,,,\n"
        "10001,,cat@example.com,,,,opted_out\n"
    )))
    counts = subscriber_counts(url)
    assert counts.to_dict() == {"02903": 2} and counts.index.name == "zip"
    with session_scope(url) as session:
        ann = find_by_address(session, phone="+1 (401) 555-0123")
        assert ann is not None and ann.email == "ann@example.com"
        assert find_by_address(session, email="Ann <ANN@example.com>") is ann
        assert find_by_address(session, phone="+14015550000", email="bob@example.com").email \
            == "bob@example.com"
        assert find_by_address(session, phone="not a phone") is None
        assert by_token(session, ann.token) is ann
        assert by_token(session, "nope") is None and by_token(session, "") is None
        assert opt_out(session, ann.id, "email link", NOW) is True
        assert opt_out(session, ann.id, "sms STOP", datetime(2026, 2, 1, tzinfo=UTC)) is False
        with pytest.raises(SubscriberNotFound):
            opt_out(session, 999, "sms STOP", NOW)
        with pytest.raises(ValueError):
            find_by_address(session)
    assert subscriber_counts(url).to_dict() == {"02903": 1}
    ann = stored(url)[0]
    assert (ann.status, ann.opt_out_via) == ("opted_out", "email link")
    stats = subscriber_stats(url)
    assert stats.by_status == {"active": 1, "opted_out": 2}
    assert stats.by_channel == {"sms": 0, "email": 1, "webhook": 0}
    assert stats.top_states == [("RI", 1)]


def test_counts_are_empty_without_subscribers(url):
    """No subscribers: an empty, correctly named Series."""
    counts = subscriber_counts(url)
    assert counts.empty and counts.name == "subscribers" and counts.index.name == "zip"


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """The zipcast app with its data folder in tmp_path."""
    from flows.cli import app
    from pipeline.settings import get_settings

    monkeypatch.setenv("ZIPCAST_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ZIPCAST_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["subscribers", *args])
    get_settings.cache_clear()


def test_cli_import_prints_the_report_and_keeps_good_rows(tmp_path, cli):
    """Exit 0 when some rows are good; errors are printed with line numbers."""
    path = write(tmp_path, "02903,(401) 555-0123,,,,,\n2903,,a@example.com,,,,\n")
    result = cli("import", str(path), "--consent", CONSENT)
    assert result.exit_code == 0, result.output
    assert "2 rows: 1 added" in result.output
    assert "line 3: unknown ZIP '2903': did you mean 02903?" in result.output
    result = cli("list")
    assert "+14015550123" in result.output and "America/New_York" in result.output


def test_cli_import_fails_when_no_row_is_good_or_the_file_is_unreadable(tmp_path, cli):
    """Exit 1 when every row failed, the file is missing, or its header is wrong."""
    result = cli("import", str(write(tmp_path, "99999,,a@example.com,,,,\n")),
                 "--consent", CONSENT)
    assert result.exit_code == 1
    assert "line 2: unknown ZIP '99999'" in result.output
    result = cli("import", str(tmp_path / "missing.csv"), "--consent", CONSENT)
    assert result.exit_code == 1 and "cannot read" in result.output
    result = cli("import", str(write(tmp_path, "02903\n", name="h.csv", header="zip\n")),
                 "--consent", CONSENT)
    assert result.exit_code == 1 and "line 1: no channel column" in result.output
    assert "nothing was imported" in result.output


def test_cli_demo_and_stats(cli):
    """`demo` writes subscribers and `stats` counts them."""
    result = cli("demo", "--count", "2000", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "wrote 2,000 demo subscribers" in result.output
    result = cli("demo", "--count", "500", "--replace")
    assert result.exit_code == 0, result.output
    result = cli("stats")
    assert result.exit_code == 0, result.output
    assert "500 subscribers" in result.output and "active with sms" in result.output
