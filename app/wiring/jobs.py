"""Background jobs (``JOBS_*``), wired into the app when a runner is configured.

At start, ``open_jobs`` opens the runner's own Anthropic client (closed with the app's other
resources), the job service over the runner, and the handlers of the routes runners report
to: Anthropic's webhook when ``JOBS_WEBHOOK_SECRET`` is set, the callback route when the
runner calls back. Then the pipeline gets ``job_turns`` (a job's result is answered in its
conversation), the agent gets ``job_tools`` (start, continue, cancel), and once the worker
runs, ``job_upkeep`` expires overdue jobs and asks the runner about running ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from app.agent.tools.base import Tool
from app.agent.tools.jobs import job_tools as tools_over
from app.config import JobsSettings, Settings
from app.http import Handler
from app.http.jobs import anthropic_webhook, job_callback
from app.integrations import clients
from app.integrations.github import GitHubClient
from app.integrations.jobs import JobService, build_runner
from app.metrics import Metrics
from app.store.base import Store
from app.surfaces import SurfaceRegistry
from app.surfaces.dashboard import DashboardSurface
from app.turns.job_results import JobTurns
from app.turns.routing import AudiencePolicy

# Calls to the Managed Agents API (create, send, read): short, unlike a model turn.
JOBS_API_TIMEOUT = 30.0


def open_jobs(
    settings: Settings,
    *,
    store: Store,
    http: httpx.AsyncClient,
    metrics: Metrics,
    wake: Callable[[], None],
    resources: contextlib.AsyncExitStack,
) -> tuple[JobService, dict[str, Handler]]:
    """The job runner, the service over it, and the handlers of the routes runners report to
    (by webhook source)."""
    assert settings.jobs is not None
    claude = clients.anthropic_client(settings, metrics, timeout=JOBS_API_TIMEOUT)
    resources.push_async_callback(claude.close)
    runner = build_runner(settings, anthropic_client=claude, http=http)
    jobs = JobService(
        store, runner, settings.jobs, agent=settings.agent_name, wake=wake, observer=metrics
    )
    hooks: dict[str, Handler] = {}
    secret = settings.jobs.webhook_secret
    if secret is not None:
        key = secret.reveal()
        hooks["anthropic"] = anthropic_webhook(
            unwrap=lambda payload, headers: claude.beta.webhooks.unwrap(
                payload, headers=headers, key=key
            ),
            record=store.record_delivery,
            agent=settings.agent_name,
            wake=wake,
        )
    if runner.reports_back:
        hooks["job_callback"] = job_callback(jobs)
    return jobs, hooks


def job_upkeep(jobs: JobService, settings: JobsSettings, holder: str) -> Coroutine[Any, Any, None]:
    """Expiry always; polling each interval when no webhook tells us a job ended, else
    slower, as a safety net for a lost webhook."""
    poll = not jobs.runner.reports_back and settings.webhook_secret is None
    return jobs.upkeep(holder, poll=poll)


def job_turns(
    jobs: JobService, store: Store, surfaces: SurfaceRegistry, settings: Settings, holder: str
) -> JobTurns:
    """The turns that answer a job's result in its conversation (or where it is routed)."""
    return JobTurns(
        store,
        jobs,
        surfaces,
        holder=holder,
        policy=AudiencePolicy(settings.trust.public_replies, settings.trust.public_reply_note),
        route=settings.result_route,
    )


def job_tools(
    jobs: JobService,
    settings: Settings,
    http: httpx.AsyncClient,
    dashboard: DashboardSurface | None,
) -> list[Tool]:
    """The agent's tools over jobs, on the configured GitHub repositories."""
    github = settings.github
    repos = frozenset(github.repos) if github else frozenset[str]()
    # A job on a public repository asks for approval like filing there would.
    audience = GitHubClient(github, http).repository_audience if github else None
    page = dashboard.page_url if dashboard is not None else None
    return tools_over(jobs, repos, audience, page)
