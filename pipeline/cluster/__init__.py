"""DTW k-means clustering of forecast series.

Array convention
----------------
A set of series ``X`` has shape ``(n_locations, n_steps, n_variables)`` and
dtype float64 (float32 / integer input is converted; 2-D input is read as
univariate).  One row ``X[i]`` is the forecast of one location: ``n_steps``
time steps (e.g. 48 hourly steps) of ``n_variables`` weather variables.
NaN / inf are not allowed in clustering input: validation raises a
``ValueError`` stating how many rows contain them.

DTW here is tslearn's: the square root of the summed squared Euclidean
distance (over variables) along the best warping path, optionally restricted
to a Sakoe-Chiba band of radius ``window`` steps.
"""

from pipeline.cluster.kmeans import DTWKMeans
from pipeline.cluster.metrics import cdist_dtw, dtw
from pipeline.cluster.partitioned import fit_partitioned

__all__ = ["DTWKMeans", "cdist_dtw", "dtw", "fit_partitioned"]
