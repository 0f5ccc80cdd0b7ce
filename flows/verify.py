"""The verification flow: a run's messages scored against what the weather did.

``verify_flow(run_id, obs)`` wires the library's steps (:mod:`pipeline.verify.job`), one task
each, and publishes the result as a markdown artifact (``verify-<window>``).
``verify_due_flow`` is the scheduled one (``zipcast serve``: hourly): it verifies every run
whose window ended ``verify.delay_hours`` ago, with observations from ``verify.obs_path``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from flows.artifacts import artifact_key
from pipeline.settings import Settings, get_settings
from pipeline.times import to_utc
from pipeline.verify import job
from pipeline.verify.job import VerificationSummary


@task(name="load run", cache_policy=NONE)
def load(run_id: str | None, settings: Settings) -> job.RunToVerify:
    return job.load_run_to_verify(run_id, settings)


@task(name="observations", cache_policy=NONE, retries=2, retry_delay_seconds=60)
def observations(run: job.RunToVerify, obs: list[str], settings: Settings) -> Any:
    return job.load_observations(run, obs, settings)


@task(name="observed facts", cache_policy=NONE)
def observe(run: job.RunToVerify, obs: Any, settings: Settings) -> Any:
    return job.observe(run, obs, settings)


@task(name="score", cache_policy=NONE)
def score(run: job.RunToVerify, observed: Any, settings: Settings) -> Any:
    return job.score_run(run, observed, settings)


@task(name="save", cache_policy=NONE)
def save(run: job.RunToVerify, obs: Any, observed: Any, scored: Any,
         settings: Settings) -> VerificationSummary:
    summary = job.summarize(run, obs, observed, scored, settings)
    job.save_verification(run, observed, scored, summary, settings)
    return summary


@task(name="publish", cache_policy=NONE)
def publish(summary: VerificationSummary) -> None:
    """The summary as a markdown artifact: the national numbers and the worst slots."""
    sent = summary.messages["sent"]
    worst = sorted(((s.true_share, slot) for slot, s in sent.per_slot.items()
                    if s.true_share is not None))[:10]
    rows = [f"| {slot} | {100 * share:.1f} % |" for share, slot in worst]
    create_markdown_artifact(
        "\n".join([f"# How did we do? {summary.run_id}", "",
                   *[f"- {line}" for line in summary.lines()], "",
                   "| worst slots | observed truthfulness |", "|---|---|", *rows]),
        key=artifact_key("verify", summary.window),
        description=f"Verification of {summary.run_id}")


@flow(name="verify", log_prints=True)
def verify_flow(run_id: str | None = None, obs: list[str] | None = None,
                settings: Settings | None = None) -> VerificationSummary:
    """Verify one run (the newest when ``run_id`` is None) against ``obs`` (paths, or
    ``synthetic``; default ``settings.verify.obs_path``)."""
    settings = settings or get_settings()
    run = load(run_id, settings)
    found = observations(run, obs or [settings.verify.obs_path], settings)
    observed = observe(run, found, settings)
    scored = score(run, observed, settings)
    summary = save(run, found, observed, scored, settings)
    publish(summary)
    for line in summary.lines():
        print(line)
    return summary


@flow(name="verify-due", log_prints=True)
def verify_due_flow(now: str | None = None, settings: Settings | None = None
                    ) -> dict[str, Any]:
    """Verify every run whose window has ended and that is not verified yet."""
    settings = settings or get_settings()
    log = get_run_logger()
    moment = to_utc(now).to_pydatetime() if now else datetime.now(UTC)
    report: dict[str, Any] = {}
    for run_id, path in job.due_runs(settings, moment):
        try:
            summary = verify_flow(run_id, [path], settings)
            report[run_id] = summary.messages["sent"].national.true_share
        except Exception as err:  # noqa: BLE001 - the other runs still get verified
            log.error("verification of %s failed: %s: %s", run_id, type(err).__name__, err)
            report[run_id] = f"{type(err).__name__}: {err}"
    if not report:
        log.info("no run is due for verification")
    return report
