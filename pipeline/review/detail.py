"""(being written)"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from pipeline.review.deps import current_editor

router = APIRouter(tags=["detail"], dependencies=[Depends(current_editor)])
