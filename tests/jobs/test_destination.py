"""Where a job's result goes, decided on the store and the surfaces alone (no network): the
route's order, the audience rule per place, and a dashboard-only conversation's page when the
route has nowhere to go."""

from __future__ import annotations

import httpx
import pytest

from app.config import JobsSettings
from app.core import Audience, ConversationKey
from app.integrations.jobs import JobService
from app.integrations.jobs.callback import CallbackRunner
from app.store.memory import MemoryStore
from app.surfaces.base import SurfaceRegistry
from app.surfaces.dashboard import DashboardSurface, LiveFeed
from app.surfaces.github import GitHubSurface
from app.surfaces.jira import JiraSurface
from app.turns.job_results import JobTurns
from app.turns.routing import AudiencePolicy

AGENT = "tl"
PUBLIC_REPOS = {"acme/site"}


async def _never(*_: object) -> str:
    raise AssertionError("nothing is posted while choosing a destination")


async def _repo_audience(repo: str) -> Audience:
    return Audience.PUBLIC if repo in PUBLIC_REPOS else Audience.INTERNAL


def _surfaces() -> SurfaceRegistry:
    registry = SurfaceRegistry()
    parts = {"post": _never, "remember": _never, "comment_ref": lambda a, b: f"{a}/{b}"}
    registry.register(JiraSurface(**parts))  # type: ignore[arg-type]
    registry.register(GitHubSurface(**parts, repository_audience=_repo_audience))  # type: ignore[arg-type]
    registry.register(DashboardSurface(LiveFeed(), "https://threadline.example.com"))
    return registry


async def destination(
    keys: list[str],
    *,
    route: tuple[str, ...] = ("jira", "slack", "github"),
    audience: str = "internal",
    public_replies: str = "redirect",
) -> str | None:
    store = MemoryStore()
    session = await store.create_session(AGENT)
    for key in keys:
        await store.register_key(key, session.id)
    if audience == "internal":
        await store.raise_audience(session.id, "internal", cause="test")
    session = await store.get_session(session.id) or session
    async with httpx.AsyncClient() as http:
        runner = CallbackRunner(http, dispatch_url="http://127.0.0.1:9/", public_url="https://x")
        jobs = JobService(store, runner, JobsSettings(runner="callback"), agent=AGENT)
        turns = JobTurns(
            store,
            jobs,
            _surfaces(),
            holder="h",
            policy=AudiencePolicy(public_replies=public_replies),
            route=route,
        )
        found = await turns.destination(session)
    return None if found is None else str(found[0])


JIRA = f"{AGENT}:jira:AD-1"
PRIVATE = str(ConversationKey.github(AGENT, "acme/widgets", 3))
PUBLIC = str(ConversationKey.github(AGENT, "acme/site", 4))
DASHBOARD = f"{AGENT}:dashboard:s1"
JOB = f"{AGENT}:job:{'0' * 20}"


@pytest.mark.parametrize(
    ("keys", "route", "audience", "public_replies", "expected"),
    [
        ([PRIVATE, JIRA, JOB], ("jira", "slack", "github"), "internal", "redirect", JIRA),
        ([PRIVATE, JIRA], ("github", "jira"), "internal", "redirect", PRIVATE),
        ([PUBLIC, JIRA], ("github", "jira"), "internal", "redirect", JIRA),
        ([PUBLIC], ("github", "jira", "slack"), "internal", "redirect", None),
        ([PUBLIC], ("github",), "internal", "allow", PUBLIC),
        ([PUBLIC], ("github",), "public", "redirect", PUBLIC),
        ([DASHBOARD, JOB], ("jira", "slack", "github"), "internal", "redirect", DASHBOARD),
        ([PUBLIC, DASHBOARD], ("github", "jira"), "internal", "redirect", DASHBOARD),
        ([JOB], ("jira", "slack", "github"), "internal", "redirect", None),
    ],
)
async def test_where_a_result_goes(
    keys: list[str],
    route: tuple[str, ...],
    audience: str,
    public_replies: str,
    expected: str | None,
) -> None:
    assert (
        await destination(keys, route=route, audience=audience, public_replies=public_replies)
        == expected
    )
