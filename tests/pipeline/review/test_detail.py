"""The slot detail page: members, misfits, per-state truth, the area map and the chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from pipeline.drawing.charts import nice_ticks, series_chart_svg
from pipeline.geo import load_zips
from pipeline.review.tables import RunDetail, member_rows, state_truth

from .conftest import HOSTILE_AUTOMATIC, HOSTILE_NAME, MEMBERS, RUN_ID

SVG = "{http://www.w3.org/2000/svg}"
SHEET = f"/runs/{RUN_ID}"
DETAIL = f"{SHEET}/slots/s001"


def test_detail_needs_a_session(app):
    """The page and its map redirect an anonymous visitor to the sign-in page."""
    with TestClient(app) as anonymous:
        for path in [DETAIL, f"{DETAIL}/area.svg"]:
            response = anonymous.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")


def test_sheet_links_slot_names_to_their_detail_page(client):
    """Each slot's name on the sheet links to its detail page."""
    html = client.get(SHEET).text
    assert f'href="{DETAIL}"' in html and f'href="{SHEET}/slots/s002"' in html


def test_page_shows_header_and_every_member(client):
    """The header counts the slot and links back; every member is listed with its facts."""
    html = client.get(DETAIL).text
    assert "s001" in html and "Rain from 7 am, 40–45°F" in html
    assert "3 ZIPs · true for 3" in html and f'href="{SHEET}#slot-s001"' in html
    assert "All 3 members" in html
    rows = [html.index(f"<td>{z}</td>") for z in ("02903", "02904", "02905")]
    assert rows == sorted(rows)  # sorted by state, then ZIP
    assert "02806" not in html  # another slot's member
    assert "Providence" in html and "41°F" in html and "rain from 7 am" in html
    assert "breezy" in html and "overcast" in html
    assert "The slot's message is true for every member." in html


def test_misfits_come_first_with_their_automatic_message(misfit_run, client):
    """A misfit is listed in its own section, before the member table, with its message."""
    html = client.get(DETAIL).text
    misfits = html.index('id="misfits"')
    members = html.index('id="members"')
    assert misfits < members
    section = html[misfits:members]
    assert "Misfits (1)" in section and "<td>02904</td>" in section
    assert "<td>02903</td>" not in section
    assert "&lt;script&gt;alert(&#39;auto&#39;)&lt;/script&gt; Rain from 8 am" in section
    assert "3 ZIPs · true for 2" in html and "1 get the automatic message" in html
    assert '<tr class="misfit"><td>02904</td>' in html[members:]


def test_per_state_truth_flags_a_state_below_the_floor(misfit_run, client):
    """2 of 3 RI ZIPs fit: 66.7 %, below the 85 % floor, said in words and marked."""
    html = client.get(DETAIL).text
    assert "1 state below the 85% state floor: RI." in html
    assert ('<tr class="below-floor"><td>RI</td><td class="num">3</td>'
            '<td class="num">2</td><td class="num">66.7%</td>') in html
    assert "below the floor" in html
    other = client.get(f"{SHEET}/slots/s002").text
    assert "Every state is at or above the 85% state floor." in other
    assert 'class="below-floor"' not in other


def test_state_truth_matches_a_brute_force_count():
    """Per-state counts equal a plain loop; exactly at the floor is not flagged."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"state": rng.choice(["MA", "NY", "RI"], 200),
                          "fits": rng.random(200) > 0.2})
    frame = pd.concat([frame, pd.DataFrame({"state": ["VT"] * 20,
                                            "fits": [True] * 17 + [False] * 3})])
    got = {s.state: s for s in state_truth(frame, 0.85)}
    assert list(got) == ["MA", "NY", "RI", "VT"]
    for state, truth in got.items():
        members = [fit for st, fit in zip(frame["state"], frame["fits"], strict=True)
                   if st == state]
        assert (truth.n, truth.n_fit) == (len(members), sum(members))
        assert truth.below_floor == (round(sum(members) / len(members), 4) < 0.85)
    assert got["VT"].share == 0.85 and not got["VT"].below_floor


def test_member_rows_format_missing_and_dry_values():
    """A dry ZIP reads "dry", a missing number "—", hazards are comma-separated."""
    frame = pd.DataFrame({
        "zip": ["02903"], "city": ["Providence"], "state": ["RI"], "distance": [0.5],
        "fits": [True], "automatic_message": [None], "high_f": [np.nan], "low_f": [29.6],
        "pop_max": [4.0], "precip": [False], "precip_type": ["none"],
        "precip_start_hour": [np.nan], "wind_category": ["calm"], "sky": ["sunny"],
        "hazards": ["freeze|strong gusts"]})
    (row,) = member_rows(frame)
    assert (row.high, row.low, row.precip, row.chance) == ("—", "30°F", "dry", "4%")
    assert row.hazards == "freeze, strong gusts" and row.automatic_message == ""


def test_area_map_is_well_formed_svg_with_paths(client):
    """area.svg is an SVG image of the slot and its neighbour, inlined on the page too."""
    response = client.get(f"{DETAIL}/area.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.text)
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title").text.startswith("Area of s001")
    paths = [p for p in root.findall(f".//{SVG}path") if p.get("class") != "state-lines"]
    assert len(paths) == 2  # the slot and its one neighbour, s002
    assert {p.get("fill") for p in paths} == {"#0f766e", "#e5e7eb"}
    members = [c for c in root.findall(f".//{SVG}circle") if c.get("class") != "place"]
    assert len(members) == 3  # one dot per member ZIP (place labels are marked apart)
    assert response.text in client.get(DETAIL).text


def test_a_slot_spanning_alaska_gets_its_own_panel():
    """ZIPs in Alaska and the lower 48 are drawn in two panels, each labelled."""
    zips = load_zips(["RI", "AK"])
    ak = zips["zip"][zips["state"] == "AK"].head(4).tolist()
    assignments = pd.DataFrame({"zip": [*MEMBERS, *ak],
                                "slot_id": ["s001"] * 3 + ["s002"] * 2 + ["s001"] * 4,
                                "distance": 0.0, "fits": True})
    svg = RunDetail(assignments, zips).area_svg("s001", "s001 <b>")
    root = ET.fromstring(svg)
    panels = root.findall(f"{SVG}svg")
    assert [p.find(f"{SVG}text[@class='panel-label']").text
            for p in panels] == ["Alaska", "lower 48"]
    assert root.find(f"{SVG}title").text == "s001 <b>"
    assert all(p.findall(f"{SVG}path") for p in panels)


def test_unknown_run_or_slot_is_404(client):
    """An unknown slot or run answers 404 and says which."""
    for path in [f"{SHEET}/slots/s999", f"{SHEET}/slots/s999/area.svg"]:
        response = client.get(path)
        assert response.status_code == 404
        assert "no slot &#39;s999&#39; in run" in response.text  # the error page escapes
    response = client.get("/runs/nope/slots/s001")
    assert response.status_code == 404 and "no run &#39;nope&#39;" in response.text


def test_hostile_name_and_automatic_message_are_escaped(misfit_run, client):
    """Markup in a slot name or automatic message shows as text, in the page and the map."""
    html = client.get(DETAIL).text
    assert HOSTILE_NAME not in html and HOSTILE_AUTOMATIC not in html
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt; Providence" in html
    svg = client.get(f"{DETAIL}/area.svg").text
    assert "<script>" not in svg
    assert HOSTILE_NAME in ET.fromstring(svg).find(f"{SVG}title").text


def test_page_survives_a_missing_assignments_file(review_settings, client):
    """Without assignments.parquet the stored membership still lists every member."""
    (review_settings.runs_dir / RUN_ID / "assignments.parquet").unlink()
    html = client.get(DETAIL).text
    assert "All 3 members" in html and "no assignments file" in html
    assert "<td>02905</td>" in html


def test_chart_builder_draws_lines_bands_and_axes():
    """The chart has barycenter and medoid lines, two bands, hour and unit ticks, a title."""
    hours = [21.0, 0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0]
    temps = np.array([40, 38, 36, 37, 45, 52, 55, 49.0])
    chance = np.array([10, 30, 80, 90, 60, 20, 5, 0.0])
    svg = series_chart_svg(hours, temps, chance, temp_band=(temps - 4, temps + 3),
                           precip_band=(chance * 0.5, np.minimum(chance + 10, 100)),
                           medoid_temperature=temps + 1, medoid_precip=chance,
                           medoid_zip="02903", label="s001 <b>Coast</b>")
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == "s001 <b>Coast</b>"
    lines = root.findall(f"{SVG}polyline")
    assert sorted(p.get("class") for p in lines) == ["barycenter"] * 2 + ["medoid"] * 2
    assert len(root.findall(f"{SVG}polygon")) == 2
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"9 pm", "midnight", "noon", "6 pm"} <= set(texts)
    assert {"30°F", "60°F", "0%", "50%", "100%"} <= set(texts)
    assert "medoid ZIP 02903" in texts
    # every drawn y lies inside the canvas
    ys = [float(xy.split(",")[1]) for p in lines for xy in p.get("points").split()]
    assert 0 < min(ys) and max(ys) < float(root.get("height"))


def test_chart_builder_needs_two_steps():
    """Fewer than two temperature steps draw nothing; NaNs are skipped, not drawn as 0."""
    assert series_chart_svg([6.0], [40.0], [10.0]) == ""
    svg = series_chart_svg([6.0, 7.0, 8.0], [40.0, np.nan, 42.0], [10.0, 20.0, 30.0])
    barycenter = ET.fromstring(svg).findall(f"{SVG}polyline")[0]
    assert len(barycenter.get("points").split()) == 2


def test_nice_ticks_cover_the_range():
    """Ticks are round steps that cover the data."""
    assert nice_ticks(31, 47) == [30, 35, 40, 45, 50]
    ticks = nice_ticks(-3.2, 101.7)
    assert ticks[0] <= -3.2 and ticks[-1] >= 101.7 and len(ticks) <= 8
    assert nice_ticks(20, 20) == [19.0, 19.5, 20.0, 20.5, 21.0]
