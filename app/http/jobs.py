"""``POST /webhooks/anthropic`` and ``POST /jobs/{job_id}/callback``: background jobs report.

Both routes exist only when jobs are configured (the webhook with ``ANTHROPIC_WEBHOOK_SECRET``,
the callback with ``JOBS_RUNNER=callback``); otherwise they answer 404 like any unknown path.

``/webhooks/anthropic`` (Claude Managed Agents, Standard Webhooks)::

    signature, timestamp or id missing, wrong or stale . 401 (verified with
                                                         ``client.beta.webhooks.unwrap`` first)
    verified but not JSON / not an event .............. 400
    an event that says nothing about a job's end ...... 200, ignored
    a session's end (idled, terminated, requires
    action, budget reached) ........................... recorded in the inbox under its event
                                                         id, 200; the same id again: 200, dropped
    the store cannot record it ........................ 503 (Anthropic retries)

The worker then asks the runner how the session's job stands (``app.turns.job_results``).

``/jobs/{job_id}/callback`` (a callback runner), ``Authorization: Bearer <callback_token>``::

    no bearer token ................................... 401
    unknown job, or not this job's current token ...... 403 (the same answer: nothing tells
                                                         whether a job exists)
    a body that is not {status: succeeded|failed,
    summary: text, links: [urls]} ..................... 400
    the first report of the run ....................... 200 {"result": "recorded"}
    the same report again ............................. 200 {"result": "duplicate"}
    a report after the run ended otherwise (expired,
    cancelled, the other outcome) ..................... 200 {"result": "late"}: logged in the
                                                         session's event log, nothing changes
    the store fails ................................... 503 (the runner may retry)

The token is compared by its SHA-256 in constant time; neither route echoes what it was sent.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web
from anthropic.types.beta import BetaWebhookEvent
from standardwebhooks.webhooks import WebhookVerificationError

from app.errors import StoreError
from app.http import Handler
from app.integrations.jobs import JOB_EVENT_KIND, JobReport, JobService, token_matches
from app.integrations.jobs.base import bounded_text, clean_links

log = logging.getLogger(__name__)

# The session events that may mean a job's run ended.
RUN_ENDED: Final = frozenset(
    {
        "session.status_idled",
        "session.status_terminated",
        "session.requires_action",
        "session.budget_reached",
    }
)
_JOB_ID: Final = re.compile(r"^[0-9a-f]{20}$")
_RUNNER_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,200}$")

Unwrap = Callable[[str, Mapping[str, str]], BetaWebhookEvent]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def anthropic_webhook(
    *,
    unwrap: Unwrap,
    record: Callable[[str, str, str, dict[str, Any]], Awaitable[bool]],
    agent: str,
    wake: Callable[[], None],
) -> Handler:
    """The webhook's handler. ``unwrap`` verifies and parses (the SDK's, with the secret);
    ``record`` is ``Inbox.record_delivery``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            payload = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _error(401, "invalid signature")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            event = unwrap(payload, headers)
        except WebhookVerificationError:
            log.warning("Anthropic webhook refused: bad, missing or stale signature")
            return _error(401, "invalid signature")
        except (ValueError, TypeError):
            return _error(400, "not a webhook event")
        kind = getattr(event.data, "type", None)
        runner_id = getattr(event.data, "id", None)
        event_id = getattr(event, "id", None)
        if kind not in RUN_ENDED:
            return web.json_response({"ok": True, "ignored": True})
        if not (
            isinstance(runner_id, str)
            and _RUNNER_ID.match(runner_id)
            and isinstance(event_id, str)
            and 0 < len(event_id) <= 200
        ):
            return _error(400, "not a session event")
        try:
            recorded = await record(
                f"anthropic:{event_id}",
                "anthropic",
                f"{agent}:anthropic:{runner_id}",
                {"kind": JOB_EVENT_KIND, "runner_id": runner_id, "event": kind},
            )
        except StoreError as exc:
            log.error("Anthropic webhook not recorded: %s", exc)
            return _error(503, "try again")
        if recorded:
            wake()
        return web.json_response({"ok": True, "duplicate": not recorded})

    return handle


def job_callback(jobs: JobService) -> Handler:
    """The callback route's handler."""

    async def handle(request: web.Request) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return web.json_response(
                {"error": "a bearer token is required"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        job_id = request.match_info.get("job_id", "")
        try:
            job = await jobs.job(job_id) if _JOB_ID.match(job_id) else None
        except StoreError as exc:
            log.error("job callback not read: %s", exc)
            return _error(503, "try again")
        if job is None or not token_matches(job, token):
            log.warning("job callback refused: unknown job or wrong token")
            return _error(403, "this token does not report this job")
        report = _report(await request.read())
        if report is None:
            return _error(
                400,
                'expected JSON {"status": "succeeded"|"failed", "summary": text, "links": [urls]}',
            )
        try:
            settled = await jobs.settle(job.id, report)
        except StoreError as exc:
            log.error("job callback not recorded: %s", exc)
            return _error(503, "try again")
        return web.json_response({"ok": True, "result": settled})

    return handle


def _report(raw: bytes) -> JobReport | None:
    """A callback runner's report, or None when it is not one."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    status, summary, links = body.get("status"), body.get("summary", ""), body.get("links", [])
    if status not in ("succeeded", "failed") or not isinstance(summary, str):
        return None
    if not isinstance(links, list) or not all(isinstance(link, str) for link in links):
        return None
    return JobReport(status, bounded_text(summary), clean_links(links))
