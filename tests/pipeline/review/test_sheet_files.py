"""The sheet's files written when a run is stored, read by a fresh app, and the paged detail
page of a big slot (issue 15, point 6)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipeline.editorial.render import slot_members
from pipeline.geo import city_names, load_zips
from pipeline.review import sheet, tables
from pipeline.review.app import create_app
from pipeline.review.deps import ReviewSettings
from pipeline.review.precompute import write_sheet
from pipeline.review.sheet import RunAssets
from pipeline.review.sheet_files import SheetFiles
from pipeline.store.db import session_scope
from pipeline.store.models import Run, SlotMember

from .conftest import RUN_ID, _assignments, _slot, sign_in

SHEET = f"/runs/{RUN_ID}"
ISSUE = pd.Timestamp("2026-01-15T09:00:00Z")
BIG_RUN = "20260115T0900Z-morning-synthetic-big"


def _write(settings) -> SheetFiles:
    write_sheet(settings.runs_dir / RUN_ID, window="morning", issue_time=ISSUE,
                settings=settings)
    return SheetFiles(settings.runs_dir / RUN_ID)


def _fresh_client(settings):
    """A new app (a restarted server: empty caches), signed in as ``eli``."""
    app = create_app(settings, ReviewSettings(secret_key="test-secret"),
                     now=lambda: datetime(2026, 1, 15, 10, 0, tzinfo=UTC))
    client = TestClient(app)
    client.__enter__()
    assert sign_in(client).status_code == 200
    return client


def _forbid_computing(monkeypatch) -> None:
    """Make every heavy computation of the sheet fail loudly."""
    def boom(*_args, **_kwargs):
        raise AssertionError("computed instead of read from the sheet files")

    for module, name in [(sheet, "member_bands"), (sheet, "thumbnails"),
                         (sheet, "city_names"), (sheet, "load_zips"),
                         (sheet, "read_assignments"), (sheet, "run_members"),
                         (tables, "load_zips"), (tables, "read_assignments"),
                         (tables, "RunDetail")]:
        monkeypatch.setattr(module, name, boom)


def test_store_step_writes_the_sheet_files(review_settings):
    """write_sheet fills sheet/ with members, facts, bands, maps, tables and areas."""
    files = _write(review_settings)
    root = files.root
    assert files.usable() and files.has_members()
    for name in ["manifest.json", "facts.parquet", "bands.json", "maps/done",
                 "members/s001.json", "members/s002.json", "table/s001.parquet",
                 "table/s002.parquet", "areas/s001.svg", "areas/s002.svg",
                 "maps/s001.svg", "maps/s002.svg"]:
        assert (root / name).is_file(), name
    assert not (review_settings.runs_dir / RUN_ID / ".sheet.partial").exists()
    assert files.tables_have_facts() is True


def test_members_and_facts_read_back_as_computed(review_settings):
    """members_of equals slot_members (keys, values, order); facts_of lists the same ZIPs."""
    run_dir = str(review_settings.runs_dir / RUN_ID)
    expected = {s: slot_members(run_dir, s, city_names()) for s in ("s001", "s002")}
    _write(review_settings)
    assets = RunAssets(RUN_ID, run_dir)
    for slot_id, members in expected.items():
        slot = _slot(slot_id, 1, len(members), "")
        assert assets.members_of(slot) == members
        facts = assets.facts_of(slot)
        assert facts["zip"].tolist() == [m["zip"] for m in members]
        assert facts["city"].tolist() == [m["city"] for m in members]
        assert {"high_f", "precip_type", "fits"} <= set(facts.columns)
    assert assets.facts_of(_slot("s999", 9, 0, "")).empty


def test_fresh_app_serves_the_sheet_without_computing(review_settings, monkeypatch):
    """After a restart every page of the run is read from the files, nothing recomputed."""
    _write(review_settings)
    _forbid_computing(monkeypatch)
    client = _fresh_client(review_settings)
    try:
        html = client.get(SHEET).text
        assert 'id="slot-s001"' in html and 'id="slot-s002"' in html
        detail = client.get(f"{SHEET}/slots/s001")
        assert detail.status_code == 200 and "All 3 members" in detail.text
        assert "<title>Area of s001 Rhode Island · test s001" in detail.text
        for path in [f"{SHEET}/slots/s001/map.svg", f"{SHEET}/slots/s001/area.svg"]:
            response = client.get(path)
            assert response.status_code == 200 and response.text.startswith("<svg")
    finally:
        client.__exit__(None, None, None)


def test_an_old_run_writes_its_pieces_on_first_use(review_settings, monkeypatch):
    """A run stored without sheet/ computes each piece once and keeps it for the next app."""
    client = _fresh_client(review_settings)
    try:
        for path in [SHEET, f"{SHEET}/slots/s001", f"{SHEET}/slots/s002",
                     f"{SHEET}/slots/s001/map.svg"]:
            assert client.get(path).status_code == 200
    finally:
        client.__exit__(None, None, None)
    files = SheetFiles(review_settings.runs_dir / RUN_ID)
    assert files.usable() and files.has_members() and files.tables_have_facts()
    assert files.read_area("s001") is not None and files.read_maps()
    _forbid_computing(monkeypatch)
    client = _fresh_client(review_settings)
    try:
        assert "All 3 members" in client.get(f"{SHEET}/slots/s001").text
        assert "All 2 members" in client.get(f"{SHEET}/slots/s002").text
    finally:
        client.__exit__(None, None, None)


def test_files_made_from_another_assignments_file_are_dropped(review_settings):
    """Rewriting assignments.parquet makes the files stale: they are dropped, not served."""
    files = _write(review_settings)
    path = review_settings.runs_dir / RUN_ID / "assignments.parquet"
    frame = pd.read_parquet(path)
    frame.loc[frame["zip"] == "02903", "high_f"] = 55.0
    frame.to_parquet(path)
    assert not files.usable() and not files.root.exists()
    assets = RunAssets(RUN_ID, str(review_settings.runs_dir / RUN_ID))
    members = assets.members_of(_slot("s001", 1, 3, ""))
    assert next(m for m in members if m["zip"] == "02903")["high"] == 55


# -- a slot of 5,000 ZIPs: the detail page pages through its members ------------------------


def _store_big_run(settings, n: int = 5000) -> list[str]:
    """A one-slot run of ``n`` real ZIPs (every 20th a misfit); returns them by state, ZIP."""
    zips = load_zips(["NY", "PA", "NJ"]).head(n)
    template = _assignments().iloc[0].to_dict()
    rows = [{**template, "zip": z, "state": st, "distance": i / n,
             "fits": i % 20 != 0, "automatic": i % 20 == 0,
             "automatic_message": ("Rain from 7 am, high 41°F, low 31°F; breezy, overcast."
                                   if i % 20 == 0 else None)}
            for i, (z, st) in enumerate(zip(zips["zip"], zips["state"], strict=True))]
    run_dir = settings.runs_dir / BIG_RUN
    run_dir.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(run_dir / "assignments.parquet")
    with session_scope(settings.db_url) as db:
        db.add(Run(id=BIG_RUN, created_at=datetime(2026, 1, 15, 9, 6, tzinfo=UTC),
                   issue_time=datetime(2026, 1, 15, 9, tzinfo=UTC), source="synthetic",
                   window="morning", n_zips=n, n_slots=1, params={}, summary={},
                   run_dir=str(run_dir)))
        big = _slot("s001", 1, n, "Rain from {{ rain_start }}.")
        big.id, big.run_id = f"{BIG_RUN}/s001", BIG_RUN
        db.add(big)
        db.flush()
        db.add_all([SlotMember(run_id=BIG_RUN, zip=r["zip"], slot_id="s001",
                               distance=r["distance"], fits=r["fits"],
                               automatic=r["automatic"]) for r in rows])
    write_sheet(run_dir, window="morning", issue_time=ISSUE, settings=settings)
    return sorted(zips["zip"], key=lambda z: (zips.set_index("zip").at[z, "state"], z))


@pytest.fixture
def big_run(review_settings) -> list[str]:
    return _store_big_run(review_settings)


def _member_zips(html: str) -> list[str]:
    members = html[html.index('id="members"'):]
    return re.findall(r"<tr(?: class=\"misfit\")?><td>(\d{5})</td>", members)


def test_detail_page_of_5000_members_pages_and_stays_small(big_run, client):
    """200 members a page, the next page shows the next 200, the page stays under 300 KB,
    and the per-state truth still counts every member."""
    detail = f"/runs/{BIG_RUN}/slots/s001"
    first = client.get(detail)
    assert first.status_code == 200
    assert len(first.content) < 300_000, len(first.content)
    assert _member_zips(first.text) == big_run[:200]
    assert "All 5,000 members" in first.text and "page 1 of 25" in first.text
    assert f'href="{detail}?page=2#members"' in first.text and 'rel="prev"' not in first.text
    second = client.get(f"{detail}?page=2")
    assert _member_zips(second.text) == big_run[200:400]
    assert f'href="{detail}?page=1#members"' in second.text
    states = re.findall(r'<tr(?: class="below-floor")?><td>([A-Z]{2})</td><td class="num">'
                        r"([\d,]+)</td>", first.text)
    assert sum(int(n.replace(",", "")) for _, n in states) == 5000
    assert "Misfits (250)" in first.text
    last = client.get(f"{detail}?page=99")  # clamped to the last page
    assert _member_zips(last.text) == big_run[4800:]


def test_detail_page_finds_members_by_zip(big_run, client):
    """?zip= lists only the members whose ZIP starts with it, digits only."""
    detail = f"/runs/{BIG_RUN}/slots/s001"
    wanted = big_run[1234]
    html = client.get(f"{detail}?zip={wanted}").text
    assert _member_zips(html) == [wanted]
    prefix = wanted[:3]
    found = _member_zips(client.get(f"{detail}?zip={prefix}x").text)
    assert found == [z for z in big_run if z.startswith(prefix)][:200]
    none = client.get(f"{detail}?zip=00000").text
    assert "No member ZIP starts with 00000." in none and _member_zips(none) == []
