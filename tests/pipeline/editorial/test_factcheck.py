"""Tests for the fact check of an editor's text and the approval policy built on it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from pipeline.editorial.factcheck import fact_check, slot_facts
from pipeline.editorial.messages import (
    FactCheckBlocked,
    OverrideRefused,
    approve_remaining,
    check_for_approval,
    save,
)
from pipeline.editorial.models import AuditEntry, Editor, Message
from pipeline.settings import TruthRules
from pipeline.store.db import get_engine, migrate, session_scope
from pipeline.store.models import Run, Slot

RULES = TruthRules()
NOW = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
BONE_DRY = "Sunny and bone dry all day – leave the umbrella at home"


def rainy(n: int = 5, onset: float = 6.0, slot: str = "s001") -> pd.DataFrame:
    """Assignments rows of a slot whose members all have rain from 6 am, overcast."""
    return pd.DataFrame({
        "zip": [f"029{i:02d}" for i in range(n)], "slot_id": slot,
        "distance": np.arange(n, dtype=float), "fits": True, "state": "RI",
        "high_f": np.linspace(50, 53, n), "low_f": 40.0, "precip": True,
        "precip_type": "rain", "precip_start_hour": onset, "precip_onset_h": onset,
        "wind_category": "breezy", "sky": "overcast", "hazards": "", "step_hours": 1,
        "window_hours": 18, "window_start_h": 6.0})


def test_issue_example_is_false_with_share_and_why():
    """'bone dry' on a slot with rain from 6 am everywhere is false for all, and says why."""
    fc = fact_check(BONE_DRY, rainy(), rules=RULES, weights={"02900": 30, "02901": 70})
    assert fc.basis == "subscribers" and fc.blocked(0.05)
    dry = next(c for c in fc.claims if c.words == "bone dry")
    assert dry.false and dry.false_share == 1.0 and dry.n_false == 5
    assert dry.description == "dry"
    assert "“bone dry” is false for 100 % of this slot's subscribers (rain from 6 am there)" \
        in fc.problems(0.05)


def test_shares_are_weighted_by_subscribers_or_zips():
    """A claim's false share is the larger of its subscriber share and its ZIP share: where
    today's subscribers live does not make a claim false in most ZIPs true (people sign up
    before dispatch), and a claim false where most subscribers live is false."""
    facts = rainy(4)
    facts.loc[0, "precip_type"] = "none"
    facts.loc[0, "precip_onset_h"] = np.nan
    few_there = fact_check("Rain from 6 am", facts, rules=RULES,
                           weights={"02900": 1, "02901": 1, "02902": 1, "02903": 97})
    rain = few_there.claims[0]
    assert rain.false_share == pytest.approx(0.25) and rain.n_false == 1  # 1 of 4 ZIPs
    many_there = fact_check("Rain from 6 am", facts, rules=RULES,
                            weights={"02900": 97, "02901": 1, "02902": 1, "02903": 1})
    assert many_there.claims[0].false_share == pytest.approx(0.97)
    equal = fact_check("Rain from 6 am", facts, rules=RULES)
    assert equal.basis == "ZIPs" and equal.claims[0].false_share == pytest.approx(0.25)
    assert fact_check("Rain from 6 am", facts, rules=RULES, weights={}).basis == "ZIPs"


def test_true_message_and_wit_pass():
    """A true message, and one of only wit or placeholders, are not blocked."""
    assert not fact_check("Rain from 6 am, highs 50-53°F. Overcast and breezy.", rainy(),
                          rules=RULES).blocked(0.0)
    fc = fact_check("A real stunner of a day in {{ city }}, {{ high }}°F", rainy(), rules=RULES)
    assert fc.claims == () and not fc.blocked(0.0)


def test_pieces_mark_the_false_claims():
    """The text is cut into pieces with the false claims marked."""
    fc = fact_check(BONE_DRY, rainy(), rules=RULES)
    marked = [piece for piece, bad in fc.pieces() if bad]
    assert marked == ["Sunny", "bone dry", "leave the umbrella at home"]
    assert "".join(piece for piece, _ in fc.pieces()) == BONE_DRY


def test_5000_members_check_fast():
    """A check on a 5,000-member slot's built facts takes well under 20 ms."""
    import time
    n = 5000
    facts = slot_facts(rainy(n).assign(zip=[f"{i:05d}" for i in range(n)]))
    fact_check(BONE_DRY, facts, rules=RULES)
    start = time.perf_counter()
    for i in range(20):
        fact_check(f"{BONE_DRY} {i}", facts, rules=RULES)
    assert (time.perf_counter() - start) / 20 < 0.020


def test_check_for_approval_lists_problems():
    """The import path's check gives the false claims, and nothing for a true text."""
    assert check_for_approval("Rain from {{ rain_start }}", rainy()) == []
    problems = check_for_approval(BONE_DRY, rainy())
    assert any("bone dry" in line for line in problems)
    assert check_for_approval("{{ snow_start }}", rainy())  # the fill check comes first


# -- the approval policy, on a stored run -------------------------------------------------

@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'z.sqlite'}"
    migrate(url)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    pd.concat([rainy(), rainy(3, slot="s002").assign(zip=["02990", "02991", "02992"])]
              ).to_parquet(run_dir / "assignments.parquet")
    with session_scope(url) as session:
        session.add(Run(id="r1", created_at=NOW, issue_time=NOW, source="synthetic",
                        window="morning", n_zips=8, n_slots=2, params={}, summary={},
                        run_dir=str(run_dir)))
        for rank, (slot_id, draft) in enumerate((("s001", BONE_DRY),
                                                 ("s002", "Rain from 6 am."))):
            session.add(Slot(id=f"r1/{slot_id}", run_id="r1", slot_id=slot_id, rank=rank,
                             name=slot_id, headline="Rain", n_zips=3, n_fit=3, states={},
                             facts={}, representative={}, medoid_zip="02900",
                             draft_message=draft))
        session.add_all([Editor(name="eli", role="editor", password_hash="x", created_at=NOW),
                         Editor(name="dana", role="lead", password_hash="x", created_at=NOW)])
    with Session(get_engine(url)) as session:
        yield session


def _slot(db, slot_id="s001"):
    return db.get(Slot, f"r1/{slot_id}")


def _editor(db, name):
    return db.scalar(select(Editor).where(Editor.name == name))


def test_false_message_is_refused_and_kept_as_draft(db):
    """Approving the issue's text is refused with the claim and share; it is saved as draft."""
    with pytest.raises(FactCheckBlocked) as refused:
        save(db, _slot(db), BONE_DRY, 0, _editor(db, "eli"), approve=True, now=NOW,
             max_false_share=0.05, rules=RULES)
    assert any("“bone dry” is false for 100 % of this slot's ZIPs (rain from 6 am there)"
               == line for line in refused.value.problems)
    assert refused.value.check.blocked(0.05)
    assert db.get(Message, "r1/s001").status == "draft"


def test_true_message_approves(db):
    """A message true for the slot's members is approved."""
    saved = save(db, _slot(db), "Rain from 6 am, highs near 51°F.", 0, _editor(db, "eli"),
                 approve=True, now=NOW, max_false_share=0.05, rules=RULES)
    assert saved.status == "approved"


def test_lead_override_keeps_the_reason(db):
    """A lead approves over the fact check with a reason, which the audit log keeps."""
    saved = save(db, _slot(db), BONE_DRY, 0, _editor(db, "dana"), approve=True, now=NOW,
                 override_reason="  Radar shows the rain gone by 5 am  ",
                 max_false_share=0.05, rules=RULES)
    assert saved.status == "approved"
    entry = db.scalars(select(AuditEntry).where(AuditEntry.slot_id == "r1/s001")).one()
    assert entry.action == "override" and entry.reason == "Radar shows the rain gone by 5 am"


def test_non_lead_or_blank_override_is_refused(db):
    """An editor cannot override, and a lead must write a reason; nothing is written."""
    with pytest.raises(OverrideRefused, match="not a lead"):
        save(db, _slot(db), BONE_DRY, 0, _editor(db, "eli"), approve=True, now=NOW,
             override_reason="trust me", max_false_share=0.05, rules=RULES)
    with pytest.raises(OverrideRefused, match="write why"):
        save(db, _slot(db), BONE_DRY, 0, _editor(db, "dana"), approve=True, now=NOW,
             override_reason="   ", max_false_share=0.05, rules=RULES)
    assert db.get(Message, "r1/s001") is None


def test_approve_all_skips_a_false_draft(db):
    """Approve all approves the true draft and reports the false one with its claims."""
    slots = [_slot(db, "s001"), _slot(db, "s002")]
    members = {s.id: rainy().to_dict("records") for s in slots}
    dry = approve_remaining(db, slots, _editor(db, "dana"), now=NOW,
                            members_of=lambda s: members[s.id], max_false_share=0.05,
                            rules=RULES, dry_run=True)
    assert dry[0] == ["s002"] and db.get(Message, "r1/s002") is None
    approved, skipped = approve_remaining(db, slots, _editor(db, "dana"), now=NOW,
                                          members_of=lambda s: members[s.id],
                                          max_false_share=0.05, rules=RULES)
    assert approved == ["s002"] and list(skipped) == ["s001"]
    assert any("bone dry" in line for line in skipped["s001"])
    assert db.get(Message, "r1/s001") is None
    assert db.get(Message, "r1/s002").status == "approved"


def test_caller_check_is_used_for_the_same_text(db):
    """A subscriber-weighted check from the caller decides, when it is for the same text."""
    lenient = fact_check(BONE_DRY, rainy(), rules=RULES)
    saved = save(db, _slot(db), BONE_DRY, 0, _editor(db, "eli"), approve=True, now=NOW,
                 check=lenient, max_false_share=1.0, rules=RULES)
    assert saved.status == "approved"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'zipcast.sqlite'}"
    url = request.getfixturevalue("postgres_url")
    with get_engine(url).begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    return url


def test_migration_adds_the_audit_reason(db_url):
    """Migration 0008 adds a nullable reason to the audit log, on SQLite and PostgreSQL."""
    migrate(db_url)
    migrate(db_url)
    columns = {c["name"]: c for c in inspect(get_engine(db_url)).get_columns("message_audit")}
    assert columns["reason"]["nullable"]
