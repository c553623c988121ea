"""The reply router: answers where they were asked, results by priority, notices home."""

from __future__ import annotations

from datetime import UTC, datetime

from app.store.base import KeyLink
from app.store.memory import MemoryStore
from app.surfaces.base import SurfaceRegistry
from app.turns.routing import ReplyRouter
from tests.turns.doubles import ChatSurface, TrackerSurface

AT = datetime(2026, 1, 1, tzinfo=UTC)


class Jira(TrackerSurface):
    platform = "jira"
    title = "Jira"


class GitHub(TrackerSurface):
    platform = "github"
    title = "GitHub"


class Slack(ChatSurface):
    platform = "slack"
    title = "Slack"


def links(*keys: str) -> list[KeyLink]:
    return [KeyLink(k, "s1", None, AT) for k in keys]


def router(*extra: TrackerSurface) -> ReplyRouter:
    surfaces = SurfaceRegistry(home=Slack())
    for surface in extra:
        surfaces.register(surface)
    return ReplyRouter(surfaces, MemoryStore())


def test_a_result_goes_to_jira_first_then_slack_then_github() -> None:
    both = router(Jira(), GitHub())
    all_three = links("tl:github:acme/w#1", "tl:slack:C1::17.1", "tl:jira:AD-1")
    assert str(both.result_destination(all_three)) == "tl:jira:AD-1"
    no_jira = links("tl:github:acme/w#1", "tl:slack:C1::17.1")
    assert str(both.result_destination(no_jira)) == "tl:slack:C1::17.1"
    assert str(both.result_destination(links("tl:github:acme/w#1"))) == "tl:github:acme/w#1"
    assert both.result_destination([]) is None


def test_a_surface_that_is_not_configured_is_skipped() -> None:
    slack_only = router()
    assert str(slack_only.result_destination(links("tl:jira:AD-1", "tl:slack:C1::17.1"))) == (
        "tl:slack:C1::17.1"
    )
    assert slack_only.result_destination(links("tl:jira:AD-1")) is None


async def test_a_notice_goes_to_the_sessions_home_thread_only() -> None:
    store = MemoryStore()
    home = Slack()
    surfaces = SurfaceRegistry(home=home)
    route = ReplyRouter(surfaces, store)
    session = await store.create_session("tl")
    await route.notice_home(session.id, "nobody home")
    assert home.notes == []
    await store.register_key("tl:jira:AD-1", session.id)
    await store.register_key("tl:slack:C1::17.1", session.id)
    await route.notice_home(session.id, "a job finished")
    assert home.notes == [("tl:slack:C1::17.1", "a job finished")]
