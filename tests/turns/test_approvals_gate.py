"""The write gate (``app.turns.writes.WriteGate``) on its own: the per-turn cap, when approval
is asked for, and what asking does (an approval row, a card in the Slack thread, a waiting
result, and no tool run). Real ``ToolRegistry`` and ``MemoryStore``, real Slack and GitHub
clients against the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from app.agent.tools.base import ToolContext, ToolRegistry, ToolResult
from app.agent.tools.github import github_tools
from app.config import ActionSettings
from app.core import ConversationKey, Inbound, KeyClaim
from app.integrations.github import GitHubClient
from app.slack.cards import APPROVE_ACTION, DECLINE_ACTION
from app.store import MemoryStore
from app.turns.writes import CardThread, WriteGate, needs_approval, slack_card_thread
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack

AGENT = "threadline"
THREAD = ConversationKey.slack(AGENT, "C1", "1763700000.000100")


class Counting:
    """A tool that records its runs; a write tool unless told otherwise."""

    def __init__(self, name: str, *, writes: bool = True) -> None:
        self.name = name
        self.writes = writes
        self.runs: list[dict[str, Any]] = []

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "description": "", "input_schema": {"type": "object"}}

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        self.runs.append(args)
        return ToolResult(f"{self.name} done #{len(self.runs)}")


async def _link(key: str, url: str | None) -> KeyClaim:
    return KeyClaim(key, "sess-1", True)


async def _no_link() -> str | None:
    return None


def context(session_id: str = "sess-1", turn_id: str = "turn-1") -> ToolContext:
    return ToolContext(session_id, turn_id, AGENT, str(THREAD), _link, _no_link)


def slack_message(**overrides: Any) -> Inbound:
    fields: dict[str, Any] = {
        "source": "slack",
        "key": str(THREAD),
        "text": "file it",
        "author_id": "U1",
        "author_name": "Ada Lovelace",
        "channel": "C1",
        "thread_ts": "1763700000.000100",
        "ts": "1763700000.000200",
    }
    return Inbound(**(fields | overrides))


def github_comment() -> Inbound:
    return Inbound(
        source="github",
        key=f"{AGENT}:github:acme/widgets#7",
        text="please file a follow-up",
        author_id="octocat",
        author_name="octocat",
        item_ref="acme/widgets#7",
    )


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.url)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def gate(
    tools: ToolRegistry,
    store: MemoryStore,
    client: AsyncWebClient,
    *,
    inbound: Inbound | None = None,
    from_comment: bool = False,
    home: ConversationKey | None = THREAD,
    **settings: Any,
) -> WriteGate:
    async def card_thread(session_id: str) -> CardThread | None:
        assert session_id == "sess-1"
        return slack_card_thread(client, home)

    return WriteGate(
        tools,
        approvals=store,
        settings=ActionSettings(**settings),
        inbound=inbound or slack_message(),
        from_comment=from_comment,
        card_thread=card_thread,
    )


# -- the cap -----------------------------------------------------------------------------------


async def test_ten_creates_over_two_rounds_run_three_times_and_the_rest_are_refused(
    store: MemoryStore, client: AsyncWebClient
) -> None:
    create = Counting("create_github_issue")
    writes = gate(ToolRegistry([create]), store, client, tool_approval="never")

    results = []
    for _round in range(2):
        for n in range(5):
            results.append(await writes.call("create_github_issue", {"n": n}, context()))

    assert len(create.runs) == 3
    assert [r.is_error for r in results] == [False] * 3 + [True] * 7
    assert all("limit of 3 write actions per turn" in r.content for r in results[3:])


async def test_read_tools_pass_through_and_do_not_count(
    store: MemoryStore, client: AsyncWebClient
) -> None:
    read, link = Counting("search", writes=False), Counting("link_jira_ticket")
    writes = gate(
        ToolRegistry([read, link]), store, client, tool_approval="never", max_writes_per_turn=1
    )

    for _ in range(4):
        assert not (await writes.call("search", {}, context())).is_error
    first = await writes.call("link_jira_ticket", {"key": "AD-1"}, context())
    second = await writes.call("link_jira_ticket", {"key": "AD-2"}, context())

    assert (len(read.runs), len(link.runs)) == (4, 1)
    assert not first.is_error and second.is_error


async def test_tools_named_as_writes_count_even_unmarked(
    store: MemoryStore, client: AsyncWebClient
) -> None:
    job = Counting("start_background_job", writes=False)
    writes = gate(ToolRegistry([job]), store, client, tool_approval="never", max_writes_per_turn=2)

    for _ in range(3):
        await writes.call("start_background_job", {"title": "t"}, context())

    assert len(job.runs) == 2


async def test_a_cap_of_zero_runs_no_write_at_all(
    store: MemoryStore, client: AsyncWebClient
) -> None:
    create = Counting("create_jira_ticket")
    writes = gate(
        ToolRegistry([create]), store, client, tool_approval="never", max_writes_per_turn=0
    )

    result = await writes.call("create_jira_ticket", {}, context())

    assert result.is_error and "turned off" in result.content and not create.runs


async def test_calls_waiting_for_approval_count_toward_the_cap(
    store: MemoryStore, client: AsyncWebClient, slack: FakeSlack
) -> None:
    create = Counting("create_jira_ticket")
    writes = gate(ToolRegistry([create]), store, client, tool_approval="always")

    results = [
        await writes.call("create_jira_ticket", {"summary": f"t{n}"}, context()) for n in range(4)
    ]

    assert [r.content.startswith("Waiting for approval") for r in results] == [True] * 3 + [False]
    assert results[3].is_error and not create.runs
    assert len(await store.pending_approvals("sess-1")) == 3
    assert len(slack.calls_to("chat.postMessage")) == 3


# -- when approval is asked --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "from_comment", "external", "public", "asks"),
    [
        ("never", True, True, True, False),
        ("always", False, False, False, True),
        ("untrusted", False, False, False, False),
        ("untrusted", True, False, False, True),
        ("untrusted", False, True, False, True),
        ("untrusted", False, False, True, True),
    ],
)
def test_needs_approval(
    mode: str, from_comment: bool, external: bool, public: bool, asks: bool
) -> None:
    assert (
        needs_approval(mode, from_comment=from_comment, external=external, public_target=public)
        is asks
    )


@pytest.mark.parametrize(
    ("mode", "origin", "asks"),
    [
        ("untrusted", "slack", False),
        ("untrusted", "external", True),
        ("untrusted", "comment", True),
        ("always", "slack", True),
        ("never", "comment", False),
        ("never", "external", False),
    ],
)
async def test_the_gate_asks_per_setting_and_origin(
    store: MemoryStore, client: AsyncWebClient, mode: str, origin: str, asks: bool
) -> None:
    link = Counting("link_jira_ticket")
    inbound = {
        "slack": slack_message(),
        "external": slack_message(external=True, author_id="UEXT", author_name="Eve"),
        "comment": github_comment(),
    }[origin]
    writes = gate(
        ToolRegistry([link]),
        store,
        client,
        inbound=inbound,
        from_comment=origin == "comment",
        tool_approval=mode,
    )

    result = await writes.call("link_jira_ticket", {"key": "AD-1"}, context())

    assert result.content.startswith("Waiting for approval") is asks
    assert len(link.runs) == (0 if asks else 1)
    assert len(await store.pending_approvals("sess-1")) == (1 if asks else 0)


async def test_asking_records_the_approval_posts_the_card_and_runs_nothing(
    store: MemoryStore, client: AsyncWebClient, slack: FakeSlack
) -> None:
    create = Counting("create_github_issue")
    writes = gate(ToolRegistry([create]), store, client, tool_approval="always")
    args = {"repo": "acme/widgets", "title": "Crash on save", "body": "Steps\n1. open <!here>"}

    result = await writes.call("create_github_issue", args, context(turn_id="turn-9"))

    assert not create.runs
    [approval] = await store.pending_approvals("sess-1")
    assert not result.is_error
    assert result.content.startswith(
        f"Waiting for approval from Ada Lovelace (who asked) or an approver "
        f"(approval {approval.id}): Create a GitHub issue in acme/widgets."
    )
    assert (approval.tool, approval.tool_input, approval.turn_id) == (
        "create_github_issue",
        args,
        "turn-9",
    )
    assert (approval.asked_by, approval.deciders) == ("U1", "asker")
    assert (approval.channel, approval.thread_ts) == ("C1", "1763700000.000100")
    assert approval.summary["title"] == "Crash on save"
    assert approval.summary["asker"] == "Ada Lovelace (U1) in Slack"
    [card] = slack.messages("C1", "1763700000.000100")
    assert approval.card_ts == card.ts and card.thread_ts == "1763700000.000100"
    post = slack.calls_to("chat.postMessage")[0].params
    assert post["unfurl_links"] is False and post["unfurl_media"] is False
    [buttons] = [b for b in card.blocks if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in buttons["elements"]] == [
        (APPROVE_ACTION, approval.id),
        (DECLINE_ACTION, approval.id),
    ]
    assert "<!here>" not in str(card.blocks)


async def test_the_same_call_while_its_card_is_pending_gets_the_same_approval(
    store: MemoryStore, client: AsyncWebClient, slack: FakeSlack
) -> None:
    writes = gate(
        ToolRegistry([Counting("link_jira_ticket")]), store, client, tool_approval="always"
    )

    first = await writes.call("link_jira_ticket", {"key": "AD-1"}, context())
    again = await writes.call("link_jira_ticket", {"key": "AD-1"}, context())
    other = await writes.call("link_jira_ticket", {"key": "AD-2"}, context())

    [one, two] = await store.pending_approvals("sess-1")
    assert f"(approval {one.id})" in first.content and f"(approval {one.id})" in again.content
    assert f"(approval {two.id})" in other.content
    assert len(slack.calls_to("chat.postMessage")) == 2


async def test_a_comment_started_turn_is_decided_by_the_channel(
    store: MemoryStore, client: AsyncWebClient
) -> None:
    writes = gate(
        ToolRegistry([Counting("create_github_issue")]),
        store,
        client,
        inbound=github_comment(),
        from_comment=True,
    )

    result = await writes.call("create_github_issue", {"repo": "acme/widgets"}, context())

    [approval] = await store.pending_approvals("sess-1")
    assert (approval.asked_by, approval.deciders) == ("github:octocat", "channel")
    assert approval.summary["asker"] == "octocat in a GitHub comment on acme/widgets#7"
    assert "a member of the Slack channel from this workspace, or an approver" in result.content


async def test_an_outsider_cannot_be_the_one_who_decides(
    store: MemoryStore, client: AsyncWebClient
) -> None:
    outsider = slack_message(external=True, author_id="UEXT", author_name="Eve")
    writes = gate(ToolRegistry([Counting("link_jira_ticket")]), store, client, inbound=outsider)

    await writes.call("link_jira_ticket", {"key": "AD-1"}, context())

    [approval] = await store.pending_approvals("sess-1")
    assert (approval.asked_by, approval.deciders) == ("UEXT", "channel")


async def test_without_a_slack_thread_approval_cannot_be_asked_and_nothing_runs(
    store: MemoryStore, client: AsyncWebClient, slack: FakeSlack
) -> None:
    create = Counting("create_jira_ticket")
    writes = gate(ToolRegistry([create]), store, client, home=None, tool_approval="always")

    result = await writes.call("create_jira_ticket", {}, context())

    assert result.is_error and "approval cannot be asked here" in result.content
    assert not create.runs and not await store.pending_approvals("sess-1")
    assert not slack.calls_to("chat.postMessage")


async def test_a_card_that_cannot_be_posted_withdraws_the_approval(
    store: MemoryStore, client: AsyncWebClient, slack: FakeSlack
) -> None:
    create = Counting("create_jira_ticket")
    writes = gate(ToolRegistry([create]), store, client, tool_approval="always")
    slack.fail("chat.postMessage", status=200, error="channel_not_found")

    result = await writes.call("create_jira_ticket", {"summary": "x"}, context(turn_id="t-7"))

    assert result.is_error and "could not be posted" in result.content and "t-7" in result.content
    assert "channel_not_found" not in result.content
    assert not create.runs and not await store.pending_approvals("sess-1")


async def test_a_top_level_dm_gets_its_card_at_the_top_level(
    store: MemoryStore, client: AsyncWebClient, slack: FakeSlack
) -> None:
    home = ConversationKey.slack(AGENT, "D1", "main")
    dm = slack_message(key=str(home), channel="D1", thread_ts=None, is_dm=True)
    writes = gate(
        ToolRegistry([Counting("link_jira_ticket")]),
        store,
        client,
        inbound=dm,
        home=home,
        tool_approval="always",
    )

    await writes.call("link_jira_ticket", {"key": "AD-1"}, context())

    [approval] = await store.pending_approvals("sess-1")
    [card] = slack.messages("D1")
    assert (approval.channel, approval.thread_ts, card.thread_ts) == ("D1", None, None)


# -- a public repository as the target ------------------------------------------------------


@pytest.fixture
async def gh() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub(repos=["acme/widgets", "acme/site"]) as fake:
        fake.set_visibility("acme/site", "public")
        yield fake


@pytest.fixture
async def github(gh: FakeGitHub) -> AsyncIterator[ToolRegistry]:
    async with httpx.AsyncClient() as http:
        settings = gh.settings(repos=["acme/widgets", "acme/site"])
        yield ToolRegistry(github_tools(GitHubClient(settings, http), settings))


async def test_a_public_repository_needs_approval_even_from_a_colleague(
    store: MemoryStore, client: AsyncWebClient, gh: FakeGitHub, github: ToolRegistry
) -> None:
    writes = gate(github, store, client)  # TOOL_APPROVAL=untrusted, a Slack turn
    issue = {"title": "Crash", "body": "Steps"}

    private = await writes.call("create_github_issue", {"repo": "acme/widgets", **issue}, context())
    public = await writes.call("create_github_issue", {"repo": "acme/site", **issue}, context())

    assert private.content.startswith("Created GitHub issue acme/widgets#1")
    assert public.content.startswith("Waiting for approval")
    assert "acme/site (public: anyone can read it)" in public.content
    assert ("acme/site", 1) not in gh.issues
    [approval] = await store.pending_approvals("sess-1")
    assert approval.summary["public"] is True


async def test_linking_an_issue_of_a_public_repository_needs_approval(
    store: MemoryStore, client: AsyncWebClient, github: ToolRegistry
) -> None:
    writes = gate(github, store, client)

    result = await writes.call("link_github_issue", {"repo": "acme/site", "number": 3}, context())

    assert result.content.startswith("Waiting for approval")
