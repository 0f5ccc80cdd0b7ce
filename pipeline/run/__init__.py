"""A run's library side, in data-flow order; ``flows/twice_daily.py`` only wires it.

- :mod:`~pipeline.run.params`: parameters, identity (the run id) and the issue hour;
- :mod:`~pipeline.run.start`: how a run begins (options, or a replay's own parameters);
- :mod:`~pipeline.run.steps`: planning, baselines, step timing;
- :mod:`~pipeline.run.summary`: the typed summary (:class:`pipeline.store.summary.RunSummary`);
- :mod:`~pipeline.run.report`: the slots table and markdown for Prefect artifacts;
- :mod:`~pipeline.run.replay`: replays and their comparison;
- :mod:`~pipeline.run.lineage`: which code made the run.
"""

from pipeline.run.lineage import code_version
from pipeline.run.params import RunParams, issue_hour
from pipeline.run.replay import compare_runs, load_replay, replay_params
from pipeline.run.start import RunStart, begin
from pipeline.run.steps import (
    Clustering,
    StepClock,
    baselines,
    cluster_locations,
    unscale_centers,
)
from pipeline.run.summary import build_summary, rule_words, truth_of, with_automatic

__all__ = [
    "Clustering", "RunParams", "RunStart", "StepClock", "baselines", "begin",
    "build_summary", "cluster_locations", "code_version", "compare_runs", "issue_hour",
    "load_replay", "replay_params", "rule_words", "truth_of", "unscale_centers",
    "with_automatic",
]
