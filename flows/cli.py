"""``zipcast``: the command line. Thin: it parses options and calls flows or the library."""

from __future__ import annotations

import gc
import sys
from typing import Annotated

import typer

from flows.env import quiet_prefect
from flows.subscribers_cli import subscribers

app = typer.Typer(
    help="zipcast: cluster every US ZIP's forecast into message slots editors write for.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("run")
def run_command(
    source: Annotated[str | None, typer.Option(
        help="Forecast source: synthetic (default), table, gridded, open-meteo, nws, or the "
             "model feed: nbm, hrrr, gfs (the newest complete cycle, fetched).")] = None,
    issue_time: Annotated[
        str | None, typer.Option(help="Forecast issue time, ISO 8601 (naive = UTC); "
                                 "default: this hour.")
    ] = None,
    window: Annotated[
        str | None, typer.Option(help="Local window: morning, evening or full.")
    ] = None,
    max_slots: Annotated[int | None, typer.Option(help="Editors' budget of slots.")] = None,
    target_truth: Annotated[
        float | None, typer.Option(help="Truthfulness goal, 0–1 (default 0.97); the run "
                                   "stops adding slots once it and the state floor hold.")
    ] = None,
    baselines: Annotated[
        bool, typer.Option(help="Also score per-state, k-means and DTW-only groupings.")
    ] = True,
    states: Annotated[
        str | None, typer.Option(help="Only these states, comma-separated, e.g. NY,NJ.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for synthetic weather and k-means.")]
    = None,
    path: Annotated[
        str | None, typer.Option(help="Files for the table or gridded source (file, folder "
                                 "or glob).")
    ] = None,
    replay: Annotated[
        str | None, typer.Option(help="Recompute a stored run (RUN_ID, see `zipcast runs`) "
                                 "from its snapshot with its own parameters and check the "
                                 "slots are identical; or rerun today's parameters on an "
                                 "ingest snapshot (e.g. synthetic/20260115T0900Z).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json only.")] = False,
    verbose: Annotated[bool, typer.Option(help="Show Prefect's own logs.")] = False,
) -> None:
    """Run the twice-daily job once: forecasts → slots, stored under data/runs/<run_id>/."""
    quiet_prefect(verbose)
    import traceback

    from flows.server import attach
    from pipeline.settings import get_settings

    typer.echo(f"Prefect: {attach(get_settings()).how}", err=True)

    from flows.twice_daily import import_later_steps, twice_daily

    import_later_steps()  # beside the server and flow-run setup
    from flows.runners import by_hand, with_runner
    from pipeline.quality import CoverageTooLow
    from pipeline.settings import get_settings
    from pipeline.snapshots import SnapshotCorrupt, SnapshotNotFound
    from pipeline.sources import (
        ForecastUnavailable,
        SourceConfigError,
        SourceError,
        UnknownSource,
    )
    from pipeline.store import RunNotFound

    # what a run can fail on that its message explains (a bad input file, no forecast, an
    # unknown replay id): said in one line, last, rather than under a traceback
    explained = (SourceError, SourceConfigError, UnknownSource, ForecastUnavailable,
                 CoverageTooLow, SnapshotNotFound, SnapshotCorrupt, RunNotFound)
    state_list = [s for s in states.split(",") if s.strip()] if states else None
    try:
        with by_hand():
            summary = with_runner(twice_daily, get_settings().flows)(
                source=source, issue_time=issue_time, window=window, max_slots=max_slots,
                target_truth=target_truth, states=state_list, seed=seed, path=path,
                replay=replay, with_baselines=baselines, show_progress=not as_json,
            )
    except explained as err:
        if verbose:
            traceback.print_exc()
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))


@app.command("runs")
def runs_command(limit: Annotated[int, typer.Option(help="How many to list.")] = 10) -> None:
    """List stored runs, newest first, with each one's editor gate and dispatch state."""
    from datetime import UTC, datetime

    from flows.progress import console
    from pipeline.dispatch.job import delivery_counts
    from pipeline.editorial.gate import gate_of
    from pipeline.settings import get_settings
    from pipeline.store import migrate, recent_runs, session_scope

    settings = get_settings()
    migrate(settings.db_url)
    out = console()
    with session_scope(settings.db_url) as session:
        rows = recent_runs(session, limit)
        if not rows:
            typer.echo("no runs yet: try `zipcast run --states RI`")
        now = datetime.now(UTC)
        for r in rows:
            gate = gate_of(session, r, settings.review, now)
            total = len(gate.approved) + len(gate.pending)
            sent = delivery_counts(session, r.id)
            dispatched = (", ".join(f"{n:,} {status}" for status, n in sorted(sent.items()))
                          or "nothing sent yet")
            state = ("replay" if r.status == "replay" else
                     f"gate {gate.state}: {len(gate.approved)}/{total} approved, send "
                     f"{gate.send_at:%Y-%m-%d %H:%M} UTC; dispatch: {dispatched}")
            out.print(f"{r.id}  {r.n_zips:>6,} ZIPs  {r.n_slots:>3} slots  {state}  "
                      f"{r.run_dir}", highlight=False)


@app.command("snapshots")
def snapshots_command(
    source: Annotated[str | None, typer.Argument(help="Only this source.")] = None,
) -> None:
    """List stored ingest snapshots (what `zipcast run --replay` takes)."""
    from pipeline.settings import get_settings
    from pipeline.snapshots import list_snapshots

    found = list_snapshots(get_settings().snapshots_dir, source)
    if not found:
        typer.echo("no snapshots yet: every `zipcast run` saves one")
    for snap in found:
        typer.echo(f"{snap.id}  {snap.meta.get('n_rows', '?'):>9} rows  {snap.path}")


@app.command("slots")
def slots_command(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: newest).")] = None,
) -> None:
    """Show a stored run's slots: size, states and draft message."""
    from pipeline.settings import get_settings
    from pipeline.store import RunNotFound, load_run, migrate

    url = get_settings().db_url
    migrate(url)
    try:
        stored = load_run(url, run_id)
    except RunNotFound as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"run {stored['id']}: {stored['n_zips']:,} ZIPs in {stored['n_slots']} slots")
    for slot in stored["slots"]:
        states = ", ".join(list(slot["states"])[:5])
        typer.echo(f"{slot['slot_id']}  {slot['n_zips']:>6,}  {states:<24} "
                   f"{slot['draft_message']}")


users = typer.Typer(help="Editor accounts for the review sheet.", no_args_is_help=True)
app.add_typer(users, name="users")
app.add_typer(subscribers, name="subscribers")


@users.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[str, typer.Option(help="editor or lead.")] = "editor",
    email: Annotated[str | None, typer.Option(help="Address for 'sheet ready' mail (and "
                                             "deadline alerts, for leads).")] = None,
) -> None:
    """Create an editor (or reset one, ending its sessions), reading the password from stdin."""
    from pipeline.review.cli import add_user
    from pipeline.settings import get_settings

    password = _read_password()
    try:
        add_user(get_settings().db_url, name, role, password, email)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{name} can sign in as {role}")


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\n")


@users.command("list")
def users_list() -> None:
    """Show every editor: name, role, email and whether disabled (never password hashes)."""
    from pipeline.review.cli import list_users
    from pipeline.settings import get_settings

    accounts = list_users(get_settings().db_url)
    width = max([len(a.name) for a in accounts] + [4])
    typer.echo(f"{'name':<{width}}  {'role':<6}  {'disabled':<8}  email")
    for a in accounts:
        typer.echo(f"{a.name:<{width}}  {a.role:<6}  {'yes' if a.disabled else 'no':<8}  "
                   f"{a.email or '-'}")


def _users_change(change, name: str, done: str) -> None:
    """Run ``change(db_url, name)``; a bad name or password exits 2 with the reason."""
    from pipeline.settings import get_settings

    try:
        change(get_settings().db_url, name)
    except ValueError as err:  # includes UnknownEditor
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(done)


@users.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="Sign-in name.")]) -> None:
    """Stop an editor signing in and end their sessions now."""
    from pipeline.review.cli import set_disabled

    _users_change(lambda url, n: set_disabled(url, n, True), name,
                  f"{name} is disabled; their sessions have ended")


@users.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="Sign-in name.")]) -> None:
    """Let a disabled editor sign in again (with their existing password)."""
    from pipeline.review.cli import set_disabled

    _users_change(lambda url, n: set_disabled(url, n, False), name,
                  f"{name} can sign in again")


@users.command("reset")
def users_reset(name: Annotated[str, typer.Argument(help="Sign-in name.")]) -> None:
    """Set a new password, read from stdin, and end the editor's sessions."""
    from pipeline.review.cli import reset_password

    password = _read_password()
    _users_change(lambda url, n: reset_password(url, n, password), name,
                  f"{name} has a new password; their sessions have ended")


@app.command("verify")
def verify_command(
    run_id: Annotated[str | None, typer.Argument(help="A stored run (see `zipcast runs`); "
                                                 "default: the newest.")] = None,
    obs: Annotated[
        list[str] | None, typer.Option(
            "--obs", help="Observations: a GRIB/NetCDF analysis, a CSV station table or MET "
            "ASCII points (file, folder or glob; repeat for more), or `synthetic`. Default: "
            "ZIPCAST_VERIFY__OBS_PATH (synthetic).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print verification.json only.")]
    = False,
) -> None:
    """Score a run's messages against what the weather did: true where subscribers live?"""
    from pipeline.settings import get_settings
    from pipeline.store import RunNotFound
    from pipeline.verify import verify
    from pipeline.verify.job import NotVerifiable
    from pipeline.verify.observations import ObservationError

    settings = get_settings()
    try:
        summary = verify(run_id, obs or [settings.verify.obs_path], settings)
    except (RunNotFound, NotVerifiable, ObservationError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    for line in summary.lines():
        typer.echo(line)
    from datetime import UTC, datetime

    if datetime.fromisoformat(summary.window_end) > datetime.now(UTC):
        typer.echo(f"note: the window ends at {summary.window_end}: observations can only "
                   "speak for what has happened so far")
    steps = ", ".join(f"{k} {v:.1f}" for k, v in summary.seconds.items())
    typer.echo(f"verified in {sum(summary.seconds.values()):.1f} s ({steps}); "
               f"results in {settings.runs_dir / summary.run_id}/verification.json")


@app.command("review")
def review_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Serve the editor review sheet (sign in with an account from `zipcast users add`)."""
    from pipeline.review.cli import serve

    typer.echo(f"review sheet on http://{host}:{port}/")
    serve(host, port)


@app.command("dispatch")
def dispatch_command(
    run: Annotated[str | None, typer.Option("--run", help="Run id (default: the newest run).")]
    = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Rehearse: write every message to "
                                          "<data>/outbox/<run>.jsonl instead of sending, "
                                          "recorded apart from the real deliveries.")]
    = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="With --dry-run: forget the run's "
                                        "earlier rehearsal and rehearse it all again.")]
    = False,
    report: Annotated[bool, typer.Option("--report", help="Only print counts by window, slot, "
                                         "channel and status (with --dry-run: of the "
                                         "rehearsal).")] = False,
    now: Annotated[str | None, typer.Option(help="Pretend it is this time (ISO 8601, naive = "
                                            "UTC), e.g. to rehearse a morning.")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to keep retrying transient failures "
                                        "before leaving them for the next dispatch.")] = 0.0,
) -> None:
    """Send a run's due messages to subscribers: once each, at their local delivery time."""
    import time
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table

    from pipeline.dispatch.job import dispatch, forget_rehearsal
    from pipeline.dispatch.job import report as delivery_report
    from pipeline.dispatch.locks import DispatchBusy
    from pipeline.settings import get_settings
    from pipeline.store import RunMissing
    from pipeline.times import FrozenClock, to_utc

    settings = get_settings()
    console = Console()
    try:
        if report:
            frame = delivery_report(settings, run, dry_run=dry_run)
            table = Table(title=f"deliveries of {frame.attrs['run_id']}")
            for column in ["window", "slot", "channel", "status", "count"]:
                table.add_column(column, justify="right" if column == "count" else "left")
            for row in frame.sort_values(["window", "slot_id", "channel", "status"],
                                         na_position="first").itertuples():
                table.add_row(row.window, row.slot_id or "-", row.channel, row.status,
                              f"{row.n:,}")
            console.print(table if len(frame) else "no deliveries yet")
            totals = frame.groupby("status")["n"].sum()
            console.print(", ".join(f"{n:,} {s}" for s, n in totals.items()) or "")
            if frame.attrs.get("ambiguous_events"):
                console.print(
                    f"{frame.attrs['ambiguous_events']:,} email(s) were in flight when a "
                    "connection or the dispatcher died: each may have arrived twice (resent) "
                    "or not at all (status ambiguous); ZIPCAST_DISPATCH__AMBIGUOUS_EMAIL "
                    f"is {settings.dispatch.ambiguous_email}")
            return
        if fresh and not dry_run:
            raise typer.BadParameter("--fresh forgets a rehearsal: use it with --dry-run")
        if fresh:
            console.print(forget_rehearsal(settings, run))
        # a pretended time stands still, except that waiting for a retry moves it on
        frozen = FrozenClock(to_utc(now).to_pydatetime()) if now is not None else None
        clock = frozen.now if frozen else (lambda: datetime.now(UTC))
        sleep = frozen.sleep if frozen else time.sleep
        with console.status("dispatching…") as status:
            done = {"queued": 0, "sent": 0}

            def progress(kind: str, n: int) -> None:
                done[kind] += n
                status.update(f"queued {done['queued']:,} · sent {done['sent']:,}")

            result = dispatch(settings, run, dry_run=dry_run, now=clock, max_wait_s=wait,
                              sleep=sleep, progress=progress)
    except (RunMissing, DispatchBusy) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    for line in result.lines():
        console.print(line, highlight=False)
    if result.problems:
        raise typer.Exit(1)


@app.command("serve")
def serve_command(
    show: Annotated[bool, typer.Option("--show", help="Only print the deployments and their "
                                       "schedules.")] = False,
    verbose: Annotated[bool, typer.Option(help="Show Prefect's own logs.")] = False,
) -> None:
    """Run zipcast on a schedule: the twice-daily flow and the dispatch flow, served by Prefect.

    Uses PREFECT_API_URL when set, else the local server of `zipcast server start` when it
    answers, else Prefect's temporary server. Times and the Dask cluster come from
    ZIPCAST_FLOWS__* settings.
    """
    quiet_prefect(verbose)
    from flows.serve import describe, serve
    from flows.server import attach
    from pipeline.settings import get_settings

    settings = get_settings()
    typer.echo(f"Prefect: {attach(settings).how}")
    for line in describe(settings):
        typer.echo(line)
    if not show:
        serve(settings)


server = typer.Typer(help="Prefect's local server, shared by every zipcast command.",
                     no_args_is_help=True)
app.add_typer(server, name="server")


@server.command("start")
def server_start() -> None:
    """Start Prefect's local server in the background (once per machine); `zipcast run`
    and `zipcast serve` then use it instead of starting a temporary one each time."""
    from flows.server import start
    from pipeline.settings import get_settings

    try:
        start(get_settings(), say=typer.echo)
    except RuntimeError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


@server.command("stop")
def server_stop() -> None:
    """Stop the local server `zipcast server start` started."""
    from flows.server import stop
    from pipeline.settings import get_settings

    typer.echo("stopped Prefect's local server" if stop(get_settings())
               else "no local server started by zipcast (no pid file)")


@server.command("status")
def server_status() -> None:
    """Which Prefect server the next command would use."""
    from flows.server import attach
    from pipeline.settings import get_settings

    typer.echo(attach(get_settings()).how)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        # The interpreter's exit then collects garbage while it tears the modules down: a few
        # full passes over the ~700k objects a national run leaves, 1.2 s after the last line
        # was printed. Frozen, they are freed by reference counting and by the process
        # ending. atexit still runs first: Prefect's log and event workers, temporary
        # folders, and the database engines (pipeline.store.db closes them, so SQLite folds
        # its log back into the file). What relies on the collector at exit does not run: a
        # buffered file left open in a reference cycle would lose its buffer, so files are
        # written in ``with`` blocks.
        gc.freeze()


if __name__ == "__main__":
    main()
