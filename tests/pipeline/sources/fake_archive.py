"""A model archive on 127.0.0.1: real GRIB2 step files with wgrib2-style ``.idx`` files,
served at the paths herbie's templates expect (the AWS bucket layout), with HEAD, byte
ranges, 404s and cut-off bodies on demand.

The step files are :mod:`grib_steps`' real Eta messages (2 m temperature and humidity, 10 m
u/v, gust, precipitation accumulated since the run start) re-stamped to each served cycle, an
NBM-style chance of precipitation (product template 4.9, "APCP…prob >0.254" in the index)
made from the precipitation message, then real 500/700/850 hPa temperature messages nobody
asks for, so a subset is
visibly smaller than the whole file. The grid is Eta's (NCEP grid 211, ~80 km, the lower 48
states and around); only the numbers are made up, as in :mod:`grib_steps`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd

from tests.pipeline.sources.grib_steps import make_gridded_dir

IDX_NAMES = {"2t": ("TMP", "2 m above ground"), "2r": ("RH", "2 m above ground"),
             "10u": ("UGRD", "10 m above ground"), "10v": ("VGRD", "10 m above ground"),
             "gust": ("GUST", "surface"), "tp": ("APCP", "surface"), "t": ("TMP", None)}


def nbm_path(cycle: pd.Timestamp, step: int) -> str:
    """Where the NBM template (AWS layout) looks for a CONUS core step."""
    return (f"/blend.{cycle:%Y%m%d}/{cycle:%H}/core/"
            f"blend.t{cycle:%H}z.core.f{step:03d}.co.grib2")


def build_archive(eta: Path, root: Path, cycles: list[pd.Timestamp], steps: list[int],
                  path_of=nbm_path) -> dict[str, int]:
    """Write each cycle's ``steps`` and their ``.idx`` under ``root``; sizes by URL path."""
    import eccodes

    gap = steps[1] - steps[0] if len(steps) > 1 else steps[0]
    work = root / ".work"
    made = make_gridded_dir(eta, work, n_steps=len(steps), step_hours=gap)
    extra = _isobaric_temperatures(eta)
    sizes = {}
    for cycle in cycles:
        for step, source in zip(steps, made, strict=True):
            url_path = path_of(cycle, step)
            target = root / url_path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            lines, offset = [], 0
            with open(source, "rb") as handle, open(target, "wb") as out:
                messages = []
                while (gid := eccodes.codes_grib_new_from_file(handle)) is not None:
                    messages.append(eccodes.codes_get_message(gid))
                    eccodes.codes_release(gid)
                chance = [_probability(m, step - gap, step) for m in messages
                          if _short(m) == "tp"]
                for n, raw in enumerate(messages + chance + extra, start=1):
                    gid = eccodes.codes_new_from_message(raw)
                    eccodes.codes_set(gid, "dataDate", int(f"{cycle:%Y%m%d}"))
                    eccodes.codes_set(gid, "dataTime", int(f"{cycle:%H}00"))
                    if raw in extra:
                        eccodes.codes_set(gid, "stepRange", str(step))
                    lines.append(_idx_line(gid, n, offset, cycle))
                    data = eccodes.codes_get_message(gid)
                    eccodes.codes_release(gid)
                    out.write(data)
                    offset += len(data)
            Path(f"{target}.idx").write_text("\n".join(lines) + "\n")
            sizes[url_path] = offset
    return sizes


def _short(raw: bytes) -> str:
    import eccodes

    gid = eccodes.codes_new_from_message(raw)
    try:
        return eccodes.codes_get(gid, "shortName")
    finally:
        eccodes.codes_release(gid)


def _probability(raw: bytes, start: int, end: int) -> bytes:
    """An NBM-style chance of > 0.254 mm in ``start``–``end`` h (product template 4.9) made
    from a real precipitation message: its grid and encoding, a chance from its amount."""
    import eccodes

    gid = eccodes.codes_new_from_message(raw)
    amount = eccodes.codes_get_values(gid)
    eccodes.codes_set(gid, "productDefinitionTemplateNumber", 9)
    eccodes.codes_set(gid, "probabilityType", 1)  # above the lower limit
    eccodes.codes_set(gid, "scaleFactorOfLowerLimit", 3)
    eccodes.codes_set(gid, "scaledValueOfLowerLimit", 254)
    eccodes.codes_set(gid, "stepRange", f"{start}-{end}")
    eccodes.codes_set_values(gid, (100 * (1 - 1 / (1 + amount))).round())
    try:
        return eccodes.codes_get_message(gid)
    finally:
        eccodes.codes_release(gid)


def _isobaric_temperatures(eta: Path) -> list[bytes]:
    """Real 500/700/850 hPa temperature messages of the Eta file, as GRIB2."""
    import eccodes

    found = []
    with open(eta, "rb") as handle:
        while (gid := eccodes.codes_grib_new_from_file(handle)) is not None:
            if (eccodes.codes_get(gid, "shortName") == "t"
                    and eccodes.codes_get(gid, "typeOfLevel") == "isobaricInhPa"
                    and eccodes.codes_get(gid, "level") in (500, 700, 850)):
                clone = eccodes.codes_clone(gid)
                eccodes.codes_set(clone, "edition", 2)
                found.append(eccodes.codes_get_message(clone))
                eccodes.codes_release(clone)
            eccodes.codes_release(gid)
    return found


def _idx_line(gid, n: int, offset: int, cycle: pd.Timestamp) -> str:
    """``n:offset:d=YYYYMMDDHH:VAR:LEVEL:TIME:`` as wgrib2 -s writes it."""
    import eccodes

    short = eccodes.codes_get(gid, "shortName")
    var, level = IDX_NAMES[short]
    if level is None:
        level = f"{eccodes.codes_get(gid, 'level')} mb"
    start, end = eccodes.codes_get(gid, "startStep"), eccodes.codes_get(gid, "endStep")
    when = f"{start}-{end} hour acc fcst" if short == "tp" else f"{end} hour fcst"
    if eccodes.codes_get(gid, "productDefinitionTemplateNumber") == 9:
        when += ":prob >0.254:prob fcst 255/255"
    return f"{n}:{offset}:d={cycle:%Y%m%d%H}:{var}:{level}:{when}:"


@dataclass
class Hit:
    """A recorded request."""

    method: str
    path: str
    range: str | None
    sent: int


@dataclass
class ArchiveServer:
    """Serves ``root``; ``missing`` paths answer 404, ``cut`` paths send half a ranged body
    (that many times) before closing."""

    root: Path
    missing: set[str] = field(default_factory=set)
    cut: dict[str, int] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    def start(self) -> ArchiveServer:
        archive = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
                self._answer(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(body=True)

            def _answer(self, *, body: bool) -> None:
                path = self.path.split("?", 1)[0]
                file = archive.root / path.lstrip("/")
                wanted = self.headers.get("Range")
                if path in archive.missing or not file.is_file() or ".work" in path:
                    archive.hits.append(Hit(self.command, path, wanted, 0))
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = file.read_bytes()
                status, part = 200, data
                if wanted and wanted.startswith("bytes="):
                    first, _, last = wanted[6:].partition("-")
                    end = int(last) + 1 if last else len(data)
                    part = data[int(first):end]
                    status = 206
                send = part
                if body and status == 206 and archive.cut.get(path, 0) > 0:
                    archive.cut[path] -= 1
                    send = part[: len(part) // 2]
                archive.hits.append(Hit(self.command, path, wanted, len(send) if body else 0))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(part)))
                    if status == 206:
                        self.send_header("Content-Range",
                                         f"bytes {first}-{end - 1}/{len(data)}")
                    self.end_headers()
                    if body:
                        self.wfile.write(send)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if len(send) < len(part):
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def bytes_sent(self, suffix: str = ".grib2") -> int:
        """GRIB bytes sent in bodies (index files not counted)."""
        return sum(h.sent for h in self.hits if h.path.endswith(suffix))

    def gets(self, suffix: str = ".grib2") -> list[Hit]:
        return [h for h in self.hits if h.method == "GET" and h.path.endswith(suffix)]
