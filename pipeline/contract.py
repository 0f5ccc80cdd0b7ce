"""The forecast contract: the one table shape every source produces and every step consumes.

One row per ``(zip, valid_time)``. Times are UTC (tz-aware). Units are fixed:

=========================  =====  ========  ==============================================
column                     unit   required  meaning
=========================  =====  ========  ==============================================
zip                        —      yes       5-digit ZIP code, a string
valid_time                 UTC    yes       end of the forecast step
issue_time                 UTC    yes       when the forecast was issued
temperature_f              °F     yes       air temperature at valid_time
apparent_temperature_f     °F     no        feels-like temperature
precip_probability         %      no        chance of precipitation in the step
precip_in                  in     yes       amount in the step ending at valid_time
snow_in                    in     no        snowfall in the step ending at valid_time
wind_mph                   mph    yes       sustained 10 m wind speed
gust_mph                   mph    no        wind gust
cloud_cover                %      no        total cloud cover
relative_humidity          %      no        2 m relative humidity
weather_code               WMO    no        WMO 4677 code (Open-Meteo style, 0–99)
=========================  =====  ========  ==============================================

The pandera model that checks it lives in :mod:`pipeline.validate`; Parquet is the storage form.
"""

from __future__ import annotations

KEY_COLUMNS = ["zip", "valid_time", "issue_time"]
REQUIRED_VARIABLES = ["temperature_f", "precip_in", "wind_mph"]
OPTIONAL_VARIABLES = [
    "apparent_temperature_f",
    "precip_probability",
    "snow_in",
    "gust_mph",
    "cloud_cover",
    "relative_humidity",
    "weather_code",
]
VARIABLES = [
    "temperature_f",
    "apparent_temperature_f",
    "precip_probability",
    "precip_in",
    "snow_in",
    "wind_mph",
    "gust_mph",
    "cloud_cover",
    "relative_humidity",
    "weather_code",
]
COLUMNS = KEY_COLUMNS + VARIABLES

UNITS = {
    "temperature_f": "°F",
    "apparent_temperature_f": "°F",
    "precip_probability": "%",
    "precip_in": "in",
    "snow_in": "in",
    "wind_mph": "mph",
    "gust_mph": "mph",
    "cloud_cover": "%",
    "relative_humidity": "%",
    "weather_code": "WMO code",
}
