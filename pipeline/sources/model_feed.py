"""The model feed: the newest complete NBM, HRRR or GFS cycle, fetched with herbie-data.

``model_forecast(zips, issue_time, model="nbm", settings=..., hours=72)`` is the ``nbm``,
``hrrr`` and ``gfs`` source; :func:`fetch_cycle` is its download half and
:func:`fetch_analyses` fetches URMA/RTMA analyses for verification. What an on-call engineer
expects:

* **Which cycle**: the newest at or before ``issue_time`` whose last needed step is published
  (archives publish steps in order); a cycle still being published is skipped for the
  previous one, and the skip is said in ``attrs["notes"]`` (the run's summary and log).
* **Which steps**: hourly up to ``hours`` while the model is hourly that far, else every 3 h
  (NBM is hourly to f036, then 3-hourly: a 72 h horizon is 24 steps f003…f072). The steps
  must be regular: the quality step quarantines a forecast with gaps.
* **Which bytes**: herbie reads each step's ``.idx`` and fetches only the messages of
  :data:`FIELDS` by HTTP byte ranges; the archives are tried in ``model_priority`` order, or
  only ``model_base_url`` (a mirror laid out like the AWS open-data bucket) when it is set.
* **Never half a file**: herbie writes into a temporary folder beside the cache; a step is
  renamed into place only when it holds as many GRIB messages as its index promised.
* **Cache**: ``<model_cache_dir>/<model>/<YYYYMMDDHH>/<model>.tHHz.fFFF.grib2``, reused by
  reruns without a request; cycle folders not written for ``model_cache_days`` are deleted.
* **Errors**: a step missing after the retries raises :class:`ModelDataUnavailable`, a field
  missing from a published step :class:`ModelFieldMissing`; both name model, cycle, step and
  field, with the cause last.
* **Sampling** is the gridded reader's (:func:`pipeline.sources.gridded.gridded_forecast`):
  one path for all gridded data.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config.sources import SourceSettings, source_settings
from pipeline.sources._herbie import count_messages, open_step
from pipeline.sources._http import RetryPolicy
from pipeline.sources.errors import ModelDataUnavailable, ModelFieldMissing, SourceConfigError
from pipeline.sources.gridded import gridded_forecast
from pipeline.times import to_utc

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (steps done, steps in all, what was just done)


@dataclass(frozen=True)
class Model:
    """What the feed needs to know of one model: its herbie template and its rhythm."""

    name: str  # ours, also the source name
    herbie: str  # herbie's template
    product: str
    cycle_hours: int  # a cycle every n hours
    lookback: int  # cycles tried, newest first, before giving up
    hourly_until: int  # hourly steps up to this lead time, 3-hourly after it
    last_step: int  # the longest lead time of any cycle
    analysis: bool = False


MODELS: dict[str, Model] = {
    "nbm": Model("nbm", "nbm", "co", 1, 12, 36, 192),
    "hrrr": Model("hrrr", "hrrr", "sfc", 1, 6, 48, 48),
    "gfs": Model("gfs", "gfs", "pgrb2.0p25", 6, 4, 120, 384),
    "urma": Model("urma", "urma", "anl", 1, 1, 0, 0, analysis=True),
    "rtma": Model("rtma", "rtma", "anl", 1, 1, 0, 0, analysis=True),
}


@dataclass(frozen=True)
class Field:
    """A field the contract needs, as a regex on herbie's ``search_this`` (wgrib2 .idx line
    ``:VAR:LEVEL:TIME:…:``); ``required`` in forecasts (analyses need only temperature and
    wind)."""

    name: str
    pattern: str
    required: bool = False


# a plain forecast line ends after its time field; NBM also has "…:ens std dev:" and
# probability lines for some of these fields, which must never be read as the value itself
# (herbie writes absent trailing fields as "nan")
PLAIN = r"[^:]*:(?:nan:)*$"
FIELDS = [
    Field("2 m temperature", r":TMP:2 m above ground:" + PLAIN, required=True),
    Field("10 m wind", r":(?:WIND|UGRD|VGRD):10 m above ground:" + PLAIN, required=True),
    Field("precipitation amount", r":APCP:surface:\d+-\d+ hour acc" + PLAIN, required=True),
    Field("precipitation probability", r":APCP:surface:\d+-\d+ hour acc[^:]*:prob >0\.254:"),
    Field("gust", r":GUST:(?:10 m above ground|surface):" + PLAIN),
    Field("2 m relative humidity", r":RH:2 m above ground:" + PLAIN),
    Field("cloud cover", r":TCDC:(?:surface|entire atmosphere(?: \(considered as a single "
          r"layer\))?):" + PLAIN),
]
SEARCH = "|".join(f"(?:{f.pattern})" for f in FIELDS)


def _required(spec: Model) -> list[Field]:
    """The fields a step of ``spec`` must have (an analysis has no precipitation amount)."""
    return [f for f in FIELDS if f.required and not (spec.analysis and "APCP" in f.pattern)]


@dataclass
class FetchedCycle:
    """The files of one cycle in the cache, and what a person should know about them."""

    model: str
    cycle: pd.Timestamp  # UTC
    files: list[Path]
    notes: list[str] = field(default_factory=list)
    n_downloaded: int = 0  # steps fetched now (the others came from the cache)
    bytes_downloaded: int = 0


def model_forecast(
    zips: pd.DataFrame,
    issue_time: pd.Timestamp,
    *,
    model: str = "nbm",
    settings: SourceSettings | None = None,
    hours: int = 72,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Contract rows for ``zips`` from the newest complete cycle of ``model``.

    Parameters
    ----------
    zips : DataFrame
        Gazetteer rows with ``zip``, ``lat``, ``lon``.
    issue_time : Timestamp
        The run's issue time: the newest cycle at or before it is tried first.
    model : {"nbm", "hrrr", "gfs"}
    settings : SourceSettings, optional
        ``model_*`` (archives, mirror, cache) and ``http_*`` (retries) as well as the gridded
        reader's ``gridded_*``.
    hours : int
        Lead times up to this many hours are fetched.
    progress : callable, optional
        Called ``progress(done, total, label)`` after each step is in the cache.

    Returns
    -------
    DataFrame
        Contract rows; ``attrs["failures"]`` as the gridded source, ``attrs["notes"]`` what the
        summary should say (e.g. a cycle skipped because it is still being published).
    """
    cfg = source_settings(settings)
    fetched = fetch_cycle(model, issue_time, hours=hours, settings=cfg, progress=progress,
                          sleep=sleep)
    frame = gridded_forecast(zips, issue_time, path=fetched.files, settings=cfg, hours=hours)
    frame.attrs["notes"] = list(fetched.notes)
    return frame


def fetch_cycle(
    model: str,
    issue_time: Any,
    *,
    hours: int,
    settings: SourceSettings,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> FetchedCycle:
    """The steps up to ``hours`` of the newest complete cycle of ``model``, in the cache.

    Raises
    ------
    ModelDataUnavailable
        No cycle of the last ``lookback`` has every step, or a step stayed missing or
        truncated after the retries.
    ModelFieldMissing
        A step's index lacks a required field.
    """
    spec = _model(model, analysis=False)
    steps = lead_times(spec, hours)
    folder = _cache_root(settings, spec)
    prune_cache(folder, settings.model_cache_days, now=now)
    cycle, skipped = _newest_complete(spec, to_utc(issue_time), steps[-1], settings, sleep)
    notes = []
    if skipped:
        notes.append(
            f"{spec.name}: using cycle {_cycle(cycle)}, the newest with every step to "
            f"f{steps[-1]:03d}; skipped (f{steps[-1]:03d} not published, still being "
            f"published or beyond that cycle's range): {', '.join(_cycle(c) for c in skipped)}")
        log.warning(notes[-1])
    fetched = _fetch_all(spec, [(cycle, s) for s in steps], settings, folder, progress, sleep)
    return FetchedCycle(spec.name, cycle, [p for p, _ in fetched], notes,
                        sum(1 for _, n in fetched if n), sum(n for _, n in fetched))


def fetch_analyses(
    start: Any,
    end: Any,
    *,
    settings: SourceSettings,
    model: str = "urma",
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> list[Path]:
    """Hourly URMA (or RTMA) analyses valid from ``start`` to ``end`` (UTC, both included),
    fetched into the cache like forecast steps; the GRIB2 paths, oldest first, for
    :func:`pipeline.verify.observations.read_observations`.

    Raises
    ------
    ModelDataUnavailable
        An hour's analysis is not published (URMA comes about 6 h after the hour) or stayed
        truncated after the retries.
    """
    spec = _model(model, analysis=True)
    first, last = to_utc(start).ceil("h"), to_utc(end).floor("h")
    if last < first:
        raise ValueError(f"{spec.name}: no whole hour from {start} to {end}")
    folder = _cache_root(settings, spec)
    prune_cache(folder, settings.model_cache_days, now=now)
    hours = pd.date_range(first, last, freq="h")
    fetched = _fetch_all(spec, [(h, 0) for h in hours], settings, folder, progress, sleep)
    return [p for p, _ in fetched]


def lead_times(spec: Model, hours: int) -> list[int]:
    """The regular lead times up to ``hours``: hourly if the model is hourly that far."""
    if hours < 1:
        raise ValueError(f"{spec.name}: hours must be at least 1, got {hours}")
    if hours > spec.last_step:
        raise SourceConfigError(
            f"{spec.name} reaches {spec.last_step} h at most; lower the horizon "
            f"(ZIPCAST_HORIZON_HOURS, now {hours}) or use another model")
    every = 1 if hours <= spec.hourly_until else 3
    return list(range(every, hours + 1, every))


def prune_cache(folder: Path, days: float, *, now: Callable[[], float] = time.time) -> None:
    """Delete the cycle folders under ``folder`` nothing was written to for ``days`` days."""
    if not folder.is_dir():
        return
    limit = now() - days * 86_400
    for cycle in folder.iterdir():
        if not cycle.is_dir() or cycle.name.startswith("."):
            continue
        times = [p.stat().st_mtime for p in cycle.iterdir()] or [cycle.stat().st_mtime]
        if max(times) < limit:
            shutil.rmtree(cycle, ignore_errors=True)
            log.info("model cache: deleted %s (older than %g days)", cycle, days)


# ---------------------------------------------------------------- choosing the cycle


def _model(name: str, *, analysis: bool) -> Model:
    spec = MODELS.get(name)
    if spec is None or spec.analysis != analysis:
        kinds = sorted(k for k, m in MODELS.items() if m.analysis == analysis)
        raise SourceConfigError(f"unknown model {name!r}; choose one of {', '.join(kinds)}")
    return spec


def _cycle(cycle: pd.Timestamp) -> str:
    return f"{cycle:%Y-%m-%d %H}Z"


def _cache_root(settings: SourceSettings, spec: Model) -> Path:
    if settings.model_cache_dir is None:
        raise SourceConfigError(
            f"{spec.name}: no folder for model downloads; set ZIPCAST_SOURCES__MODEL_CACHE_DIR "
            "or pass the app's Settings (they default it to <data_dir>/cache/models)")
    return Path(settings.model_cache_dir) / spec.name


def _newest_complete(spec: Model, issue_time: pd.Timestamp, last: int,
                     settings: SourceSettings,
                     sleep: Callable[[float], None]) -> tuple[pd.Timestamp, list]:
    """The newest cycle at or before ``issue_time`` with step ``last`` published (or cached),
    and the newer cycles skipped."""
    newest = issue_time.floor(f"{spec.cycle_hours}h")
    skipped: list[pd.Timestamp] = []
    for k in range(spec.lookback):
        cycle = newest - pd.Timedelta(hours=k * spec.cycle_hours)
        if _cached(spec, cycle, last, settings).exists():
            return cycle, skipped
        if _retrying(partial(_published, spec, cycle, last, settings), spec, cycle, last,
                     "the index", settings, sleep, probe=True):
            return cycle, skipped
        skipped.append(cycle)
    raise ModelDataUnavailable(
        f"{spec.name}: no complete cycle from {_cycle(skipped[-1])} to {_cycle(newest)}: step "
        f"f{last:03d} is not published at {_archives(settings)}; the archive may be late — "
        "try again later, or set ZIPCAST_SOURCES__MODEL_PRIORITY to another archive")


def _published(spec: Model, cycle: pd.Timestamp, step: int,
               settings: SourceSettings) -> bool | None:
    """True when the archive has step ``step`` of ``cycle`` with its index (two HEADs), None
    when it has not (what :func:`_retrying` calls "not published")."""
    with tempfile.TemporaryDirectory(prefix=".probe-", dir=_ensure(_cache_root(settings,
                                                                              spec))) as tmp:
        found = _open(spec, cycle, step, settings, Path(tmp))
        return True if found is not None and found.grib and found.idx else None


def _open(spec: Model, cycle: pd.Timestamp, step: int, settings: SourceSettings,
          save_dir: Path) -> Any:
    return open_step(spec.herbie, spec.product, cycle, step, priority=settings.model_priority,
                     mirror=settings.model_base_url, save_dir=save_dir,
                     timeout_s=settings.http_timeout_s)


def _archives(settings: SourceSettings) -> str:
    return settings.model_base_url or ", ".join(settings.model_priority)


# ---------------------------------------------------------------- fetching steps


def _cached(spec: Model, cycle: pd.Timestamp, step: int, settings: SourceSettings) -> Path:
    name = f"{spec.name}.t{cycle:%H}z.{'anl' if spec.analysis else f'f{step:03d}'}.grib2"
    return _cache_root(settings, spec) / f"{cycle:%Y%m%d%H}" / name


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _fetch_all(spec: Model, wanted: list[tuple[pd.Timestamp, int]], settings: SourceSettings,
               folder: Path, progress: Progress | None,
               sleep: Callable[[float], None]) -> list[tuple[Path, int]]:
    """Every (cycle, step) of ``wanted`` in the cache: (path, bytes downloaded now)."""
    _ensure(folder)
    done: dict[int, tuple[Path, int]] = {}
    todo = []
    for k, (cycle, step) in enumerate(wanted):
        path = _cached(spec, cycle, step, settings)
        if path.exists():
            done[k] = (path, 0)
        else:
            todo.append(k)
    total = len(wanted)
    if progress and done:
        progress(len(done), total, f"{spec.name}: {len(done)} step(s) already in the cache")
    if todo:
        with ThreadPoolExecutor(max_workers=settings.model_workers) as pool:
            futures = {pool.submit(_fetch_step, spec, *wanted[k], settings, sleep): k
                       for k in todo}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    if future.exception() is not None:
                        for other in pending:
                            other.cancel()
                        raise future.exception()  # type: ignore[misc]
                    k = futures[future]
                    done[k] = future.result()
                    if progress:
                        cycle, step = wanted[k]
                        progress(len(done), total, f"{spec.name} {_cycle(cycle)} "
                                 f"f{step:03d} ({done[k][1] / 1e6:.1f} MB)")
    return [done[k] for k in range(total)]


def _fetch_step(spec: Model, cycle: pd.Timestamp, step: int, settings: SourceSettings,
                sleep: Callable[[float], None]) -> tuple[Path, int]:
    """One step's fields into the cache, whole or not at all (retried)."""
    final = _cached(spec, cycle, step, settings)
    _ensure(final.parent)

    def attempt() -> int | None:
        with tempfile.TemporaryDirectory(prefix=f".{final.name}.", dir=final.parent) as tmp:
            got = _download(spec, cycle, step, settings, Path(tmp))
            if got is None:
                return None
            path, size = got
            os.replace(path, final)
            return size

    size = _retrying(attempt, spec, cycle, step, "every field", settings, sleep)
    if size is None:
        raise AssertionError("unreachable: _retrying raises when every attempt fails")
    return final, size


class _Truncated(Exception):
    """A download held fewer GRIB messages than its index listed."""


def _download(spec: Model, cycle: pd.Timestamp, step: int, settings: SourceSettings,
              tmp: Path) -> tuple[Path, int] | None:
    """The step's fields fetched into ``tmp`` and checked; None when it is not published."""
    found = _open(spec, cycle, step, settings, tmp)
    if found is None or found.grib is None or found.idx is None:
        return None
    inventory = found.inventory()
    for needed in _required(spec):
        if not inventory["search_this"].str.contains(needed.pattern).any():
            raise ModelFieldMissing(
                f"{spec.name} {_cycle(cycle)} f{step:03d}: no {needed.name} in the index "
                f"{found.idx}; the archive's file lacks it (expected a line matching "
                f"{needed.pattern!r})")
    chosen = found.inventory(SEARCH)
    # herbie prints when it creates the folder it saves to: create it first
    _ensure(tmp / found.model / f"{cycle:%Y%m%d}")
    path = Path(found.download(SEARCH, errors="raise", verbose=False))
    expected = len({int(float(n)) for n in chosen["grib_message"]})
    messages = count_messages(path)
    if messages != expected:
        raise _Truncated(f"{path.stat().st_size:,} bytes hold {messages} complete GRIB "
                         f"message(s) of the {expected} its index lists")
    return path, path.stat().st_size


def _retrying(call: Callable[[], Any], spec: Model, cycle: pd.Timestamp, step: int, what: str,
              settings: SourceSettings, sleep: Callable[[float], None], *,
              probe: bool = False) -> Any:
    """``call()`` until it returns something other than None, with the sources' backoff.

    Connection failures and truncated downloads are retried, and so is "not published"
    (None) when fetching a step of the chosen cycle; a ``probe`` returns None at once for
    "not published" (that cycle is not complete yet). After the last attempt it raises
    :class:`ModelDataUnavailable` with the last problem.
    """
    policy = RetryPolicy.from_settings(settings)
    problem = "not published"
    for attempt in range(policy.retries + 1):
        try:
            result = call()
        except (ModelFieldMissing, SourceConfigError):
            raise
        except Exception as err:  # noqa: BLE001 - requests/herbie errors, truncation
            problem = f"{type(err).__name__}: {err}"
        else:
            if result is not None:
                return result
            problem = "not published (no file or no .idx at the archive)"
            if probe:
                return None
        if attempt < policy.retries:
            wait_s = min(policy.backoff_s * 2**attempt, policy.max_backoff_s)
            log.warning("%s %s f%03d: %s; retry %d/%d in %.1f s", spec.name, _cycle(cycle),
                        step, problem, attempt + 1, policy.retries, wait_s)
            sleep(wait_s)
    raise ModelDataUnavailable(
        f"{spec.name} {_cycle(cycle)} f{step:03d}, {what}: not fetched after "
        f"{policy.retries + 1} attempt(s) from {_archives(settings)}: {problem}")
