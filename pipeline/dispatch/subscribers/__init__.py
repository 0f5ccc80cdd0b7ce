"""Subscribers: who gets which ZIP's forecast, through which channels, at what local time.

Three ways in:

- :func:`import_csv` reads a subscriber CSV, checks every row, merges duplicates and writes
  the good rows in one transaction, with an :class:`ImportReport` of what happened per line;
- :func:`make_demo` writes realistic demo subscribers, spread like people are;
- :func:`subscriber_counts`, :func:`subscriber_stats`, :func:`find_by_address`,
  :func:`by_token` and :func:`opt_out` serve the dispatch job, the review sheet, STOP handling
  and unsubscribe links.

A subscriber's time zone always comes from its ZIP (the gazetteer), never from a file. Phones
are stored in E.164; emails are normalised by ``email_validator`` and lower-cased, so
``Ann@Example.com`` and ``ann@example.com`` are one person (providers treat them alike).
Delivery times are local ``HH:MM`` strings.
"""


from pipeline.dispatch.subscribers.common import (
    CHUNK,
    DEMO_TOKEN_PREFIX,
    DemoCollision,
    SubscriberFileError,
    SubscriberNotFound,
    check_webhook_url,
    normalize_email,
    normalize_phone,
    parse_local_time,
)
from pipeline.dispatch.subscribers.csv_import import ImportReport, import_csv
from pipeline.dispatch.subscribers.demo import (
    demo_capacity,
    demo_phones,
    demo_weights,
    make_demo,
    zip_density,
)
from pipeline.dispatch.subscribers.queries import (
    SubscriberStats,
    by_token,
    find_by_address,
    opt_out,
    subscriber_counts,
    subscriber_stats,
)

__all__ = [
    "CHUNK", "DEMO_TOKEN_PREFIX", "DemoCollision", "ImportReport", "SubscriberFileError",
    "SubscriberNotFound", "SubscriberStats", "by_token", "check_webhook_url", "demo_capacity",
    "demo_phones", "demo_weights", "find_by_address", "import_csv", "make_demo",
    "normalize_email", "normalize_phone", "opt_out", "parse_local_time", "subscriber_counts",
    "subscriber_stats", "zip_density",
]
