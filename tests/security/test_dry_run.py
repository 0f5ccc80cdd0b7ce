"""Row "(high) `zipcast dispatch --dry-run` marks every delivery `sent` in the real outbox:
after a dry run of 2,045 deliveries the real dispatch sent 0, and `--report` shows them as
sent." A rehearsal keeps its own outbox; the real dispatch after it sends everything."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.dispatch.job import dispatch, report
from pipeline.dispatch.models import Delivery, DryDelivery
from pipeline.store.db import get_engine
from tests.pipeline.dispatch.test_dispatch import add_subscriber, approve, at
from tests.pipeline.review.conftest import store_run


def _count(url: str, table) -> int:  # noqa: ANN001
    with Session(get_engine(url)) as db:
        return db.scalar(select(func.count()).select_from(table)) or 0


def test_a_dry_run_then_the_real_dispatch_sends_everything(tmp_path, smtp_server,
                                                           dispatch_settings):
    """A dry run writes its file and its own rows only; the real dispatch then mails every
    subscriber once, and the report counts real deliveries only."""
    from pipeline.settings import Settings

    settings = Settings(data_dir=tmp_path, dispatch=dispatch_settings)
    store_run(settings)
    zips = ["02903", "02904", "02905", "02806", "02809"]
    for i in range(40):
        add_subscriber(settings.db_url, zips[i % 5], email=f"reader{i}@example.com")
    approve(settings.db_url, "s001", "Rain in {{ city }}, high {{ high }}.")
    approve(settings.db_url, "s002", "Snow in {{ city }}.")

    rehearsal = dispatch(settings, dry_run=True, now=lambda: at(13, 5))
    assert rehearsal.outcomes["sent"] == 40 and smtp_server.messages == []
    assert _count(settings.db_url, Delivery) == 0, "a dry run wrote the real outbox"
    assert _count(settings.db_url, DryDelivery) == 40
    assert report(settings).empty  # nothing real yet

    real = dispatch(settings, now=lambda: at(13, 6))
    assert real.outcomes["sent"] == 40
    per_address = Counter(m["To"] for m in smtp_server.messages)
    assert len(per_address) == 40 and max(per_address.values()) == 1
    counts = report(settings).groupby("status")["n"].sum().to_dict()
    assert counts == {"sent": 40}
    assert report(settings, dry_run=True).groupby("status")["n"].sum().to_dict() == {"sent": 40}
