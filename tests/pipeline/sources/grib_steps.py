"""Build a directory of real GRIB2 step files (one file per 3-hourly step) from real messages.

Takes the Eta grid-211 messages (2 m temperature and humidity, 10 m u/v, total precipitation,
gust) of ``eta_grid211_f24.grib1`` and writes ``n_steps`` files with eccodes: each a clone of
the real messages with its forecast step set and its values shifted a little (a diurnal swing
on temperature, stronger wind later, precipitation accumulated since the run start). Real GRIB
encoding and the real Lambert grid; only the numbers are made up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.sources._fields import _proj_before_eccodes

_proj_before_eccodes()  # PROJ's database opened before eccodes loads

WANTED = {("2t", 2), ("2r", 2), ("10u", 10), ("10v", 10), ("tp", 0), ("gust", 0)}


def real_messages(source: Path) -> dict[str, bytes]:
    """The wanted messages of ``source`` as standalone single-field GRIB messages."""
    import eccodes

    eccodes.codes_grib_multi_support_on()
    found: dict[str, bytes] = {}
    with open(source, "rb") as handle:
        while (gid := eccodes.codes_grib_new_from_file(handle)) is not None:
            key = (eccodes.codes_get(gid, "shortName"), eccodes.codes_get(gid, "level"))
            if key in WANTED and key[0] not in found:
                clone = eccodes.codes_clone(gid)  # a multi-field message's clone holds 1 field
                found[key[0]] = eccodes.codes_get_message(clone)
                eccodes.codes_release(clone)
            eccodes.codes_release(gid)
    return found


def make_gridded_dir(source: Path, dest: Path, *, n_steps: int = 24, step_hours: int = 3,
                     seed: int = 0) -> list[Path]:
    """Write ``n_steps`` step files ``eta.f003.grib2`` … into ``dest``; return their paths."""
    import eccodes

    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    messages = real_messages(source)
    total_rain = None
    paths = []
    for k in range(1, n_steps + 1):
        step = k * step_hours
        path = dest / f"eta.f{step:03d}.grib2"
        with open(path, "wb") as out:
            for short, raw in messages.items():
                gid = eccodes.codes_new_from_message(raw)
                values = eccodes.codes_get_values(gid)
                if short == "2t":
                    values = values + 6.0 * np.sin(2 * np.pi * (step - 9) / 24)
                elif short in ("10u", "10v", "gust"):
                    values = values * (1.0 + 0.3 * np.sin(np.pi * step / (n_steps * step_hours)))
                elif short == "2r":
                    values = np.clip(values - 10 * np.sin(2 * np.pi * (step - 9) / 24), 0, 100)
                if short == "tp":
                    amount = values / 4 * rng.uniform(0.5, 1.5)
                    total_rain = amount if total_rain is None else total_rain + amount
                    eccodes.codes_set(gid, "stepRange", f"0-{step}")
                    values = total_rain
                else:
                    eccodes.codes_set(gid, "stepRange", str(step))
                eccodes.codes_set_values(gid, values)
                out.write(eccodes.codes_get_message(gid))
                eccodes.codes_release(gid)
        paths.append(path)
    return paths
