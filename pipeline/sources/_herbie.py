"""herbie-data and eccodes, as the model feed uses them: quiet, with a mirror, counted.

herbie (https://herbie.readthedocs.io/) finds a model step at the archives in a priority
order and downloads byte ranges of it through its ``.idx``; it prints, and knows only the
public archives. Here it is imported silently, given a template per model that also serves a
site's mirror, and its downloads are checked by counting complete GRIB messages.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from pipeline.sources._fields import _proj_before_eccodes

log = logging.getLogger(__name__)


def open_step(template: str, product: str, cycle: pd.Timestamp, step: int, *,
              priority: Sequence[str], mirror: str | None, save_dir: Path,
              timeout_s: float = 30.0) -> Any:
    """A quiet ``herbie.Herbie`` for one step (it HEADs the file and its index), or None when
    herbie refuses the date (a cycle in the future).

    With ``mirror`` the only archive is the mirror, at the path of the AWS open-data bucket;
    otherwise the archives of ``priority`` are tried in order. Every request herbie makes
    gives up after ``timeout_s`` without an answer (herbie itself sets none on its HEADs and
    index reads: a hung archive would hold the run until the flow's task timeout).
    """
    herbie = herbie_module()
    herbie.core.requests = _TimedRequests(timeout_s)
    try:
        return herbie.Herbie(
            cycle.tz_convert("UTC").tz_localize(None), model=_template(template), fxx=step,
            product=product, priority=["mirror"] if mirror else list(priority),
            save_dir=save_dir, overwrite=True, verbose=False, zipcast_mirror=mirror)
    except AssertionError:  # herbie asserts the cycle is not in the future
        return None


def count_messages(path: Path) -> int:
    """Complete GRIB messages in ``path`` (a truncated last message is not counted)."""
    _proj_before_eccodes()
    import eccodes

    count = 0
    with open(path, "rb") as handle:
        while True:
            try:
                gid = eccodes.codes_grib_new_from_file(handle, headers_only=True)
            except Exception:  # noqa: BLE001 - eccodes: premature end of file / bad length
                break
            if gid is None:
                break
            eccodes.codes_release(gid)
            count += 1
    return count


class _TimedRequests:
    """``requests`` for herbie's module, with a default timeout on ``head`` and ``get``."""

    def __init__(self, timeout_s: float) -> None:
        import requests

        self._requests = requests
        self.timeout_s = timeout_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self._requests, name)

    def head(self, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout_s)
        return self._requests.head(url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout_s)
        return self._requests.get(url, **kwargs)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """herbie prints (a config box on first import); the library never does: log it."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        yield
    if out.getvalue().strip():
        log.debug("herbie: %s", out.getvalue().strip())


def herbie_module() -> ModuleType:
    """herbie, imported on first use (it loads cfgrib, and writes ~/.config/herbie once)."""
    _proj_before_eccodes()
    with _quiet(), warnings.catch_warnings():
        # herbie warns on every import once its config folder holds a custom template stub
        warnings.simplefilter("ignore", DeprecationWarning)
        import herbie
        import herbie.models  # noqa: F401 - the templates
    return herbie


def _template(base_name: str) -> str:
    """The name of a herbie template like ``base_name`` that honours ``zipcast_mirror``.

    herbie looks templates up by name on ``herbie.models`` (as its plugins are registered);
    this one is herbie's own, except that with a mirror its only source is the mirror.
    """
    models = herbie_module().models
    name = f"zipcast_{base_name}"
    if not hasattr(models, name):
        base = getattr(models, base_name)

        def template(run: Any) -> None:
            base.template(run)
            mirror = getattr(run, "zipcast_mirror", None)
            if mirror:
                run.SOURCES = {"mirror": mirror.rstrip("/") + urlsplit(run.SOURCES["aws"]).path}

        setattr(models, name, type(name, (), {"template": template}))
    return name
