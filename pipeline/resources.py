"""Files zipcast ships besides code: the sheet's templates and the gazetteer fixes.

In a checkout they live at the top of the repository (``templates/``, ``data/``); a built
wheel carries copies inside the package (``pipeline/_shipped/``, see ``pyproject.toml``), so
an installed zipcast serves the sheet without a checkout. Code asks here, never the working
directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent
SHIPPED = PACKAGE / "_shipped"


def shipped(relative: str) -> Path:
    """``relative`` (e.g. ``"templates"``) inside the installed package, else the checkout."""
    inside = SHIPPED / relative
    return inside if inside.exists() else CHECKOUT / relative


def in_checkout() -> bool:
    """Whether this code runs from a source checkout (not an installed wheel)."""
    return (CHECKOUT / "pyproject.toml").exists() and not SHIPPED.exists()
