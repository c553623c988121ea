"""The Managed Agents runner (``JOBS_RUNNER=managed``): each job is a session of a Claude
Managed Agents agent, through the anthropic SDK's ``client.beta.sessions`` (beta
``managed-agents-2026-04-01``, which the SDK sends on every call).

* ``dispatch``: ``sessions.create`` with ``JOBS_AGENT_ID``, ``JOBS_ENVIRONMENT_ID``, the title,
  our ids in ``metadata`` (``threadline_session``, ``threadline_job``), the repository as a
  ``github_repository`` resource (with ``GITHUB_TOKEN`` to clone it, when set) and the
  instructions as the first ``user.message``.
* ``follow_up``: a new ``user.message`` to the same session (it runs again from idle).
* ``cancel``: ``user.interrupt``, then ``archive`` (a session that already stopped is fine).
* ``check``: how the run ended, read from the session and its events: idle with ``end_turn``
  succeeded; idle for any other reason (``requires_action``, ``budget_reached``,
  ``retries_exhausted``, ``refusal``) or terminated failed, with a line saying why. The text is
  what the agent said after the run's last ``user.message``, verbatim.

A run has ended only when its own ``user.message`` is in the session (run ``n`` of a job,
``resume_count`` n, is the session's message n + 1), every message was taken up
(``processed_at`` set), and an idle or terminated event follows the last one. Anything else
is a run still going (None): a follow-up recorded here but not yet sent (the session still
shows the previous run's end), or sent to a session that stays idle a moment before it runs.
A terminated session whose run's message is there has ended, whatever else its events say.

SDK failures (4xx, 5xx, 429 after its retries, timeouts, no connection) become
``IntegrationError`` naming the status, never the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import anthropic

from app.errors import IntegrationError
from app.integrations.jobs.base import JobReport, JobSpec, bounded_text, links_in
from app.store.types import Job

META_SESSION: Final = "threadline_session"
META_JOB: Final = "threadline_job"
# How far back ``check`` reads a run's events (pages of ``EVENTS_PAGE``).
EVENTS_PAGE: Final = 100
MAX_EVENTS: Final = 2_000
_WHY_NOT_DONE: Final = {
    "requires_action": "it stopped waiting for a confirmation it cannot get",
    "budget_reached": "it reached its spending budget",
    "retries_exhausted": "it gave up after repeated errors",
    "refusal": "the model refused to continue",
}


@dataclass
class _Run:
    """What a session's events say of its latest run (since its last ``user.message``)."""

    texts: list[str] = field(default_factory=list)  # the agent's, oldest first
    ended: bool = False  # an idle or terminated event follows the message
    stop: str | None = None  # the latest idle's stop reason
    error: str | None = None  # the latest error's message


class ManagedRunner:
    name = "managed"
    reports_back = False
    stops_work = True

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        *,
        agent_id: str,
        environment_id: str,
        github_token: str | None = None,
    ) -> None:
        self._client = client
        self._agent_id = agent_id
        self._environment_id = environment_id
        self._github_token = github_token

    async def dispatch(self, spec: JobSpec) -> str | None:
        resources: list[Any] = []
        if spec.repo:
            repo: dict[str, Any] = {
                "type": "github_repository",
                "url": f"https://github.com/{spec.repo}",
            }
            if self._github_token:
                repo["authorization_token"] = self._github_token
            resources.append(repo)
        try:
            session = await self._client.beta.sessions.create(
                agent=self._agent_id,
                environment_id=self._environment_id,
                title=spec.title[:200],
                metadata={META_SESSION: spec.session_id, META_JOB: spec.job_id},
                resources=resources,
                initial_events=[_message(spec.instructions)],
            )
        except anthropic.APIError as exc:
            raise _failure("creating the session", exc) from exc
        return session.id

    async def follow_up(self, job: Job, spec: JobSpec) -> None:
        if not job.runner_id:
            raise IntegrationError("jobs", "the job has no managed session")
        try:
            await self._client.beta.sessions.events.send(
                job.runner_id, events=[_message(spec.instructions)]
            )
        except anthropic.APIError as exc:
            raise _failure("sending the follow-up", exc) from exc

    async def cancel(self, job: Job) -> None:
        if not job.runner_id:
            return
        sessions = self._client.beta.sessions
        try:
            await sessions.events.send(job.runner_id, events=[{"type": "user.interrupt"}])
        except anthropic.BadRequestError:
            pass  # not running (idle or terminated already): archiving is all that is left
        except anthropic.NotFoundError:
            return
        except anthropic.APIError as exc:
            raise _failure("interrupting the session", exc) from exc
        try:
            await sessions.archive(job.runner_id)
        except anthropic.NotFoundError:
            return
        except anthropic.APIError as exc:
            raise _failure("archiving the session", exc) from exc

    async def job_of(self, runner_id: str) -> str | None:
        """Our job id in a managed session's metadata (None: not one of ours)."""
        try:
            session = await self._client.beta.sessions.retrieve(runner_id)
        except anthropic.NotFoundError:
            return None
        except anthropic.APIError as exc:
            raise _failure("reading the session", exc) from exc
        return session.metadata.get(META_JOB)

    async def check(self, job: Job) -> JobReport | None:
        if not job.runner_id:
            return None
        try:
            session = await self._client.beta.sessions.retrieve(job.runner_id)
            if session.status not in ("idle", "terminated"):
                return None
            taken_up = await self._messages_taken_up(job.runner_id)
            if len(taken_up) <= job.resume_count:
                return None  # the follow-up is not sent yet: the session shows the last run
            run = await self._run_events(job.runner_id)
        except anthropic.NotFoundError:
            return JobReport("failed", "The job's session no longer exists.")
        except anthropic.APIError as exc:
            raise _failure("reading the session", exc) from exc
        if session.status == "idle" and not (run.ended and all(taken_up)):
            return None  # idle before it took the message up: it has not run yet
        said = "\n\n".join(run.texts)
        if session.status == "idle" and run.stop == "end_turn":
            return JobReport("succeeded", bounded_text(said), links_in(said))
        if session.status == "terminated":
            why = (
                f"The job's session ended with an error: {run.error}"
                if run.error
                else ("The job's session ended before finishing.")
            )
        else:
            stop = run.stop or "unknown"
            why = f"The job stopped before finishing: {_WHY_NOT_DONE.get(stop, stop)}."
        text = f"{why}\n\n{said}" if said else why
        return JobReport("failed", bounded_text(text), links_in(said))

    async def _messages_taken_up(self, runner_id: str) -> list[bool]:
        """For each user message of the session (at most ``MAX_EVENTS``), whether it was
        taken up (``processed_at`` set); in any order, as the flags are all that count."""
        taken_up: list[bool] = []
        messages = self._client.beta.sessions.events.list(
            runner_id, types=["user.message"], limit=EVENTS_PAGE
        )
        async for event in messages:
            taken_up.append(getattr(event, "processed_at", None) is not None)
            if len(taken_up) >= MAX_EVENTS:
                break
        return taken_up

    async def _run_events(self, runner_id: str) -> _Run:
        """What the events since the last user message say, read newest first."""
        run = _Run()
        seen = 0
        events = self._client.beta.sessions.events.list(runner_id, order="desc", limit=EVENTS_PAGE)
        async for event in events:
            seen += 1
            kind = getattr(event, "type", "")
            if kind == "user.message" or seen > MAX_EVENTS:
                break
            if kind == "agent.message":
                parts = [b.text for b in getattr(event, "content", []) if b.type == "text"]
                run.texts.append("\n".join(parts))
            elif kind in ("session.status_idle", "session.status_terminated"):
                run.ended = True
                if kind == "session.status_idle" and run.stop is None:
                    run.stop = getattr(getattr(event, "stop_reason", None), "type", None)
            elif kind == "session.error" and run.error is None:
                run.error = str(getattr(getattr(event, "error", None), "message", "") or "") or None
        run.texts.reverse()
        return run


def _message(text: str) -> Any:
    return {"type": "user.message", "content": [{"type": "text", "text": text}]}


def _failure(doing: str, exc: anthropic.APIError) -> IntegrationError:
    status = getattr(exc, "status_code", None)
    if isinstance(exc, anthropic.APITimeoutError):
        what = "timed out"
    elif isinstance(exc, anthropic.APIConnectionError):
        what = "could not connect"
    else:
        what = f"answered {status}"
    return IntegrationError("anthropic", f"Managed Agents {what} {doing}", status=status)
