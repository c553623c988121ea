"""The dashboard's pages over plain HTTP, as a browser would not send them: hostile queries and
ids, forms that are not right, a database that is down, and the live stream's format."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from app.errors import StoreError
from app.store import MemoryStore
from app.store.base import Session, SessionPage, SessionQuery
from tests.dashboard.conftest import TOKEN, StartDashboard
from tests.fakes.anthropic import FakeAnthropic, Hang, Reply
from tests.fakes.slack import FakeSlack
from tests.harness import Running, eventually, mention, new_ts, replies


class FlakyStore(MemoryStore):
    """A memory store whose reads fail while ``down`` (a database that went away)."""

    down = False

    async def browse_sessions(self, query: SessionQuery) -> SessionPage:
        if self.down:
            raise StoreError("store.browse_sessions failed: connection refused")
        return await super().browse_sessions(query)

    async def get_session(self, session_id: str) -> Session | None:
        if self.down:
            raise StoreError("store.get_session failed: connection refused")
        return await super().get_session(session_id)


@pytest.fixture
async def store() -> FlakyStore:
    return FlakyStore()


@pytest.fixture
async def bot(start_dashboard: StartDashboard, store: FlakyStore) -> AsyncIterator[Running]:
    async with start_dashboard(store=store) as running:
        yield running


@pytest.fixture
async def client(bot: Running) -> AsyncIterator[aiohttp.ClientSession]:
    """A client signed in with the operator token, as the sign-in form does it."""
    jar = aiohttp.CookieJar(unsafe=True)  # the app is on 127.0.0.1
    async with aiohttp.ClientSession(base_url=bot.url, cookie_jar=jar) as http:
        async with http.get("/dashboard/signin") as page:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
        assert csrf is not None
        form = {"csrf_token": csrf[1], "token": TOKEN, "next": "/dashboard/"}
        async with http.post("/dashboard/signin", data=form, allow_redirects=False) as done:
            assert done.status == 303
        yield http


async def csrf_of(client: aiohttp.ClientSession, path: str) -> str:
    async with client.get(path) as page:
        found = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert found is not None
    return found[1]


async def conversation(bot: Running, slack: FakeSlack, text: str = "hello") -> tuple[str, str]:
    root = new_ts()
    await bot.send_event(mention(text, ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) >= 1)
    await bot.idle()
    session = await bot.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    return root, session.id


@pytest.mark.parametrize(
    "query",
    [
        "?page=-5",
        "?page=abc",
        "?page=99999999999999999999",
        "?q=" + "x" * 4_000,
        "?platform=%3Cscript%3E&status=nope",
        "?q=%00%ff%fe",
        "?q=%25%5F",
    ],
)
async def test_hostile_list_queries_get_a_page(
    client: aiohttp.ClientSession, bot: Running, slack: FakeSlack, query: str
) -> None:
    await conversation(bot, slack)
    async with client.get("/dashboard/" + query) as answer:
        assert answer.status == 200
        assert "<script>" not in await answer.text()


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/sessions/zzz",
        "/dashboard/sessions/" + "a" * 500,
        "/dashboard/sessions/%2e%2e%2f%2e%2e",
        "/dashboard/sessions/00000000-0000-4000-8000-000000000000/events",
    ],
)
async def test_odd_conversation_ids_are_not_found(client: aiohttp.ClientSession, path: str) -> None:
    async with client.get(path) as answer:
        assert answer.status == 404


async def test_forms_that_are_not_right_are_refused_and_change_nothing(
    client: aiohttp.ClientSession, bot: Running, slack: FakeSlack
) -> None:
    _, session_id = await conversation(bot, slack)
    page = f"/dashboard/sessions/{session_id}"
    csrf = await csrf_of(client, page)

    async def post(action: str, **fields: str) -> int:
        data = {"csrf_token": csrf, **fields}
        async with client.post(f"{page}/{action}", data=data, allow_redirects=False) as answer:
            return answer.status

    assert await post("reply", text="   ", nonce="n" * 24) == 400
    assert await post("reply", text="hi", nonce="bad nonce!") == 400
    assert await post("unlink", key="threadline:slack:C9::1.1") == 400
    assert await post("erase", person="slack|U9") == 400
    assert await post("erase", person="mastodon|U1") == 400
    assert await post("approvals/" + "0" * 32, decision="approved") == 404
    assert await post("approvals/" + "0" * 32, decision="maybe") == 400
    assert await bot.store.pending_count(f"threadline:dashboard:{session_id}") == 0
    # the same form sent twice is one message
    assert await post("reply", text="once", nonce="a" * 24) == 303
    assert await post("reply", text="once", nonce="a" * 24) == 303
    await bot.idle()
    transcript = await bot.store.load_transcript(session_id)
    said = [e for e in transcript if e.role == "user" and "once" in str(e.content)]
    assert len(said) == 1


async def test_a_database_that_is_down_answers_503(
    client: aiohttp.ClientSession, bot: Running, slack: FakeSlack, store: FlakyStore
) -> None:
    _, session_id = await conversation(bot, slack)
    csrf = await csrf_of(client, f"/dashboard/sessions/{session_id}")
    store.down = True
    for path in ("/dashboard/", f"/dashboard/sessions/{session_id}"):
        async with client.get(path) as answer:
            assert answer.status == 503
            text = await answer.text()
            assert "database is unavailable" in text and "refused" not in text
    reset = f"/dashboard/sessions/{session_id}/reset"
    async with client.post(reset, data={"csrf_token": csrf}, allow_redirects=False) as answer:
        assert answer.status == 503
    store.down = False
    async with client.get("/dashboard/") as answer:
        assert answer.status == 200


async def read_events(response: aiohttp.ClientResponse, until: str) -> list[dict[str, Any]]:
    """Events of a text/event-stream up to the first of kind ``until``."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with asyncio.timeout(15):
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if current:
                    events.append(current)
                    if current.get("event") == until:
                        return events
                current = {}
                continue
            field, _, value = line.partition(": ")
            if field == "data":
                current["data"] = current.get("data", "") + value
            elif field in ("event", "id"):
                current[field] = value
    return events


async def test_the_live_stream_sends_what_the_page_does_not_have(
    client: aiohttp.ClientSession, bot: Running, slack: FakeSlack
) -> None:
    root, session_id = await conversation(bot, slack, "first words")
    events_url = f"/dashboard/sessions/{session_id}/events"
    async with client.get(events_url + "?after=0") as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["X-Frame-Options"] == "DENY"
        events = await read_events(stream, "entries")
    assert [e["event"] for e in events] == ["status", "entries"]
    assert events[0]["data"] == '{"running": false}'
    entries = events[1]
    assert entries["id"] == "2"  # the last entry's seq: where a reconnect resumes
    assert "first words" in entries["data"]
    # a reconnect after seq 2 gets only what is new
    await bot.send_event(mention("second words", thread_ts=root))
    async with client.get(events_url, headers={"Last-Event-ID": "2"}) as stream:
        events = await read_events(stream, "entries")
    newer = next(e for e in events if e["event"] == "entries")
    assert "second words" in newer["data"] and "first words" not in newer["data"]
    assert newer["id"] == "4"


async def test_the_list_shows_which_conversations_are_answering_now(
    client: aiohttp.ClientSession, bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root, session_id = await conversation(bot, slack, "a quick one")
    claude.script(Hang(3, then=Reply(text="a slow answer")))
    await bot.send_event(mention("and a slow one", thread_ts=root))
    # the model has the question: the turn holds its conversation's lease until it answers
    await eventually(lambda: len(claude.requests) == 2, what="the second turn's model call")
    assert await bot.store.running_sessions([session_id]) == {session_id}
    async with client.get("/dashboard/") as answer:
        assert "answering now" in await answer.text()
    async with client.get(f"/dashboard/sessions/{session_id}") as answer:
        assert "A turn is running now" in await answer.text()
    await bot.idle()
    async with client.get("/dashboard/") as answer:
        assert "answering now" not in await answer.text()
