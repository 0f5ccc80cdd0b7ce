"""One run's dispatch in pieces: a prepare step, then N send partitions running in parallel.

For a flow that fans the sending out over workers (separate processes)::

    head = prepare(settings, run_id)                                  # one task
    parts = [send_partition(settings, head.run_id, p, n) for p in range(n)]  # n tasks, parallel
    total = merge_results([head, *parts])

- :func:`prepare` does what :func:`~pipeline.dispatch.job.dispatch` does before sending — gate,
  reconcile rows a crashed sender left in ``sending``, plan, enqueue — under the run's
  exclusive lock. It is safe to repeat (enqueue is insert-or-ignore).
- :func:`send_partition` sends the due pending deliveries of the subscribers with
  ``subscriber_id % n_parts == part``: the partitions are disjoint and together cover the
  run. It never plans or reconciles.
- :func:`merge_results` adds their :class:`~pipeline.dispatch.job.DispatchResult` up.

Exactly once, nothing lost
    Every delivery is one outbox row; a sender claims a row atomically (``pending`` →
    ``sending`` only if still pending, see :func:`~pipeline.dispatch.outbox.mark_sending`),
    so two senders never both send one row — not even partitions of different ``n_parts``
    that overlap. A row is ``pending`` again only through its own sender's retry or through
    reconcile, and reconcile (in :func:`prepare` and :func:`dispatch`) runs under the run's
    *exclusive* lock while every partition holds it *shared*: a reconcile can never mistake
    a live partition's in-flight rows for a crash's. Rows a killed partition left in
    ``sending`` wait for the next :func:`prepare` (the next flow tick), which asks the channel
    whether they went out and makes the rest pending again for the partitions after it.

Locks (flock in ``<data_dir>/locks``; the kernel drops them when a process dies)
    ``dispatch-<run>.lock``: exclusive for :func:`prepare` / :func:`dispatch`, shared for
    each partition. ``dispatch-<run>.part-<p>-of-<n>.lock``: exclusive per partition, so a
    second copy of the same partition is refused while different partitions run together.
    Nothing waits: a lock held elsewhere raises :class:`~pipeline.dispatch.job.DispatchBusy`
    (a prepare while partitions still send, a partition while a prepare runs).

Rates
    Each partition paces each channel at ``rate_per_second / n_parts`` and starts with an
    empty bucket, so n partitions sending at once stay within the provider's limit. Run
    one after another they are n times slower than one call; pass the ``n_parts`` that
    actually run at once.

Dry run
    Each partition appends to its own file ``<outbox_dir>/<run>.part-<p>-of-<n>.jsonl``
    (one writer per file; no reliance on concurrent ``O_APPEND``);
    :func:`~pipeline.channels.file.read_outbox` on the run's file
    ``<outbox_dir>/<run>.jsonl`` reads it and all its partition files, and so does the
    reconcile of the next :func:`prepare`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from pipeline.channels.base import Channel
from pipeline.dispatch.job import prepare_run, send_run
from pipeline.dispatch.locks import DispatchBusy, _flock, _pg_lock, lock_path, run_lock
from pipeline.dispatch.result import DispatchResult
from pipeline.dispatch.send import Channels, outbox_path
from pipeline.settings import Settings
from pipeline.store.db import get_engine, migrate
from pipeline.store.runs import pick_run
from pipeline.times import utc_now

__all__ = ["DispatchBusy", "DispatchResult", "merge_results", "outbox_path", "partition_lock",
           "prepare", "send_partition"]


@contextmanager
def partition_lock(data_dir: Path, run_id: str, part: int, n_parts: int, *,
                   db_url: str | None = None) -> Iterator[None]:
    """What a send partition holds: the run's lock shared (no prepare or dispatch meanwhile)
    and its own partition's exclusively (no second copy of it); on PostgreSQL also as
    advisory locks, across machines. Raises DispatchBusy."""
    path = lock_path(data_dir, run_id, f".part-{part}-of-{n_parts}")
    busy = f"partition {part} of {n_parts} of run {run_id} is already sending (lock {path})"
    with run_lock(data_dir, run_id, shared=True, db_url=db_url), _flock(path, True, busy), \
            _pg_lock(db_url, path.name, True, busy):
        yield


def prepare(settings: Settings, run_id: str | None = None, *,
            now: Callable[[], datetime] = utc_now, dry_run: bool = False,
            channel_factory: Callable[[str], Channel] | None = None,
            progress: Callable[[str, int], None] | None = None) -> DispatchResult:
    """Everything :func:`~pipeline.dispatch.job.dispatch` does before sending, nothing sent.

    Under the run's exclusive lock: the gate, reconcile of rows left in ``sending`` (by a
    crashed dispatcher or partition; the channel — or, on a dry run, the run's outbox files —
    is asked whether they went out), the plan, and enqueue (insert-or-ignore).

    Parameters
    ----------
    settings : zipcast settings
    run_id : the run; default the newest. Pass the result's ``run_id`` to the partitions.
    now : the wall clock (aware UTC)
    dry_run : reconcile against the dry-run outbox files instead of the real channels
    channel_factory : channel name -> Channel (default :func:`make_channel`), for reconcile
    progress : called with ("queued", count) as rows are written

    Returns
    -------
    DispatchResult
        ``planned``, ``enqueued``, ``reconciled``, ``gate``; no outcomes. On a dry run
        ``outbox`` is the run's outbox file (read with ``read_outbox``).

    Raises
    ------
    RunMissing, DispatchBusy (a dispatch, prepare or partition of the run is running)
    """
    migrate(settings.db_url)
    factory = sessionmaker(get_engine(settings.db_url), expire_on_commit=False)
    with factory() as db:
        run_id = pick_run(db, run_id).id
    with run_lock(settings.data_dir, run_id, db_url=settings.db_url), factory() as db:
        channels = Channels(settings, run_id, dry_run, channel_factory)
        try:
            return prepare_run(db, run_id, settings, channels, now=now, progress=progress)
        finally:
            channels.close()


def send_partition(settings: Settings, run_id: str, part: int, n_parts: int, *,
                   now: Callable[[], datetime] = utc_now, dry_run: bool = False,
                   channel_factory: Callable[[str], Channel] | None = None,
                   max_wait_s: float = 0.0, sleep: Callable[[float], None] = time.sleep,
                   progress: Callable[[str, int], None] | None = None) -> DispatchResult:
    """Send the due deliveries of one partition of a prepared run: the subscribers with
    ``subscriber_id % n_parts == part``.

    Holds :func:`partition_lock` (the run's lock shared, the partition's exclusive); plans
    nothing and reconciles nothing (that is :func:`prepare`'s). Opt-outs, retries with
    backoff, permanent failures: as in :func:`~pipeline.dispatch.job.dispatch`.

    Parameters
    ----------
    settings : zipcast settings
    run_id : the run (``prepare(...).run_id``); required, so every partition sends the same run
    part, n_parts : this partition, ``0 <= part < n_parts``
    now, dry_run, channel_factory, max_wait_s, sleep, progress : as for ``dispatch``;
        ``progress`` gets ("sent", count). ``max_wait_s`` waits for this partition's retries.

    Returns
    -------
    DispatchResult
        ``outcomes`` (sent, retry, failed, skipped), ``problems``, ``seconds["send"]``,
        ``partition`` = (part, n_parts); no gate or plan. On a dry run ``outbox`` is the
        partition's file ``<run>.part-<p>-of-<n>.jsonl`` (the run's file for one part).

    Raises
    ------
    ValueError (bad part), RunMissing, DispatchBusy (the run is being prepared or
    dispatched, or this partition is already sending)
    """
    if not (isinstance(part, int) and isinstance(n_parts, int) and 0 <= part < n_parts):
        raise ValueError(f"partition {part!r} of {n_parts!r}: need integers 0 <= part < n_parts")
    # no migrate: the prepare did it, and Alembic's global context is not thread-safe (a
    # thread task runner starts the partitions side by side in one process)
    factory = sessionmaker(get_engine(settings.db_url), expire_on_commit=False)
    with partition_lock(settings.data_dir, run_id, part, n_parts, db_url=settings.db_url), \
            factory() as db:
        run = pick_run(db, run_id)
        result = DispatchResult(run.id, run.window, dry_run, gate="",
                                partition=(part, n_parts))
        channels = Channels(settings, run.id, dry_run, channel_factory, sleep, part=part,
                            n_parts=n_parts)
        if dry_run:
            result.outbox = str(channels.path)
        try:
            return send_run(db, result, settings, channels, now=now, max_wait_s=max_wait_s,
                            sleep=sleep, progress=progress, partition=(part, n_parts))
        finally:
            channels.close()


def merge_results(results: Iterable[DispatchResult]) -> DispatchResult:
    """One total of a prepare and its partitions (or of any results of one run).

    Counts add up (``enqueued``, ``reconciled``, ``outcomes``, numbers in ``planned``);
    the gate is the first one given (the prepare's); problems are kept once each, in order;
    ``seconds`` takes each phase's longest (partitions run side by side). On a dry run
    ``outbox`` is the run's file, which ``read_outbox`` reads with its partition files.

    Raises
    ------
    ValueError
        No results, or results of different runs, windows or dry-run modes.
    """
    results = list(results)
    if not results:
        raise ValueError("merge_results needs at least one result")
    first = results[0]
    for other in results[1:]:
        if (other.run_id, other.window, other.dry_run) != (first.run_id, first.window,
                                                           first.dry_run):
            raise ValueError(f"cannot merge results of {first.run_id}/{first.window} "
                             f"(dry run {first.dry_run}) and {other.run_id}/{other.window} "
                             f"(dry run {other.dry_run})")
    total = DispatchResult(first.run_id, first.window, first.dry_run,
                           gate=next((r.gate for r in results if r.gate), ""))
    reconciled: Counter = Counter()
    for result in results:
        for key, value in result.planned.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                total.planned[key] = total.planned.get(key, 0) + value
            else:
                total.planned.setdefault(key, value)
        total.enqueued += result.enqueued
        reconciled.update(result.reconciled)
        total.outcomes.update(result.outcomes)
        for problem in result.problems:
            if problem not in total.problems:
                total.problems.append(problem)
        for key, seconds in result.seconds.items():
            total.seconds[key] = max(total.seconds.get(key, 0.0), seconds)
    total.reconciled = dict(reconciled)
    # the run's file (read_outbox reads the partition files with it): the prepare's, else
    # derived from a partition's
    outboxes = [(r.outbox, r.partition) for r in results if r.outbox]
    if outboxes:
        path, partition = min(outboxes, key=lambda o: o[1] is not None)
        total.outbox = _run_outbox(Path(path), partition)
    return total


def _run_outbox(path: Path, partition: tuple[int, int] | None) -> str:
    """The run's outbox file given a partition's (``<run>.part-<p>-of-<n>.jsonl``)."""
    suffix = f".part-{partition[0]}-of-{partition[1]}" if partition else ""
    if suffix and path.stem.endswith(suffix):
        return str(path.with_name(path.stem.removesuffix(suffix) + path.suffix))
    return str(path)
