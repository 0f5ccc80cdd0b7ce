"""Features: cut each ZIP's forecast to its local window, scale it for clustering, read facts.

Array convention (the one used everywhere, see :mod:`pipeline.cluster`):
``(n_locations, n_steps, n_variables)``.
"""

from pipeline.features.facts import FACT_COLUMNS, zip_facts
from pipeline.features.windows import SeriesSet, build_series, scale_series

__all__ = ["FACT_COLUMNS", "SeriesSet", "build_series", "scale_series", "zip_facts"]
