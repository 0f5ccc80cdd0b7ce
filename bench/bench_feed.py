"""Benchmark the model feed: bytes fetched against the whole files, and our time per step.

Run:  .venv/bin/python bench/bench_feed.py [--out bench/results/feed.json]

Needs ``../shared/data/real-forecasts``. Two measurements, both against a local HTTP server
(so the network is not what is measured; our share is):

1. **One NBM cycle, national**: 24 steps (f003…f072, the 72 h horizon) of real GRIB2
   messages (Eta, NCEP grid 211, ~80 km; see ``tests/pipeline/sources/fake_archive.py``)
   served with ``.idx`` files at the NBM paths, each file also holding fields nobody asks
   for. Recorded: bytes fetched by range vs the whole files, the fetch time (HEADs, index,
   ranges, message count, rename; herbie's cost), the rerun from the cache, and the decode
   + sample time per step for all 41,078 ZIPs through the gridded reader.
2. **A 2.5 km field, national**: the real NDFD 2145x1377 (2.5 km CONUS) GRIB2 message — the
   size of NBM's 2345x1597 grid — decoded and sampled (bilinear) at every ZIP, per field.
   NBM's step holds 7–9 wanted fields, so a step costs about that many times this.

From (2) and the compressed size of a 2.5 km field the JSON also states the bandwidth below
which the download, not our decode + sample, bounds a cycle.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from machine import machine_info  # noqa: E402

from pipeline.config.sources import SourceSettings  # noqa: E402
from pipeline.geo import load_zips  # noqa: E402
from pipeline.sources._fields import read_file  # noqa: E402
from pipeline.sources._grid import sample_plan  # noqa: E402
from pipeline.sources._herbie import herbie_module  # noqa: E402
from pipeline.sources.gridded import gridded_forecast  # noqa: E402
from pipeline.sources.model_feed import fetch_cycle  # noqa: E402
from tests.pipeline.sources.fake_archive import (  # noqa: E402
    ArchiveServer,
    build_archive,
    nbm_path,
)

REAL = ROOT.parent / "shared" / "data" / "real-forecasts"
CYCLE = pd.Timestamp("2004-12-08 12:00")
STEPS = list(range(3, 73, 3))
FIELDS_PER_STEP = 9  # NBM: TMP, RH, WIND (+WDIR not fetched), GUST, TCDC, APCP 1 h + prob, 6 h


def one_cycle(zips: pd.DataFrame, work: Path) -> dict:
    """Fetch and read a 24-step cycle from the local archive for every ZIP."""
    sizes = build_archive(REAL / "eta_grid211_f24.grib1", work / "archive", [CYCLE], STEPS)
    server = ArchiveServer(work / "archive").start()
    try:
        cfg = SourceSettings(model_base_url=server.url, model_cache_dir=work / "cache")
        start = time.perf_counter()
        herbie_module()  # importing herbie (cfgrib, xarray) once per process is not a fetch cost
        import_s = time.perf_counter() - start
        start = time.perf_counter()
        fetched = fetch_cycle("nbm", "2004-12-08T12:30Z", hours=72, settings=cfg)
        fetch_s = time.perf_counter() - start
        start = time.perf_counter()
        fetch_cycle("nbm", "2004-12-08T12:30Z", hours=72, settings=cfg)
        rerun_s = time.perf_counter() - start
        requests = len(server.hits)
    finally:
        server.stop()
    start = time.perf_counter()
    rows = gridded_forecast(zips, CYCLE.tz_localize("UTC"), path=fetched.files, settings=cfg,
                            hours=72)
    read_s = time.perf_counter() - start
    whole = sum(sizes[nbm_path(CYCLE, s)] for s in STEPS)
    return {
        "grid": "Eta NCEP grid 211, 93x65 (~80 km)",
        "steps": len(STEPS),
        "bytes_fetched": fetched.bytes_downloaded,
        "bytes_whole_files": whole,
        "fetched_share": round(fetched.bytes_downloaded / whole, 3),
        "requests": requests,
        "herbie_import_s": round(import_s, 3),
        "fetch_s": round(fetch_s, 3),
        "fetch_s_per_step": round(fetch_s / len(STEPS), 4),
        "rerun_from_cache_s": round(rerun_s, 3),
        "decode_sample_s": round(read_s, 3),
        "decode_sample_s_per_step": round(read_s / len(STEPS), 4),
        "zips": len(zips),
        "zips_with_rows": int(rows["zip"].nunique()),
        "rows": len(rows),
    }


def national_field(zips: pd.DataFrame, repeats: int = 3) -> dict:
    """Decode + sample one real 2.5 km CONUS field at every ZIP (plan cached after the first)."""
    path = REAL / "ndfd_conus_minrh.grib2"
    lat, lon = zips["lat"].to_numpy(float), zips["lon"].to_numpy(float)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pieces = read_file(path)
        piece = pieces[0]
        plan = sample_plan(piece.lat, piece.lon, lat, lon, method="bilinear", max_cells=1.5)
        plan.sample(piece.values)
        times.append(time.perf_counter() - start)
    n_fields = sum(p.values.shape[0] for p in pieces)
    per_field = min(times[1:] or times) / n_fields
    bytes_per_field = path.stat().st_size / n_fields
    per_step = per_field * FIELDS_PER_STEP
    return {
        "grid": f"NDFD 2.5 km CONUS, {piece.values.shape[2]}x{piece.values.shape[1]}",
        "fields_in_file": n_fields,
        "first_read_s": round(times[0], 3),
        "decode_sample_s_per_field": round(per_field, 3),
        "compressed_bytes_per_field": int(bytes_per_field),
        "fields_per_nbm_step": FIELDS_PER_STEP,
        "estimated_decode_sample_s_per_nbm_step": round(per_step, 3),
        "estimated_bytes_per_nbm_step": int(bytes_per_field * FIELDS_PER_STEP),
        # below this download rate fetching a step takes longer than reading it
        "bandwidth_bound_below_mbit_s": round(bytes_per_field * FIELDS_PER_STEP * 8 / 1e6
                                              / per_step, 1),
        "zips_inside": int(plan.inside.sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "feed.json"))
    args = parser.parse_args()
    if not REAL.is_dir():
        sys.exit(f"needs the real forecast files at {REAL}")
    zips = load_zips()
    work = Path(tempfile.mkdtemp(prefix="bench-feed-"))
    try:
        result = {"machine": machine_info(), "cycle": one_cycle(zips, work),
                  "national_2p5km_field": national_field(zips)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
