"""zipcast's library: sources → validate/quality → features → truth → planning → slots → store →
editorial → review / dispatch → verify (see the README's architecture).

One process-wide default is set here, before any module loads an OpenMP runtime: OpenMP's
threads (numba's DTW kernels run on its ``omp`` layer; scikit-learn's k-means) *sleep* when
they wait at the end of a parallel region instead of spinning for a while. The planner runs
them beside a HiGHS thread (the LP bound) and, on a busy machine, beside another run; a
spinning thread took the core that thread needed. Measured on national plans (2 cores): the
baselines' starts 3.8 → 3.4 s alone, two plans at once 16.1-16.7 → 13.5-14.1 s; the same
labels. The environment wins: ``OMP_WAIT_POLICY=ACTIVE`` brings spinning back.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
