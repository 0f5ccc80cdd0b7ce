"""Prefect artifacts shared by the flows: keys, and the editor gate as people see it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact

from pipeline.editorial import notify
from pipeline.settings import Settings


def artifact_key(prefix: str, name: str) -> str:
    """Prefect artifact keys: lowercase letters, digits and dashes."""
    return "".join(c if c.isalnum() else "-" for c in f"{prefix}-{name}".lower())


def publish_gate(settings: Settings, run_id: str, now: datetime) -> dict[str, Any]:
    """The run's editor gate now: ``gate-<window>`` (markdown) and ``gate-<window>-approved``
    (progress); the same words as the sheet's banner."""
    state = notify.gate_now(settings, run_id, now)
    total = len(state.approved) + len(state.pending)
    key = artifact_key("gate", state.window)
    url = notify.sheet_url(settings, run_id)
    set_by = f" (set by {state.policy_set_by})" if state.policy_set_by else " (default)"
    create_markdown_artifact(
        "\n".join([
            f"# Editor gate: {state.state.upper()}",
            "",
            state.describe(),
            "",
            f"| run | `{run_id}` |", "|---|---|",
            f"| approved | {len(state.approved)} of {total} slots |",
            f"| send time | {state.send_at:%Y-%m-%d %H:%M} UTC |",
            f"| policy for unapproved slots | {state.policy}{set_by} |",
            f"| sheet | [{url}]({url}) |",
        ]),
        key=key, description=f"Gate of {run_id}: {state.state}")
    create_progress_artifact(100.0 * len(state.approved) / max(total, 1),
                             key=f"{key}-approved", description=f"Slots approved in {run_id}")
    get_run_logger().info("gate of %s: %s — %s", run_id, state.state, state.describe())
    return {"state": state.state, "approved": len(state.approved),
            "pending": len(state.pending), "policy": state.policy,
            "send_at": state.send_at.isoformat()}
