"""``jobs``: background jobs as operators see them, and stopping one.

``python -m app jobs list [--status S] [--limit N] [--json]``, ``jobs show <job_id>``,
``jobs cancel <job_id>``.

``list`` shows jobs newest first; ``show`` one job whole (its instructions and result are what
people and runners wrote: printed with their control characters escaped; the callback token is
never shown, only whether one is set). ``cancel`` stops a running job: the runner is told where
it can be (a managed session is interrupted and archived; a callback runner cannot be told, so
work it started may still finish, and its later report is ignored), the job's key is unlinked,
and the conversation is told by the running bot (a delivery in its inbox), which also counts
the cancellation in its ``/metrics``. Exit 1 when the job is unknown or not running.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Final

from app.config import Settings
from app.errors import IntegrationError
from app.ops import output
from app.store.base import Job, Store
from app.store.types import JOB_OUTCOMES

MAX_LIMIT: Final = 10_000
TITLE_WIDTH: Final = 40


def add_parser(commands: Any, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    jobs = commands.add_parser(
        "jobs",
        help="background jobs: list, show one, cancel one",
        description="Background jobs handed to the job runner (JOBS_RUNNER), newest first.",
    )
    sub = jobs.add_subparsers(dest="jobs_command", metavar="action", required=True)
    listing = sub.add_parser("list", help="jobs, newest first")
    listing.add_argument("--status", choices=("running", *JOB_OUTCOMES), help="only this status")
    listing.add_argument(
        "--limit", type=_limit, default=50, metavar="N", help="at most N jobs (default 50)"
    )
    json_flag(listing)
    show = sub.add_parser("show", help="one job, whole")
    show.add_argument("job_id")
    json_flag(show)
    cancel = sub.add_parser(
        "cancel", help="stop a running job; the conversation is told by the running bot"
    )
    cancel.add_argument("job_id")
    json_flag(cancel)


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


async def run(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    if args.jobs_command == "list":
        jobs = await store.list_jobs(status=args.status, limit=args.limit)
        if args.json:
            output.emit_json({"jobs": [public(job) for job in jobs]})
        else:
            print(render_list(jobs))
        return 0
    job = await store.get_job(args.job_id)
    if job is None:
        output.error(f"no job {output.printable(args.job_id)}")
        return 1
    if args.jobs_command == "show":
        if args.json:
            output.emit_json(public(job))
        else:
            print(render_job(job))
        return 0
    return await _cancel(args, store, settings, job)


async def _cancel(args: argparse.Namespace, store: Store, settings: Settings, job: Job) -> int:
    if settings.jobs is None:
        output.error("background jobs are not configured (JOBS_RUNNER)")
        return 1
    from app.integrations import clients
    from app.integrations.jobs import JobService, build_runner

    claude = clients.anthropic_client(settings, timeout=30.0)
    http = clients.http_client(settings)
    try:
        runner = build_runner(settings, anthropic_client=claude, http=http)
        service = JobService(store, runner, settings.jobs, agent=settings.agent_name)
        try:
            cancelled = await service.cancel(job.id, session_id=None, by="an operator")
        except IntegrationError as exc:
            output.error(f"not cancelled: {exc.message}")
            return 1
    finally:
        await http.aclose()
        await claude.close()
    if args.json:
        output.emit_json(public(cancelled))
    else:
        print(f"Cancelled job {cancelled.id}; the conversation will be told.")
        if not runner.stops_work:
            print(
                "Its runner cannot be told to stop: work it already started may still finish; "
                "its report will be ignored."
            )
    return 0


def public(job: Job) -> dict[str, Any]:
    """A job as the CLI shows it: everything but the token's hash."""
    shown = {k: v for k, v in vars(job).items() if k != "token_hash"}
    shown["callback_token"] = "set" if job.token_hash else None
    return shown


def render_list(jobs: list[Job]) -> str:
    if not jobs:
        return "No jobs."
    rows = [
        [
            job.id,
            job.status,
            job.runner,
            str(job.resume_count),
            output.when(job.created_at),
            output.printable(output.one_line(job.title, TITLE_WIDTH)),
            output.printable(job.asked_by or "-"),
            job.session_id,
        ]
        for job in jobs
    ]
    headers = ["JOB", "STATUS", "RUNNER", "RUNS+", "CREATED (UTC)", "TITLE", "ASKED BY", "SESSION"]
    return output.table(headers, rows, right={3})


def render_job(job: Job) -> str:
    p = output.printable
    lines = [
        f"Job {job.id}: {p(job.title)}",
        f"  status     {job.status}"
        + (f" (follow-up {job.resume_count})" if job.resume_count else ""),
        f"  runner     {job.runner}" + (f" ({p(job.runner_id)})" if job.runner_id else ""),
        f"  session    {job.session_id}",
        f"  asked by   {p(job.asked_by or '-')}",
        f"  repository {p(job.repo or '-')}",
        f"  created    {output.when(job.created_at)}",
        f"  expires    {output.when(job.expires_at)}",
        f"  finished   {output.when(job.finished_at)}",
        f"  callback   {'token set' if job.token_hash else '-'}",
        "",
        "Instructions:",
        p(job.instructions, multiline=True),
    ]
    if job.result:
        lines += ["", "Result:", p(job.result, multiline=True)]
    if job.links:
        lines += ["", "Links:", *(f"  {p(link)}" for link in job.links)]
    return "\n".join(lines)
