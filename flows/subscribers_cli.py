"""``zipcast subscribers``: import a CSV, write demo subscribers, list and count them.

Thin: each command parses options, brings the database up to date and calls
:mod:`pipeline.dispatch.subscribers`. Heavy imports stay inside the commands so that
``zipcast --help`` stays quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

subscribers = typer.Typer(
    help="Subscribers: import a CSV, write demo subscribers, list and count them.",
    no_args_is_help=True,
)


def _database() -> str:
    """The configured database URL, migrated to the newest schema."""
    from pipeline.settings import get_settings
    from pipeline.store.db import migrate

    url = get_settings().db_url
    migrate(url)
    return url


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


@subscribers.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(
        help="CSV with a header line: zip and at least one of phone, email, webhook_url; "
             "optional morning_at, evening_at (local HH:MM or 7am) and status "
             "(active or opted_out); consent_text (the words each person agreed to), "
             "consent_at and consent_source.", show_default=False)],
    consent: Annotated[str | None, typer.Option(
        "--consent", metavar="TEXT",
        help="The words every person in the file agreed to, when the file has no "
             "consent_text column: you state that each of them gave this consent. It is "
             "recorded per subscriber (`zipcast subscribers consent ADDRESS`).")] = None,
) -> None:
    """Import subscribers from a CSV; bad rows are listed by line and the good ones kept.

    Every subscriber needs a record of consent: a consent_text column, or --consent. Rows
    sharing a phone or an email (in the file or already stored) are merged. Opted-out
    subscribers stay opted out. Exit code 1 when the file cannot be read or no row is good.
    """
    from pipeline.dispatch.subscribers import SubscriberFileError, import_csv
    from pipeline.settings import get_settings

    out = _console()
    url = _database()
    try:
        report = import_csv(url, file, settings=get_settings(), consent=consent)
    except SubscriberFileError as err:
        _console(stderr=True).print(f"error: {err}", style="red", markup=False)
        _console(stderr=True).print("nothing was imported", markup=False)
        raise typer.Exit(1) from None
    summary, *details = report.lines()
    out.print(summary, style="bold green" if report.ok else "bold red", markup=False)
    for line in details:
        style = "yellow" if line.startswith("warning") else "red" if line.startswith("line") \
            else None
        out.print(line, style=style, markup=False)
    if not report.ok:
        out.print("no row was good: nothing was imported", style="bold red", markup=False)
        raise typer.Exit(1)


@subscribers.command("demo")
def demo_command(
    count: Annotated[int, typer.Option("--count", "-n", min=0,
                                       help="How many demo subscribers.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed for ZIPs, channels and times.")] = 0,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Delete earlier demo subscribers first (imported ones stay).")]
    = False,
) -> None:
    """Write demo subscribers spread over ZIPs like people are (fake 555 numbers, example.com).

    Demo subscribers are appended to those already stored; --replace deletes the previous
    demo subscribers (recognised by their demo- token), never imported ones.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from pipeline.dispatch.subscribers import CHUNK, DemoCollision, make_demo
    from pipeline.settings import get_settings

    url = _database()
    out = _console()
    try:
        if count > CHUNK:
            with Progress("demo subscribers", BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=out, transient=True) as bar:
                task = bar.add_task("demo", total=count)
                make_demo(url, count, seed=seed, settings=get_settings(), replace=replace,
                          progress=lambda done, _total: bar.update(task, completed=done))
        else:
            make_demo(url, count, seed=seed, settings=get_settings(), replace=replace)
    except (DemoCollision, ValueError) as err:
        _console(stderr=True).print(f"error: {err}", style="red", markup=False)
        raise typer.Exit(1) from None
    out.print(f"wrote {count:,} demo subscribers (seed {seed})"
              + (", replacing the earlier demo ones" if replace else ""), markup=False)


@subscribers.command("stats")
def stats_command(
    top: Annotated[int, typer.Option(help="How many states to show.")] = 10,
) -> None:
    """Count subscribers by status, active ones by channel, and the states with the most."""
    from rich.table import Table

    from pipeline.dispatch.subscribers import subscriber_stats

    stats = subscriber_stats(_database(), top=top)
    out = _console()
    if not stats.total:
        out.print("no subscribers yet: try `zipcast subscribers demo --count 10000` or "
                  "`zipcast subscribers import FILE`", markup=False)
        return
    table = Table(show_header=True, title=f"{stats.total:,} subscribers")
    table.add_column("")
    table.add_column("count", justify="right")
    for status, n in sorted(stats.by_status.items()):
        table.add_row(status, f"{n:,}")
    table.add_section()
    for channel, n in stats.by_channel.items():
        table.add_row(f"active with {channel}", f"{n:,}")
    table.add_row("ZIPs with active subscribers", f"{stats.zips:,}")
    table.add_section()
    for state, n in stats.top_states:
        table.add_row(f"active in {state}", f"{n:,}")
    out.print(table)


@subscribers.command("list")
def list_command(
    zip_code: Annotated[str | None, typer.Option("--zip", help="Only this ZIP.")] = None,
    limit: Annotated[int, typer.Option(help="How many to show.")] = 20,
) -> None:
    """Show stored subscribers, oldest first: ZIP, time zone, channels, times, status."""
    from sqlalchemy import select

    from pipeline.dispatch.models import Subscriber
    from pipeline.store.db import session_scope
    from pipeline.times import utc, utc_now

    url = _database()
    query = select(Subscriber).order_by(Subscriber.id).limit(limit)
    if zip_code:
        query = query.where(Subscriber.zip == zip_code.strip())
    out = _console()
    with session_scope(url) as session:
        found = session.scalars(query).all()
        if not found:
            out.print("no subscribers" + (f" in {zip_code}" if zip_code else ""), markup=False)
        for s in found:
            channels = ", ".join(a for a in (s.phone, s.email, s.webhook_url) if a)
            paused = (f" paused until {utc(s.paused_until):%Y-%m-%d %H:%M} UTC"
                      if s.paused_until is not None and s.status == "active"
                      and utc(s.paused_until) > utc_now() else "")
            out.print(f"#{s.id:<7} {s.zip} {s.timezone:<20} {s.morning_at}/{s.evening_at} "
                      f"{s.status:<9} {channels}{paused}", markup=False)


@subscribers.command("consent")
def consent_command(
    address: Annotated[str, typer.Argument(
        help="A phone number (any common format), an email address or a webhook URL.",
        show_default=False)],
) -> None:
    """Print the consent history of an address: each time it agreed to messages (how, from
    where, the exact words shown) and each opt-out, oldest first. Kept after opt-out."""
    from pipeline.dispatch.consent import history
    from pipeline.dispatch.subscribers import normalize_email, normalize_phone
    from pipeline.store.db import session_scope

    keys = {address.strip()}
    for normalize in (normalize_phone, normalize_email):
        try:
            keys.add(normalize(address))
        except ValueError:
            pass
    url = _database()
    out = _console()
    with session_scope(url) as session:
        events = history(session, keys)
    if not events:
        out.print(f"no consent on record for {address}: it never signed up, was never "
                  "imported with consent, or is a demo subscriber (not a person)", markup=False)
        raise typer.Exit(1)
    for event in events:
        out.print(event.line(), style="green" if event.event == "granted" else "yellow",
                  markup=False)
        out.print(f"    words: {event.text}", markup=False)
