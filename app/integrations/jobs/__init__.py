"""Background jobs: long work handed to a runner, whose result comes back to the conversation.

``base`` defines the ``JobRunner`` protocol; ``managed`` (Claude Managed Agents) and
``callback`` (a service that reports to ``/jobs/{job_id}/callback``) implement it, one module
each, chosen by ``JOBS_RUNNER`` in ``build_runner``; ``service`` runs a job's life on any of
them (start, follow-up, cancel, reports, polling, expiry).
"""

from __future__ import annotations

import anthropic
import httpx

from app.config import Settings
from app.errors import ConfigError
from app.integrations.jobs.base import JobReport, JobRunner, JobSpec
from app.integrations.jobs.callback import CallbackRunner
from app.integrations.jobs.managed import ManagedRunner
from app.integrations.jobs.service import (
    JOB_EVENT_KIND,
    JOB_RESULT_KIND,
    JobObserver,
    JobService,
    job_key,
    token_matches,
)

__all__ = [
    "JOB_EVENT_KIND",
    "JOB_RESULT_KIND",
    "JobObserver",
    "JobReport",
    "JobRunner",
    "JobService",
    "JobSpec",
    "build_runner",
    "job_key",
    "token_matches",
]


def build_runner(
    settings: Settings, *, anthropic_client: anthropic.AsyncAnthropic, http: httpx.AsyncClient
) -> JobRunner:
    """The runner ``JOBS_RUNNER`` names (the settings were validated: each has what it needs)."""
    jobs = settings.jobs
    if jobs is None:
        raise ConfigError("JOBS_RUNNER", "background jobs are not configured")
    if jobs.runner == "callback":
        if jobs.dispatch_url is None or settings.public_url is None:
            raise ConfigError("JOBS_DISPATCH_URL", "the callback runner needs it and PUBLIC_URL")
        return CallbackRunner(http, dispatch_url=jobs.dispatch_url, public_url=settings.public_url)
    if jobs.agent_id is None or jobs.environment_id is None:
        raise ConfigError("JOBS_AGENT_ID", "the managed runner needs it and JOBS_ENVIRONMENT_ID")
    token = settings.github.token.reveal() if settings.github is not None else None
    return ManagedRunner(
        anthropic_client,
        agent_id=jobs.agent_id,
        environment_id=jobs.environment_id,
        github_token=token,
    )
