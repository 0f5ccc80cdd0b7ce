"""The slot detail page: its area, its members and misfits, per-state truth and its series."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from pipeline.drawing.area import MAX_POINTS
from pipeline.review.deps import (
    EditorDep,
    SessionDep,
    SettingsDep,
    current_editor,
    get_run,
    get_slot,
    page,
)
from pipeline.review.sheet import RunAssets, assets_for, bands
from pipeline.review.tables import (
    detail_page,
    representative_chart,
    slot_area,
    slot_table,
    stored_members,
)
from pipeline.store.models import Slot

router = APIRouter(tags=["detail"], dependencies=[Depends(current_editor)])
NOT_DIGITS = re.compile(r"\D")


def _slot_and_assets(request: Request, db: Session, run_id: str,
                     slot_id: str) -> tuple[Slot, RunAssets]:
    """The slot (404 for an unknown run, then slot) and its run's assets."""
    get_run(db, run_id)
    slot = get_slot(db, run_id, slot_id)
    return slot, assets_for(request.app.state.run_cache, slot.run)


def _area(assets: RunAssets, db: Session, slot: Slot) -> str:
    return slot_area(assets, slot.slot_id,
                     f"Area of {slot.slot_id} {slot.name}, with neighbouring slots in grey",
                     lambda: stored_members(db, slot.run_id))


@router.get("/runs/{run_id}/slots/{slot_id}")
def slot_page(request: Request, run_id: str, slot_id: str, db: SessionDep, editor: EditorDep,
              settings: SettingsDep, page_number: Annotated[int, Query(alias="page")] = 1,
              zip_prefix: Annotated[str, Query(alias="zip", max_length=20)] = ""):
    """One slot in full: header, area map, series chart, per-state truth, misfits, and its
    members a page at a time (``?page=N``), or those whose ZIP starts with ``?zip=``."""
    slot, assets = _slot_and_assets(request, db, run_id, slot_id)
    table = slot_table(assets, slot.slot_id, lambda: stored_members(db, run_id))
    query = NOT_DIGITS.sub("", zip_prefix)[:5]
    detail = detail_page(table, settings.truth.state_floor, page=page_number, query=query)
    band = bands(assets, slot.run, settings).get(slot.slot_id, {})
    n_zips, n_fit = (detail.n, detail.n_fit) if detail.n else (slot.n_zips, slot.n_fit)
    return page(request, "review/slot.html", {
        "run": slot.run, "slot": slot, "detail": detail, "n_zips": n_zips, "n_fit": n_fit,
        "max_points": MAX_POINTS,
        # our own SVGs: numbers and escaped text only (pipeline/drawing)
        "area": Markup(_area(assets, db, slot)),
        "chart": Markup(representative_chart(slot, band)),
    }, editor=editor)


@router.get("/runs/{run_id}/slots/{slot_id}/area.svg")
def slot_area_svg(request: Request, run_id: str, slot_id: str, db: SessionDep):
    """The detail page's area map on its own."""
    slot, assets = _slot_and_assets(request, db, run_id, slot_id)
    return Response(_area(assets, db, slot), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=3600"})
