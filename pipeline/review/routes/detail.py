"""The slot detail page: its area, its members and misfits, per-state truth and its series."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
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
    RunDetail,
    detail_for,
    representative_chart,
    stored_members,
)
from pipeline.store.models import Slot

router = APIRouter(tags=["detail"], dependencies=[Depends(current_editor)])


def _slot_and_detail(request: Request, db: Session, run_id: str,
                     slot_id: str) -> tuple[Slot, RunAssets, RunDetail]:
    """The slot (404 for an unknown run, then slot), its run's assets and detail data."""
    get_run(db, run_id)
    slot = get_slot(db, run_id, slot_id)
    assets = assets_for(request.app.state.run_cache, slot.run)
    return slot, assets, detail_for(assets, lambda: stored_members(db, run_id))


def _area_title(slot: Slot) -> str:
    return f"Area of {slot.slot_id} {slot.name}, with neighbouring slots in grey"


@router.get("/runs/{run_id}/slots/{slot_id}")
def slot_page(request: Request, run_id: str, slot_id: str, db: SessionDep, editor: EditorDep,
              settings: SettingsDep):
    """One slot in full: header, area map, series chart, per-state truth, misfits, members."""
    slot, assets, run_detail = _slot_and_detail(request, db, run_id, slot_id)
    detail = run_detail.slot(slot.slot_id, settings.truth.state_floor)
    band = bands(assets, slot.run, settings).get(slot.slot_id, {})
    n_zips, n_fit = (detail.n, detail.n_fit) if detail.n else (slot.n_zips, slot.n_fit)
    return page(request, "review/slot.html", {
        "run": slot.run, "slot": slot, "detail": detail, "n_zips": n_zips, "n_fit": n_fit,
        "max_points": MAX_POINTS,
        # our own SVGs: numbers and escaped text only (pipeline/drawing)
        "area": Markup(run_detail.area_svg(slot.slot_id, _area_title(slot))),
        "chart": Markup(representative_chart(slot, band)),
    }, editor=editor)


@router.get("/runs/{run_id}/slots/{slot_id}/area.svg")
def slot_area(request: Request, run_id: str, slot_id: str, db: SessionDep):
    """The detail page's area map on its own."""
    slot, _, run_detail = _slot_and_detail(request, db, run_id, slot_id)
    return Response(run_detail.area_svg(slot.slot_id, _area_title(slot)),
                    media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=3600"})
