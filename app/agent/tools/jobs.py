"""Tools that hand long work to a job runner: start a job, continue a finished one, cancel one.

Offered only when ``JOBS_RUNNER`` is configured. A job runs outside the turn; its result comes
back to this conversation as a message of its own (``app.turns.job_results``). A job may only
work on a repository of ``GITHUB_REPOS``; a job can be continued or cancelled only from the
conversation that started it. Refusals and runner failures come back as error results.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

from app.agent.tools.base import Tool, ToolContext, ToolResult
from app.core import Audience, ConversationKey
from app.errors import IntegrationError, NotFound
from app.integrations.filing import InvalidInput, not_allowed, pattern_arg, text_arg
from app.integrations.jobs import JobService
from app.integrations.jobs.service import asker_id
from app.integrations.jobs.steps import running_step
from app.store.types import Job

log = logging.getLogger(__name__)

MAX_JOB_TITLE: Final = 200
MAX_INSTRUCTIONS: Final = 20_000
_REPO_RE: Final = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_JOB_ID_RE: Final = re.compile(r"^[0-9a-f]{20}$")
RepositoryAudience = Callable[[str], Awaitable[Audience]]
SessionPage = Callable[[str], str | None]
_JOB_ID: Final = {"type": "string", "description": "the job id start_background_job returned"}


class _JobTool:
    writes = True
    name: str

    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs

    def _schema(
        self, description: str, props: dict[str, Any], required: list[str]
    ) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": description,
            "input_schema": {"type": "object", "properties": props, "required": required},
        }

    def _job_id(self, args: dict[str, Any]) -> str:
        return pattern_arg(args, "job_id", _JOB_ID_RE, "a job id (20 hexadecimal digits)")

    def _failed(self, exc: IntegrationError, doing: str) -> ToolResult:
        if isinstance(exc, NotFound):
            return ToolResult(f"Could not {doing}: {exc.message}.", is_error=True)
        return ToolResult(
            f"Could not {doing}: {exc.service} {exc.message}. Tell the user it did not work.",
            is_error=True,
        )

    def _minutes(self) -> str:
        return f"{self._jobs.timeout_seconds // 60} minutes"

    def _where(self, job: Job, page: str | None) -> str:
        """Where people can follow the job: the conversation's dashboard page when there is
        one; else what names it (its key, and the managed session's id in the Console)."""
        if page:
            return f"Link: {page} (the conversation's dashboard page, with its jobs)."
        where = f"Job key: {self._jobs.key(job.id)}"
        if job.runner == "managed" and job.runner_id:
            where += f"; Claude Managed Agents session: {job.runner_id}"
        return where + "."


class StartBackgroundJob(_JobTool):
    """``start_background_job(title, instructions, repo?)``."""

    name = "start_background_job"

    def __init__(
        self,
        jobs: JobService,
        repos: frozenset[str],
        repository_audience: RepositoryAudience | None = None,
        page: SessionPage | None = None,
    ) -> None:
        super().__init__(jobs)
        self._repos = frozenset(r.lower() for r in repos)
        self._repository_audience = repository_audience
        self._page = page

    async def target_audience(self, args: dict[str, Any]) -> Audience | None:
        """PUBLIC when the job works on a public repository (what it pushes there is public),
        so ``TOOL_APPROVAL=untrusted`` asks first; None without a repository or for one the
        tool would refuse."""
        try:
            repo = self._repo(args)
        except InvalidInput:
            return None
        if repo is None or self._repository_audience is None:
            return None
        return await self._repository_audience(repo)

    def definition(self) -> dict[str, Any]:
        allowed = ", ".join(sorted(self._repos)) or "none"
        return self._schema(
            "Hand long work (a refactor, a pull request, an investigation) to a background job "
            "that runs on its own, outside this conversation. Its result comes back here as a "
            f"new message when it ends; a job not done within {self._minutes()} expires. Give "
            "complete, self-contained instructions: the job cannot see this conversation. "
            f"Repositories it may work on: {allowed}.",
            {
                "title": {"type": "string", "minLength": 1, "maxLength": MAX_JOB_TITLE},
                "instructions": {"type": "string", "minLength": 1, "maxLength": MAX_INSTRUCTIONS},
                "repo": {"type": "string", "description": f"owner/name, one of: {allowed}"},
            },
            ["title", "instructions"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            title = text_arg(args, "title", min_len=1, max_len=MAX_JOB_TITLE, one_line=True)
            instructions = text_arg(args, "instructions", min_len=1, max_len=MAX_INSTRUCTIONS)
            repo = self._repo(args)
        except InvalidInput as exc:
            return ToolResult(str(exc), is_error=True)
        try:
            job = await self._jobs.start(
                session_id=ctx.session_id,
                asked_by=asker_id(ConversationKey.platform_of(ctx.source_key), ctx.author_id),
                title=title,
                instructions=instructions,
                repo=repo,
                turn_id=ctx.turn_id,
            )
        except IntegrationError as exc:
            return self._failed(exc, "start the job")
        page = self._page(ctx.session_id) if self._page is not None else None
        return ToolResult(
            f"Started background job {job.id} ({title!r}"
            + (f" on {repo}" if repo else "")
            + f"). It runs on its own; its result will come back to this conversation as a "
            f"message when it ends (it expires after {self._minutes()}).\n"
            + self._where(job, page)
            + f"\nTell the user it started, with its id{' and that link' if page else ''}; "
            "do not wait for it.",
            step=running_step(job, page),
        )

    def _repo(self, args: dict[str, Any]) -> str | None:
        if args.get("repo") in (None, ""):
            return None
        repo = pattern_arg(args, "repo", _REPO_RE, "'owner/name'").lower()
        if repo not in self._repos:
            raise InvalidInput(not_allowed("Repository", repo, self._repos, "GITHUB_REPOS"))
        return repo


class ContinueBackgroundJob(_JobTool):
    """``continue_background_job(job_id, instructions)``."""

    name = "continue_background_job"

    def __init__(
        self, jobs: JobService, repository_audience: RepositoryAudience | None = None
    ) -> None:
        super().__init__(jobs)
        self._repository_audience = repository_audience

    async def target_audience(self, args: dict[str, Any]) -> Audience | None:
        """As for starting it: PUBLIC when the job works on a public repository, so
        ``TOOL_APPROVAL=untrusted`` asks before it pushes there again; None for a job without
        a repository, an invalid id or a job that is not there (``run`` refuses those)."""
        try:
            job = await self._jobs.job(self._job_id(args))
        except InvalidInput:
            return None
        if job is None or not job.repo or self._repository_audience is None:
            return None
        return await self._repository_audience(job.repo)

    def definition(self) -> dict[str, Any]:
        return self._schema(
            "Continue a background job of this conversation that has finished (succeeded or "
            "failed) with follow-up instructions; it keeps what it did and its result comes "
            "back here again.",
            {
                "job_id": _JOB_ID,
                "instructions": {"type": "string", "minLength": 1, "maxLength": MAX_INSTRUCTIONS},
            },
            ["job_id", "instructions"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            job_id = self._job_id(args)
            instructions = text_arg(args, "instructions", min_len=1, max_len=MAX_INSTRUCTIONS)
        except InvalidInput as exc:
            return ToolResult(str(exc), is_error=True)
        try:
            job = await self._jobs.follow_up(
                job_id, session_id=ctx.session_id, instructions=instructions, turn_id=ctx.turn_id
            )
        except IntegrationError as exc:
            return self._failed(exc, "continue the job")
        return ToolResult(
            f"Background job {job.id} ({job.title!r}) continues (follow-up {job.resume_count}). "
            "Its result will come back to this conversation as a message.",
            step=running_step(job, None),
        )


class CancelBackgroundJob(_JobTool):
    """``cancel_background_job(job_id)``."""

    name = "cancel_background_job"

    def definition(self) -> dict[str, Any]:
        stops = (
            ""
            if self._jobs.runner.stops_work
            else " Its runner cannot be told to stop: Threadline stops listening to the job, "
            "and work the runner already started may still finish."
        )
        return self._schema(
            "Cancel a running background job of this conversation." + stops,
            {"job_id": _JOB_ID},
            ["job_id"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            job_id = self._job_id(args)
        except InvalidInput as exc:
            return ToolResult(str(exc), is_error=True)
        try:
            job = await self._jobs.cancel(
                job_id,
                session_id=ctx.session_id,
                by=ctx.author_id or "someone",
                turn_id=ctx.turn_id,
            )
        except IntegrationError as exc:
            return self._failed(exc, "cancel the job")
        if self._jobs.runner.stops_work:
            return ToolResult(
                f"Background job {job.id} ({job.title!r}) is cancelled: its runner was asked "
                "to stop it, and nothing more will come back from it."
            )
        return ToolResult(
            f"Background job {job.id} ({job.title!r}) is cancelled here: Threadline no longer "
            "listens to it and ignores any later report. Its runner cannot be told to stop, so "
            "work it already started may still finish (a branch or pull request may still "
            "appear). Tell the user exactly that."
        )


def job_tools(
    jobs: JobService,
    repos: frozenset[str],
    repository_audience: RepositoryAudience | None = None,
    page: SessionPage | None = None,
) -> list[Tool]:
    """The job tools to offer when a runner is configured; ``repository_audience`` tells a
    public repository (GitHub's answer), when GitHub is configured; ``page`` is a session's
    dashboard page, when the dashboard is on (a link Claude can show)."""
    return [
        StartBackgroundJob(jobs, repos, repository_audience, page),
        ContinueBackgroundJob(jobs, repository_audience),
        CancelBackgroundJob(jobs),
    ]
