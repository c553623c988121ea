"""The callback runner: any service that takes a job over HTTP and reports back.

``dispatch`` POSTs flat JSON to ``JOBS_DISPATCH_URL``::

    {"job_id", "title", "instructions", "repo", "callback_url", "callback_token"}

and the runner reports ``{"status": "succeeded"|"failed", "summary", "links"}`` to
``callback_url`` (``{PUBLIC_URL}/jobs/{job_id}/callback``) with ``Authorization: Bearer
<callback_token>``. A follow-up is dispatched the same way under the same ``job_id`` with a new
token. Such a runner cannot be asked how a job stands or told to stop: ``check`` says nothing
and ``cancel`` only makes Threadline stop listening (a later report is acknowledged and
changes nothing); a runner that already started the job may still finish its work.

Any answer but 2xx, a timeout or an unreachable URL is an ``IntegrationError``; the dispatch
URL is never echoed (it may carry a secret in its query).
"""

from __future__ import annotations

from typing import Final

import httpx

from app.errors import IntegrationError
from app.integrations.jobs.base import JobReport, JobSpec
from app.store.types import Job

DISPATCH_TIMEOUT: Final = httpx.Timeout(15.0, connect=5.0)


def callback_url(public_url: str, job_id: str) -> str:
    return f"{public_url.rstrip('/')}/jobs/{job_id}/callback"


class CallbackRunner:
    name = "callback"
    reports_back = True
    stops_work = False

    def __init__(self, http: httpx.AsyncClient, *, dispatch_url: str, public_url: str) -> None:
        self._http = http
        self._dispatch_url = dispatch_url
        self._public_url = public_url

    async def dispatch(self, spec: JobSpec) -> str | None:
        await self._post(spec)
        return None

    async def follow_up(self, job: Job, spec: JobSpec) -> None:
        await self._post(spec)

    async def cancel(self, job: Job) -> None:
        return None

    async def check(self, job: Job) -> JobReport | None:
        return None

    async def job_of(self, runner_id: str) -> str | None:
        return None

    async def _post(self, spec: JobSpec) -> None:
        body = {
            "job_id": spec.job_id,
            "title": spec.title,
            "instructions": spec.instructions,
            "repo": spec.repo,
            "callback_url": callback_url(self._public_url, spec.job_id),
            "callback_token": spec.callback_token,
        }
        try:
            response = await self._http.post(
                self._dispatch_url, json=body, timeout=DISPATCH_TIMEOUT
            )
        except httpx.TimeoutException as exc:
            raise IntegrationError("jobs", "the dispatch URL did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise IntegrationError(
                "jobs", f"the dispatch URL is unreachable ({type(exc).__name__})"
            ) from exc
        if not response.is_success:
            raise IntegrationError(
                "jobs",
                f"the dispatch URL answered {response.status_code}",
                status=response.status_code,
            )
