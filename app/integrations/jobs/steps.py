"""How a job shows in a conversation's steps (Slack's task cards): the step of the turn that
started it reads as the job running (in progress when that answer ends), and the turn that
tells its end opens with the same job's step finished.

Titles are the job's title made one short line; the details say the job id (and the
runner's own id, when it has one); a link, when there is one to follow (the conversation's
dashboard page), is the step's source.
"""

from __future__ import annotations

from typing import Any, Final

from app.core.steps import StepStatus, TaskStep
from app.core.text import clean_name
from app.store.types import Job

# How each end of a run reads, and the status its step shows.
_ENDS: Final[dict[str, tuple[str, StepStatus]]] = {
    "succeeded": ("finished", "complete"),
    "failed": ("failed", "error"),
    "cancelled": ("was cancelled", "error"),
    "expired": ("expired", "error"),
}


def step_title(title: str) -> str:
    """``Background job: <title>``, the title made one short line (``clean_name``)."""
    return f"Background job: {clean_name(title, 'untitled')}"


def running_step(job: Job, link: str | None) -> TaskStep:
    """The step of the turn that started (or continued) ``job``: running."""
    details = f"Job {job.id}" + (f" ({job.runner} {job.runner_id})" if job.runner_id else "")
    details += " is running; its result will come back here."
    return TaskStep(step_title(job.title), "in_progress", details, link, "Follow it")


def ended_step(payload: dict[str, Any]) -> tuple[str, TaskStep]:
    """The id and step that open the turn telling a run's end (``result_payload``)."""
    job_id = str(payload.get("job_id") or "")
    status = str(payload.get("status") or "")
    said, shown = _ENDS.get(status, (status or "ended", "error"))
    step = TaskStep(step_title(str(payload.get("title") or "")), shown, f"Job {job_id} {said}.")
    return f"job-{job_id}-{payload.get('run', 0)}", step
