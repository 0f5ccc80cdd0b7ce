"""Everything the review sheet needs, computed when a run is stored (issue 15, point 6).

The run step calls :func:`write_sheet` right after the run folder is written; it fills the
folder's ``sheet/`` files (:mod:`pipeline.review.sheet_files`): members and their facts,
sparkline bands, thumbnails, every slot's member table and area map. A fresh server process
then opens a national run by reading small files instead of the gazetteer, the forecast and
the shapes of 41,000 ZIPs. This module is the orchestration only; each piece is built by the
same function the pages fall back on for runs stored before these files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from pipeline.drawing.maps import thumbnails
from pipeline.features import SeriesSet
from pipeline.geo import city_names, load_zips
from pipeline.review.sheet import member_bands, run_members, slot_head
from pipeline.review.sheet_files import FOLDER, TITLE_MARK, SheetFiles
from pipeline.review.tables import RunDetail
from pipeline.settings import Settings
from pipeline.store.assignments import read_assignments


class SheetNotWritten(RuntimeError):
    """The run folder has no ``assignments.parquet`` to build the sheet's files from."""


def write_sheet(run_dir: str | Path, *, window: str, issue_time: pd.Timestamp,
                settings: Settings, series: SeriesSet | None = None,
                gazetteer: pd.DataFrame | None = None) -> Path:
    """Write ``run_dir/sheet/`` for the stored run and return its path.

    The files are built beside it (``.sheet.partial``) and renamed into place, so a server
    reading the run sees all of them or none (and then computes what it needs itself).

    Parameters
    ----------
    run_dir : the run folder written by :func:`pipeline.store.write_run_folder`
    window, issue_time : the run's window and issue time (for the members' bands)
    settings : the run's settings (the bands' series are built like the run's)
    series : the run's own series (n_locations, n_steps, n_variables), when the caller has
        them (the flow): saves rebuilding them from ``forecast.parquet``
    gazetteer : the run's ZIP rows (zip, state, lat, lon, timezone…), likewise

    Raises
    ------
    SheetNotWritten
        when the folder has no ``assignments.parquet``
    """
    run_dir = Path(run_dir)
    assignments = read_assignments(run_dir)
    if assignments is None:
        raise SheetNotWritten(f"{run_dir} has no assignments.parquet; store the run first")
    staging = run_dir / f".{FOLDER}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    files = SheetFiles(run_dir, folder=staging)
    files.start()
    gazetteer = load_zips() if gazetteer is None else gazetteer

    facts, members = run_members(assignments, city_names())
    files.write_facts(facts)
    for slot_id, rows in members.items():
        files.write_members(slot_id, rows)
    files.write_heads({slot_id: slot_head(rows) for slot_id, rows in members.items()})
    files.mark_members()

    slot_of = assignments.set_index("zip")["slot_id"]
    files.write_bands(member_bands(run_dir, window, issue_time, settings, gazetteer,
                                   slot_of, series=series))
    files.write_maps(thumbnails(assignments[["zip", "slot_id"]], gazetteer))

    detail = RunDetail(assignments, gazetteer)
    files.write_tables(detail.tables(), has_facts=detail.has_facts)
    for slot_id in members:
        files.write_area(slot_id, detail.area_svg(slot_id, TITLE_MARK))

    final = run_dir / FOLDER
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final
