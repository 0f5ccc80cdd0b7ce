"""A run's dispatch as prepare + N send partitions: the same deliveries as one dispatch(), each
once, also when the partitions run at once (threads, processes) or one of them crashes.

The run is the small stored one of tests/pipeline/review/conftest.py, with a few dozen
subscribers spread over its ZIPs and channels; at 13:05 UTC the 8:00 EST deliveries are due.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from pipeline.channels.file import FileChannel, outbox_files, read_outbox
from pipeline.dispatch.job import dispatch
from pipeline.dispatch.locks import DispatchBusy, run_lock
from pipeline.dispatch.models import Delivery, DryDelivery, Subscriber
from pipeline.dispatch.outbox import due_rows, mark_sending
from pipeline.dispatch.partitions import (
    merge_results,
    outbox_path,
    partition_lock,
    prepare,
    send_partition,
)
from pipeline.dispatch.result import DispatchResult
from pipeline.dispatch.send import Channels
from pipeline.settings import Settings
from pipeline.store.db import get_engine
from tests.pipeline.review.conftest import MEMBERS, RUN_ID, store_run

from .test_dispatch import approve

T0 = datetime(2026, 1, 15, tzinfo=UTC)
# picklable (a spawned process gets it): the fixed clock of every call here
NOW = partial(datetime.fromisoformat, "2026-01-15T13:05:00+00:00")
N = 3


def make_run(data_dir: Path, n: int = 60,
             channels: tuple[str, ...] = ("email", "sms", "webhook"),
             database_url: str | None = None) -> Settings:
    """The stored run, both slots approved, ``n`` subscribers cycling through ``channels`` in
    threes (so every partition of 3 has every channel); every 7th has opted out and every
    5th wants it at 9:00 (not due at 13:05 UTC)."""
    settings = Settings(data_dir=data_dir, database_url=database_url)
    store_run(settings)
    approve(settings.db_url, "s001", "Rain from {{ rain_start }} in {{ city }}, {{ high }}°F.")
    approve(settings.db_url, "s002", "Snow from {{ snow_start }} in {{ city }}.")
    zips = list(MEMBERS)
    rows = []
    for i in range(n):
        channel = channels[i // 3 % len(channels)]
        rows.append({"zip": zips[i % len(zips)], "timezone": "America/New_York",
                     "phone": f"+1401555{i:04d}" if channel == "sms" else None,
                     "email": f"s{i}@example.com" if channel == "email" else None,
                     "webhook_url": f"http://127.0.0.1:9/h{i}" if channel == "webhook" else None,
                     "morning_at": "09:00" if i % 5 == 4 else "07:00", "evening_at": "18:00",
                     "status": "opted_out" if i % 7 == 6 else "active", "opted_out_at": None,
                     "opt_out_via": None, "token": f"t{i}", "created_at": T0, "updated_at": T0})
    with get_engine(settings.db_url).begin() as connection:
        connection.execute(insert(Subscriber), rows)
    return settings


def rows(settings: Settings) -> list[tuple]:
    """The dry-run outbox (every test here dispatches dry: a rehearsal has its own table)."""
    with Session(get_engine(settings.db_url)) as db:
        return sorted(db.execute(select(
            DryDelivery.subscriber_id, DryDelivery.channel, DryDelivery.slot_id,
            DryDelivery.status, DryDelivery.body, DryDelivery.attempts,
            DryDelivery.error)).all())


def lines(settings: Settings) -> list[dict]:
    return read_outbox(outbox_path(settings, RUN_ID))


def subscriber(key: str) -> int:
    return int(key.split("/")[-2])


def send_all(settings: Settings, **kwargs) -> list[DispatchResult]:
    return [send_partition(settings, RUN_ID, p, N, now=NOW, **kwargs) for p in range(N)]


@pytest.fixture
def split(tmp_path) -> Settings:
    return make_run(tmp_path / "split")


def test_prepare_then_partitions_send_exactly_what_one_dispatch_sends(tmp_path, split):
    one = make_run(tmp_path / "one")
    single = dispatch(one, dry_run=True, now=NOW)

    head = prepare(split, dry_run=True, now=NOW)
    assert head.enqueued == single.enqueued and head.planned == single.planned
    assert head.gate == single.gate and not head.outcomes and not lines(split)
    assert {r[3] for r in rows(split) if r[2] and r[3] != "skipped"} == {"pending"}

    parts = send_all(split, dry_run=True)
    for p, part in enumerate(parts):  # each partition sent its own subscribers, to its file
        assert part.partition == (p, N) and part.outbox.endswith(f".part-{p}-of-{N}.jsonl")
        keys = [line["key"] for line in read_outbox(part.outbox)]
        assert keys and {subscriber(k) % N for k in keys} == {p}
        assert part.outcomes["sent"] == len(keys)

    total = merge_results([head, *parts])
    assert total.outcomes == single.outcomes and total.enqueued == single.enqueued
    assert total.planned == single.planned and total.gate == single.gate
    assert total.outbox == single.outbox.replace("/one/", "/split/")
    assert set(total.seconds) == {"reconcile", "plan", "enqueue", "send"}
    got, want = lines(split), lines(one)
    assert len(got) == len(want) == single.outcomes["sent"] > 20
    assert Counter(line["key"] for line in got).most_common(1)[0][1] == 1  # none twice
    key = lambda line: line["key"]  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)  # same messages, same text
    assert rows(split) == rows(one)  # same outbox table: statuses, bodies, attempts


def test_a_rerun_sends_nothing(split):
    prepare(split, dry_run=True, now=NOW)
    first = send_all(split, dry_run=True)
    sent = lines(split)
    again = send_all(split, dry_run=True)
    assert all(not r.outcomes for r in again) and sum(r.outcomes["sent"] for r in first) > 0
    head = prepare(split, dry_run=True, now=NOW)
    assert head.enqueued == 0 and not any(head.reconciled.values())
    assert not send_all(split, dry_run=True)[0].outcomes
    assert not dispatch(split, dry_run=True, now=NOW).outcomes
    assert lines(split) == sent


class Crash(BaseException):
    """The process dying mid-send (not an error the dispatcher would handle)."""


class CrashingFile(FileChannel):
    """Writes the first ``keep`` messages of its batch, then the process 'dies'."""

    def __init__(self, path: Path, keep: int) -> None:
        super().__init__(path)
        self.keep = keep

    def send_many(self, messages):
        if self.keep:
            super().send_many(messages[:self.keep])
        raise Crash


def test_rows_a_crashed_partition_left_sending_are_reconciled_by_the_next_prepare(split):
    prepare(split, dry_run=True, now=NOW)
    send_partition(split, RUN_ID, 0, N, now=NOW, dry_run=True)
    for part, keep in [(1, 3), (2, 0)]:  # 1 dies after 3 messages went out, 2 before any
        path = outbox_path(split, RUN_ID, part, N)
        with pytest.raises(Crash):
            send_partition(split, RUN_ID, part, N, now=NOW, dry_run=True,
                           channel_factory=lambda name, p=path, k=keep: CrashingFile(p, k))
    stuck = [r for r in rows(split) if r[3] == "sending"]  # the batch each died in
    assert len(stuck) > 3 and {r[0] % N for r in stuck} == {1, 2}
    # a partition never reconciles: its other rows go out, the stuck ones stay where they are
    assert [bool(r.outcomes) for r in send_all(split, dry_run=True)] == [False, True, True]
    assert [r for r in rows(split) if r[3] == "sending"] == stuck

    head = prepare(split, dry_run=True, now=NOW)  # sees partition 1's file through the run's
    assert head.reconciled == {"found_sent": 3, "resent": len(stuck) - 3}
    parts = send_all(split, dry_run=True)
    assert [r.outcomes["sent"] for r in parts] == [
        0, sum(r[0] % N == 1 for r in stuck) - 3, sum(r[0] % N == 2 for r in stuck)]
    keys = Counter(line["key"] for line in lines(split))
    sent = [r for r in rows(split) if r[3] == "sent"]
    assert len(keys) == len(sent) and max(keys.values()) == 1
    assert not [r for r in rows(split) if r[3] in ("pending", "sending") and r[2]]
    # the run's outbox is its file plus the partition files
    assert [p.name for p in outbox_files(outbox_path(split, RUN_ID))] == [
        f"{RUN_ID}.part-{p}-of-{N}.jsonl" for p in range(N)]


class Gathered:
    """A file channel; a partition's first batch waits until every partition is sending."""

    def __init__(self, path: Path, barrier: threading.Barrier, first: list[bool]) -> None:
        self.inner, self.barrier, self.first, self.name = FileChannel(path), barrier, first, "file"

    def send_many(self, messages):
        if self.first:  # shared by the partition's channels: once per partition
            self.first.clear()
            self.barrier.wait(timeout=20)  # BrokenBarrierError unless all N get here
        return self.inner.send_many(messages)

    def send(self, message):
        return self.inner.send(message)

    def already_sent(self, messages):
        return self.inner.already_sent(messages)

    def close(self):
        self.inner.close()


def test_partitions_sending_at_the_same_time_in_threads(tmp_path, split):
    one = make_run(tmp_path / "one")
    dispatch(one, dry_run=True, now=NOW)
    prepare(split, dry_run=True, now=NOW)
    split.dispatch.batch_size = 4  # several claims per partition, interleaved
    barrier = threading.Barrier(N)

    def run(part: int) -> DispatchResult:
        path, first = outbox_path(split, RUN_ID, part, N), [True]
        return send_partition(split, RUN_ID, part, N, now=NOW, dry_run=True,
                              channel_factory=lambda name: Gathered(path, barrier, first))

    with ThreadPoolExecutor(N) as pool:
        parts = list(pool.map(run, range(N)))
    assert all(r.outcomes["sent"] for r in parts)
    keys = Counter(line["key"] for line in lines(split))
    assert max(keys.values()) == 1 and set(keys) == {line["key"] for line in lines(one)}
    assert rows(split) == rows(one)


def test_partitions_in_separate_processes_through_a_real_smtp_server(tmp_path,
                                                                     dispatch_settings,
                                                                     smtp_server):
    """What a worker process does: settings and clock pickled to it, its own locks and
    database connections, the result pickled back; the rate is shared (300 emails/s in all,
    100/s a partition). Forked (a spawned process spends ~10 s importing the pipeline); the
    child drops the engines it inherited, as a process must that forks after connecting."""
    settings = make_run(tmp_path, n=45, channels=("email",))
    settings.dispatch = dispatch_settings
    settings.dispatch.rate_per_second = {**dispatch_settings.rate_per_second, "email": 300.0}
    head = prepare(settings, now=NOW)
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(N, mp_context=fork, initializer=get_engine.cache_clear) as pool:
        parts = list(pool.map(partial(send_partition, settings, RUN_ID, n_parts=N, now=NOW),
                              range(N)))
    total = merge_results([head, *parts])
    with Session(get_engine(settings.db_url)) as db:
        sent = Counter(db.scalars(select(Delivery.address).where(Delivery.status == "sent")))
    assert total.outcomes == Counter(sent=sent.total()) and sent.total() > 15
    assert all(r.outcomes["sent"] for r in parts)
    per_address = Counter(m["To"] for m in smtp_server.messages)
    assert per_address == sent and max(per_address.values()) == 1  # each once, none missing
    assert not [r for r in rows(settings) if r[3] in ("pending", "sending") and r[2]]


def test_overlapping_layouts_never_send_a_row_twice(split):
    """Partitions of 2 and of 3 at once (a changed n while old ones still run): the claim
    is atomic, so each row goes out once whoever gets it."""
    prepare(split, dry_run=True, now=NOW)
    split.dispatch.batch_size = 2
    layouts = [(p, n) for n in (2, 3) for p in range(n)]
    with ThreadPoolExecutor(len(layouts)) as pool:
        parts = list(pool.map(lambda pn: send_partition(split, RUN_ID, *pn, now=NOW,
                                                        dry_run=True), layouts))
    keys = Counter(line["key"] for line in lines(split))
    sent = [r for r in rows(split) if r[3] == "sent"]
    assert max(keys.values()) == 1 and len(keys) == len(sent)
    assert sum(r.outcomes["sent"] for r in parts) == len(sent)
    assert all(r[5] == 1 for r in sent)  # one attempt each


@pytest.mark.postgres
def test_partitions_at_once_on_postgresql(tmp_path, postgres_url):
    """The same on PostgreSQL (row locks instead of SQLite's one writer): three partitions
    and an overlapping layout of two, all at once; every delivery once."""
    with get_engine(postgres_url).begin() as connection:  # a clean schema
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    settings = make_run(tmp_path, database_url=postgres_url)
    head = prepare(settings, dry_run=True, now=NOW)
    settings.dispatch.batch_size = 3
    layouts = [(p, N) for p in range(N)] + [(0, 2), (1, 2)]
    with ThreadPoolExecutor(len(layouts)) as pool:
        parts = list(pool.map(lambda pn: send_partition(settings, RUN_ID, *pn, now=NOW,
                                                        dry_run=True), layouts))
    total = merge_results([head, *parts])
    keys = Counter(line["key"] for line in lines(settings))
    sent = [r for r in rows(settings) if r[3] == "sent"]
    assert max(keys.values()) == 1 and len(keys) == len(sent) == total.outcomes["sent"] > 20
    assert not [r for r in rows(settings) if r[3] in ("pending", "sending") and r[2]]


@pytest.mark.postgres
def test_locks_hold_across_machines_on_postgresql(tmp_path, postgres_url):
    """Two machines (each its own lock files) on one PostgreSQL: the advisory locks exclude a
    second dispatcher of the run, a second copy of a partition, and a prepare beside
    partitions; partitions side by side are fine; everything is released on exit."""
    a, b = tmp_path / "host-a", tmp_path / "host-b"
    with run_lock(a, RUN_ID, db_url=postgres_url):
        with pytest.raises(DispatchBusy, match="another dispatcher"), \
                run_lock(b, RUN_ID, db_url=postgres_url):
            pass
        with pytest.raises(DispatchBusy, match="prepared"), \
                partition_lock(b, RUN_ID, 1, N, db_url=postgres_url):
            pass
    with partition_lock(a, RUN_ID, 0, N, db_url=postgres_url), \
            partition_lock(b, RUN_ID, 1, N, db_url=postgres_url):
        with pytest.raises(DispatchBusy, match="partition 0 of 3"), \
                partition_lock(b, RUN_ID, 0, N, db_url=postgres_url):
            pass
        with pytest.raises(DispatchBusy, match="another dispatcher"), \
                run_lock(b, RUN_ID, db_url=postgres_url):
            pass
    with run_lock(b, RUN_ID, db_url=postgres_url):  # all released
        pass


def test_a_claim_is_atomic(split):
    prepare(split, dry_run=True, now=NOW)
    engine = get_engine(split.db_url)
    with Session(engine, expire_on_commit=False) as first, \
            Session(engine, expire_on_commit=False) as second:
        mine = due_rows(first, RUN_ID, "morning", NOW(), 100, partition=(1, N),
                        table=DryDelivery)
        theirs = due_rows(second, RUN_ID, "morning", NOW(), 100, partition=(1, N),
                          table=DryDelivery)
        assert mine and {r.id for r in mine} == {r.id for r in theirs}
        assert {r.subscriber_id % N for r in mine} == {1}
        assert mark_sending(first, mine, NOW()) == mine
        assert mark_sending(second, theirs, NOW()) == []
        assert all(r.attempts == 1 and r.status == "sending" for r in mine)


def test_locks(split):
    prepare(split, dry_run=True, now=NOW)
    with partition_lock(split.data_dir, RUN_ID, 0, N):
        with pytest.raises(DispatchBusy, match="partition 0 of 3"):
            send_partition(split, RUN_ID, 0, N, now=NOW, dry_run=True)
        assert send_partition(split, RUN_ID, 1, N, now=NOW, dry_run=True).outcomes["sent"]
        with pytest.raises(DispatchBusy):
            prepare(split, dry_run=True, now=NOW)
        with pytest.raises(DispatchBusy):
            dispatch(split, dry_run=True, now=NOW)
    with run_lock(split.data_dir, RUN_ID), pytest.raises(DispatchBusy, match="prepared"):
        send_partition(split, RUN_ID, 2, N, now=NOW, dry_run=True)
    for part, n_parts in [(3, 3), (-1, 3), (0, 0)]:
        with pytest.raises(ValueError):
            send_partition(split, RUN_ID, part, n_parts, now=NOW, dry_run=True)


class Quiet:
    name = "sms"

    def send(self, message):
        raise AssertionError("not sending here")

    def already_sent(self, messages):
        return {}

    def close(self):
        pass


def test_each_partition_gets_its_share_of_the_rate(split):
    split.dispatch.rate_per_second = {"sms": 2.0, "email": 30.0}
    whole = Channels(split, RUN_ID, False, lambda name: Quiet())
    third = Channels(split, RUN_ID, False, lambda name: Quiet(), part=1, n_parts=3)
    for channels in (whole, third):
        channels.get("sms"), channels.get("email")
    assert whole.limiters["sms"].per_second == 2.0 and whole.limiters["sms"].try_acquire()
    assert third.limiters["sms"].per_second == pytest.approx(2 / 3)
    assert third.limiters["email"].per_second == 10.0
    assert not third.limiters["sms"].try_acquire()  # starts empty: no burst from n at once


def test_merge_results_refuses_mixed_runs():
    a = DispatchResult("r1", "morning", True, "gate", outcomes=Counter(sent=2))
    b = DispatchResult("r1", "morning", True, "", outcomes=Counter(sent=3, retry=1),
                       problems=["x"], partition=(1, 2))
    c = DispatchResult("r1", "morning", True, "", problems=["x", "y"], partition=(0, 2))
    total = merge_results([a, b, c])
    assert total.outcomes == Counter(sent=5, retry=1) and total.problems == ["x", "y"]
    assert total.gate == "gate" and total.partition is None
    with pytest.raises(ValueError):
        merge_results([a, DispatchResult("r2", "morning", True, "")])
    with pytest.raises(ValueError):
        merge_results([a, DispatchResult("r1", "morning", False, "")])
    with pytest.raises(ValueError):
        merge_results([])
