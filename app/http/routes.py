"""Which routes exist for which settings, and their handlers.

``/slack/events``, ``/healthz`` and ``/metrics`` always; ``/webhooks/github`` and
``/webhooks/jira`` only when that integration and its webhook secret are configured;
``/webhooks/anthropic`` and ``/jobs/{job_id}/callback`` only when background jobs are. In front
of every route, the body is read whole within the server's deadline (``app.http.bodies``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from app.config import Settings
from app.http import Handler
from app.http.bodies import bounded_bodies
from app.http.healthz import WorkerState, healthz
from app.http.metrics import metrics_page
from app.http.slack_events import slack_events
from app.http.webhooks import within_deadline
from app.metrics import Metrics
from app.store.base import Store


@dataclass(frozen=True)
class Started:
    """Where the routes find what the app builds when it starts; each answers None before."""

    store: Callable[[], Store | None]
    worker: Callable[[], WorkerState | None]
    bolt: Callable[[], AsyncApp | None]
    webhook: Callable[[str], Handler | None]


def add_routes(
    app: web.Application, settings: Settings, metrics: Metrics, started: Started
) -> None:
    """Register the routes ``settings`` call for on ``app``, behind the body reader."""
    app.middlewares.append(bounded_bodies(settings.max_body_bytes))
    app.router.add_post(
        "/slack/events",
        slack_events(
            bolt=started.bolt,
            signing_secret=settings.slack_signing_secret,
            max_body=settings.max_body_bytes,
        ),
    )
    app.router.add_get("/healthz", healthz(store=started.store, worker=started.worker))
    app.router.add_get(
        "/metrics", metrics_page(metrics, store=started.store, worker=started.worker)
    )
    # A webhook route exists only for an integration configured with its secret; without,
    # the path answers 404, like any unknown one.
    for name, integration in (("github", settings.github), ("jira", settings.jira)):
        if integration is not None and integration.webhook_secret is not None:
            app.router.add_post(
                f"/webhooks/{name}",
                within_deadline(name, partial(started.webhook, name)),
            )
    # Background jobs report here only when jobs are configured: the Anthropic webhook with its
    # secret, the callback route for a callback runner (``app.http.jobs``).
    jobs = settings.jobs
    if jobs is not None and jobs.webhook_secret is not None:
        app.router.add_post(
            "/webhooks/anthropic",
            within_deadline("anthropic", partial(started.webhook, "anthropic")),
        )
    if jobs is not None and jobs.runner == "callback":
        app.router.add_post(
            "/jobs/{job_id}/callback",
            within_deadline("job callback", partial(started.webhook, "job_callback")),
        )
