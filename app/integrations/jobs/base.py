"""What a job runner is: the protocol every runner implements, and the values it trades in.

A runner takes a job (``JobSpec``) and does the work somewhere else; it can take follow-up
instructions for a finished job, be asked to stop, and (when it can be asked) say how a job
stands (``JobReport``). One module per runner: ``managed`` (Claude Managed Agents) and
``callback`` (any runner reached over HTTP that reports back to ``/jobs/{job_id}/callback``).
Every method raises ``IntegrationError`` when the runner fails or refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from app.store.types import Job

Outcome = Literal["succeeded", "failed"]

# What a job may report: its text is kept verbatim up to this size, and this many links.
MAX_RESULT_CHARS: Final = 20_000
MAX_LINKS: Final = 20
MAX_LINK_CHARS: Final = 2_000

_URL = re.compile(r"https?://[^\s<>()\"'`\[\]{}|\\^]+")
# Work a job did, as its links show it: a pull request, an issue or a commit on GitHub (or
# GitHub Enterprise: any host, GitHub's paths), a Jira issue.
_WORK = (
    re.compile(r"https?://[^/]+/[\w.-]+/[\w.-]+/(?:pull|issues)/\d+(?:[/?#].*)?"),
    re.compile(r"https?://[^/]+/[\w.-]+/[\w.-]+/commit/[0-9a-f]{7,40}(?:[/?#].*)?"),
    re.compile(r"https?://[^/]+/browse/[A-Z][A-Z0-9_]*-\d+(?:[/?#].*)?"),
)


@dataclass(frozen=True)
class JobSpec:
    """What a runner is asked to do. ``job_id`` is the id the runner sees (and reports by);
    ``callback_token`` the bearer token a callback runner reports with (None for others)."""

    job_id: str
    session_id: str
    title: str
    instructions: str
    repo: str | None
    callback_token: str | None = None


@dataclass(frozen=True)
class JobReport:
    """How a run ended: its outcome, its final text (verbatim, bounded) and what it links to."""

    status: Outcome
    text: str
    links: list[str] = field(default_factory=list)


class JobRunner(Protocol):
    """A place long work runs; see the module docstring."""

    name: str  # "managed" | "callback": JOBS_RUNNER, the job's ``runner``
    reports_back: bool  # it reports to the callback route (else: webhook or polling)
    stops_work: bool  # ``cancel`` stops the work itself (else Threadline only stops listening)

    async def dispatch(self, spec: JobSpec) -> str | None:
        """Start the job; returns the runner's own id for it, if it has one."""
        ...

    async def follow_up(self, job: Job, spec: JobSpec) -> None:
        """Start a finished job again with ``spec.instructions``."""
        ...

    async def cancel(self, job: Job) -> None:
        """Stop the job where the runner allows it (nothing where it cannot be reached)."""
        ...

    async def check(self, job: Job) -> JobReport | None:
        """How the job's run ended, or None while it runs (or when the runner cannot say)."""
        ...

    async def job_of(self, runner_id: str) -> str | None:
        """Our job id for one of the runner's own ids (a webhook names only those)."""
        ...


def bounded_text(text: str) -> str:
    """A report's text kept verbatim up to ``MAX_RESULT_CHARS``, with a line saying it was cut."""
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return text[:MAX_RESULT_CHARS] + f"\n[… cut: the report had {len(text):,} characters]"


def clean_links(links: object) -> list[str]:
    """The http(s) links of a report, each once, in order, bounded in number and size."""
    found: list[str] = []
    for link in links if isinstance(links, list) else []:
        if (
            isinstance(link, str)
            and _URL.fullmatch(link)
            and len(link) <= MAX_LINK_CHARS
            and link not in found
        ):
            found.append(link)
        if len(found) == MAX_LINKS:
            break
    return found


def work_links(links: list[str]) -> list[str]:
    """The links of a report that show work done (pull requests, issues, commits, Jira
    issues): what is recorded as the conversation's work; other links (docs, logs) are not."""
    return [link for link in links if any(p.fullmatch(link) for p in _WORK)]


def links_in(text: str) -> list[str]:
    """The links written in a runner's final text (pull requests, commits), for attribution."""
    return clean_links([m.group(0).rstrip(".,;:!?") for m in _URL.finditer(text)])
