"""``doctor``'s background-job checks, when ``JOBS_RUNNER`` is configured.

* ``jobs agent`` / ``jobs environment`` (managed): ``JOBS_AGENT_ID`` and
  ``JOBS_ENVIRONMENT_ID`` are looked up for real (``beta.agents.retrieve``,
  ``beta.environments.retrieve``, beta ``managed-agents-2026-04-01``) with the API key.
* ``jobs webhook`` (managed): ``ANTHROPIC_WEBHOOK_SECRET`` must be a Standard Webhooks signing
  secret in the Console's format (``whsec_`` and base64), and a payload signed with it here
  must verify with the SDK's ``webhooks.unwrap``, as the Console's deliveries will. (No API
  call can confirm it is the secret of the Console's webhook: a delivery proves that.)
  Without it the bot polls, which warns.
* ``jobs callback`` (callback): where the runner is dispatched and where it reports
  (``PUBLIC_URL``), which should be https. Nothing is dispatched: that would start a job.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anthropic
from standardwebhooks import Webhook

from app.config import JobsSettings, Settings
from app.integrations import clients
from app.ops.checks import Check, failed, passed, warned

AGENT_FIX = "set JOBS_AGENT_ID to the id of a Managed Agents agent (Console → Agents)"
ENVIRONMENT_FIX = "set JOBS_ENVIRONMENT_ID to an environment's id (Console → Environments)"
WEBHOOK_FIX = (
    "create a webhook in the Console (Manage → Webhooks) to https://<your host>/webhooks/"
    "anthropic for session events, and set ANTHROPIC_WEBHOOK_SECRET to its signing secret"
)


async def job_checks(s: Settings) -> list[Check]:
    jobs = s.jobs
    assert jobs is not None
    if jobs.runner == "callback":
        return [_callback(s, jobs)]
    async with clients.anthropic_client(s, timeout=15.0, max_retries=1) as client:
        found = [
            await _lookup(
                "jobs agent",
                "JOBS_AGENT_ID",
                jobs.agent_id,
                client.beta.agents.retrieve,
                AGENT_FIX,
            ),
            await _lookup(
                "jobs environment",
                "JOBS_ENVIRONMENT_ID",
                jobs.environment_id,
                client.beta.environments.retrieve,
                ENVIRONMENT_FIX,
            ),
        ]
        return [*found, _webhook(client, jobs)]


async def _lookup(
    name: str,
    setting: str,
    ident: str | None,
    retrieve: Callable[[str], Awaitable[Any]],
    fix: str,
) -> Check:
    if not ident:
        return failed(name, f"{setting} is not set", fix)
    try:
        found = await retrieve(ident)
    except anthropic.NotFoundError:
        return failed(name, f"{setting} {ident!r} was not found with this API key", fix)
    except anthropic.AuthenticationError:
        return failed(name, "the API key was refused (401)", "check ANTHROPIC_API_KEY")
    except anthropic.PermissionDeniedError:
        return failed(name, "the API key may not use Managed Agents (403)", fix)
    except anthropic.APIConnectionError as exc:
        return failed(name, f"cannot reach the API ({type(exc).__name__})", "check the network")
    except anthropic.APIStatusError as exc:
        return failed(name, f"the API answered {exc.status_code}", "try again later")
    label = getattr(found, "name", None) or ident
    return passed(name, f"{setting} {ident} found ({label})")


def _webhook(client: anthropic.AsyncAnthropic, jobs: JobsSettings) -> Check:
    name = "jobs webhook"
    if jobs.webhook_secret is None:
        return warned(
            name,
            f"ANTHROPIC_WEBHOOK_SECRET is not set: jobs are polled every {jobs.poll_seconds:g}s "
            "and POST /webhooks/anthropic answers 404",
            WEBHOOK_FIX,
        )
    secret = jobs.webhook_secret.reveal()
    if not _signing_secret(secret):
        return failed(
            name,
            "ANTHROPIC_WEBHOOK_SECRET is not a signing secret (whsec_ and base64)",
            "copy the webhook's signing secret (whsec_…) from the Console",
        )
    payload = json.dumps(
        {
            "type": "event",
            "id": "wevt_doctor",
            "created_at": datetime.now(UTC).isoformat(),
            "data": {"type": "session.status_idled", "id": "sesn_doctor"},
        }
    )
    try:
        signer = Webhook(secret)
        when = datetime.now(UTC)
        headers = {
            "webhook-id": "msg_doctor",
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": signer.sign("msg_doctor", when, payload),
        }
        client.beta.webhooks.unwrap(payload, headers=headers, key=secret)
    except Exception as exc:  # any failure means the Console's deliveries would fail too
        return failed(
            name,
            f"ANTHROPIC_WEBHOOK_SECRET is not a usable signing secret ({type(exc).__name__})",
            "copy the webhook's signing secret (whsec_…) from the Console",
        )
    return passed(
        name, "ANTHROPIC_WEBHOOK_SECRET verifies; deliveries go to POST /webhooks/anthropic"
    )


def _signing_secret(secret: str) -> bool:
    """The Console's format: ``whsec_`` then the base64 of at least 16 random bytes."""
    prefix, _, encoded = secret.partition("_")
    try:
        key = base64.b64decode(encoded, validate=True)
    except ValueError:
        return False
    return prefix == "whsec" and len(key) >= 16


def _callback(s: Settings, jobs: JobsSettings) -> Check:
    name = "jobs callback"
    reports = f"{s.public_url}/jobs/<job id>/callback"
    if s.public_url is None or not s.public_url.startswith("https://"):
        return warned(
            name,
            f"runners report to {reports}, which is not https: tokens would cross in clear",
            "set PUBLIC_URL to the bot's https address",
        )
    return passed(name, f"jobs are dispatched to JOBS_DISPATCH_URL and report to {reports}")
