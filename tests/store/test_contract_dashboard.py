"""The store contract for what the dashboard reads (``Browse``), on every store (memory,
SQLite, PostgreSQL): finding sessions by key, platform, status, participant and transcript
text, limited to places, a page at a time with counts; keys a session ever held; transcript
entries after a point; which sessions are running a turn. Bots may share a database: a
query names the bot whose sessions it reads.
"""

from __future__ import annotations

from app.core import Usage
from app.store.base import NewMessage, Session, SessionQuery, Store, TurnCommit
from tests.conftest import Clock


async def talk(
    store: Store,
    key: str,
    *said: tuple[str, str, str],
    agent: str = "tl",
) -> Session:
    """A session at ``key`` whose transcript holds ``said``: (author id, name, text)."""
    session = await store.create_session(agent)
    await store.register_key(key, session.id)
    fence = await store.acquire_lease(session.id, "w1", 30)
    assert fence is not None
    messages = [
        NewMessage(
            "user",
            [{"type": "text", "text": text}],
            author_id=who,
            author_name=name,
            source="slack",
        )
        for who, name, text in said
    ]
    messages.append(NewMessage("assistant", [{"type": "text", "text": "noted"}]))
    await store.commit_turn(
        TurnCommit(
            session_id=session.id,
            fence=fence,
            turn_id=f"t-{session.id}",
            messages=messages,
            usage=Usage(100, 20, 0, 0),
            model="claude-test",
            outcome="ok",
        )
    )
    await store.release_lease(session.id, "w1", fence)
    return session


async def ids(store: Store, **query: object) -> list[str]:
    query.setdefault("agent", "tl")
    page = await store.browse_sessions(SessionQuery(**query))  # type: ignore[arg-type]
    return [s.session.id for s in page.sessions]


async def test_newest_activity_first_with_counts_and_pages(store: Store, clock: Clock) -> None:
    made = []
    for n in range(5):
        made.append(await talk(store, f"tl:slack:C1::1763700000.00010{n}", ("U1", "Ada", "hi")))
        clock.advance(seconds=10)
    newest_first = [s.id for s in reversed(made)]
    page = await store.browse_sessions(SessionQuery(agent="tl", limit=2))
    assert [s.session.id for s in page.sessions] == newest_first[:2]
    assert page.total == 5
    second = await store.browse_sessions(SessionQuery(agent="tl", limit=2, offset=2))
    assert [s.session.id for s in second.sessions] == newest_first[2:4]
    assert second.total == 5
    last = await store.browse_sessions(SessionQuery(agent="tl", limit=2, offset=4))
    assert [s.session.id for s in last.sessions] == newest_first[4:]
    summary = page.sessions[0]
    assert summary.keys == ["tl:slack:C1::1763700000.000104"]
    assert summary.turns == 1
    assert summary.usage == Usage(100, 20, 0, 0)
    beyond = await store.browse_sessions(SessionQuery(agent="tl", limit=2, offset=10))
    assert (beyond.sessions, beyond.total) == ([], 5)


async def test_search_by_key_participant_and_text(store: Store) -> None:
    a = await talk(store, "tl:slack:C1::1.1", ("U1", "Ada Lovelace", "the Frobnicator broke"))
    b = await talk(store, "tl:slack:C2::2.2", ("U2", "Grace Hopper", "ship it"))
    c = await talk(store, "tl:jira:AD-12", ("U3", "Linus", "50% off_sale"))
    assert await ids(store, text="c2::") == [b.id]
    assert await ids(store, text="AD-12") == [c.id]
    assert await ids(store, text="grace") == [b.id]
    assert await ids(store, text="U1") == [a.id]
    assert await ids(store, text="FROBNICATOR") == [a.id]
    assert await ids(store, text="  ship it ") == [b.id]
    assert await ids(store, text=a.id) == [a.id]
    # wildcards are what they are, not patterns
    assert await ids(store, text="50% off_") == [c.id]
    assert await ids(store, text="%") == [c.id]
    assert await ids(store, text="_sale") == [c.id]
    assert await ids(store, text="nothing like this") == []
    page = await store.browse_sessions(SessionQuery(agent="tl", text="nothing like this"))
    assert page.total == 0


async def test_platform_and_status(store: Store) -> None:
    slack = await talk(store, "tl:slack:C1::1.1", ("U1", "Ada", "hi"))
    jira = await talk(store, "tl:jira:AD-1", ("U1", "Ada", "hi"))
    await store.register_key("tl:github:acme/widgets#4", jira.id)
    assert await ids(store, platform="slack") == [slack.id]
    assert await ids(store, platform="github") == [jira.id]
    assert await ids(store, platform="sla") == []
    await store.end_session(slack.id, "reset", cause="test")
    assert await ids(store, status="reset") == [slack.id]
    assert set(await ids(store, status="active")) == {jira.id}
    # an ended session is still found by the place it was in
    assert await ids(store, platform="slack") == [slack.id]
    assert await ids(store, text="C1::1.1") == [slack.id]


async def test_limited_to_places(store: Store) -> None:
    mine = await talk(store, "tl:slack:C1::1.1", ("U1", "Ada", "hi"))
    dm = await talk(store, "tl:slack:D1::main", ("U1", "Ada", "hi"))
    other = await talk(store, "tl:slack:C2::1.1", ("U2", "Bob", "secret plans"))
    other_agent = await talk(store, "xx:slack:C1::1.1", ("U1", "Ada", "hi"), agent="xx")
    places = ("tl:slack:C1::", "tl:slack:D1::")
    assert set(await ids(store, key_prefixes=places)) == {mine.id, dm.id}
    page = await store.browse_sessions(SessionQuery(agent="tl", key_prefixes=places, limit=1))
    assert page.total == 2
    assert await ids(store, key_prefixes=places, text="secret") == []
    assert await ids(store, key_prefixes=places, text=other.id) == []
    assert await ids(store, key_prefixes=()) == []
    assert await ids(store, key_prefixes=("tl:slack:C1:%",)) == []
    assert other_agent.id not in await ids(store)
    assert other_agent.id in await ids(store, agent=None)
    # a reset conversation stays visible to the people of its place
    await store.end_session(mine.id, "reset", cause="test")
    assert mine.id in await ids(store, key_prefixes=places)


async def test_only_this_bots_sessions(store: Store) -> None:
    ours = await talk(store, "tl:slack:C1::1.1", ("U1", "Ada", "the deploy"))
    theirs = await talk(store, "xx:slack:C1::1.1", ("U1", "Ada", "the deploy"), agent="xx")
    keyless = await store.create_session("xx")  # no key ever: found by its id only
    assert await ids(store) == [ours.id]
    assert await ids(store, agent="xx", text=keyless.id) == [keyless.id]
    assert await ids(store, text="deploy") == [ours.id]
    assert await ids(store, text=theirs.id) == []
    assert await ids(store, key_prefixes=("xx:slack:C1::",)) == []
    assert await ids(store, platform="slack") == [ours.id]
    page = await store.browse_sessions(SessionQuery(agent="tl"))
    assert page.total == 1
    assert set(await ids(store, agent="xx")) == {theirs.id, keyless.id}
    assert set(await ids(store, agent=None)) == {ours.id, theirs.id, keyless.id}


async def test_an_ended_session_is_listed_with_the_keys_it_held(store: Store) -> None:
    ended = await talk(store, "tl:slack:C1::1.1", ("U1", "Ada", "hi"))
    await store.register_key("tl:jira:AD-1", ended.id)
    await store.end_session(ended.id, "reset", cause="test")
    live = await talk(store, "tl:slack:C2::2.2", ("U1", "Ada", "hi"))
    await store.register_key("tl:github:acme/w#1", live.id)
    await store.unlink_key("tl:github:acme/w#1", cause="unlinked")
    page = await store.browse_sessions(SessionQuery(agent="tl"))
    keys = {s.session.id: s.keys for s in page.sessions}
    assert keys[ended.id] == ["tl:slack:C1::1.1", "tl:jira:AD-1"]
    # a session holding keys is listed with those only
    assert keys[live.id] == ["tl:slack:C2::2.2"]


async def test_keys_ever(store: Store) -> None:
    session = await talk(store, "tl:slack:C1::1.1", ("U1", "Ada", "hi"))
    await store.register_key("tl:jira:AD-1", session.id, url="https://jira/AD-1")
    await store.unlink_key("tl:jira:AD-1", cause="unlinked")
    await store.register_key("tl:github:acme/w#1", session.id)
    assert await store.keys_ever(session.id) == [
        "tl:slack:C1::1.1",
        "tl:jira:AD-1",
        "tl:github:acme/w#1",
    ]
    await store.end_session(session.id, "reset", cause="test")
    assert await store.keys_for(session.id) == []
    assert len(await store.keys_ever(session.id)) == 3
    assert await store.keys_ever("no-such-session") == []


async def test_transcript_after(store: Store) -> None:
    session = await talk(store, "tl:slack:C1::1.1", ("U1", "Ada", "one"), ("U1", "Ada", "two"))
    after = await store.transcript_after(session.id, 1)
    assert [e.seq for e in after] == [2, 3]
    assert after[0].content == [{"type": "text", "text": "two"}]
    assert after[0].author_name == "Ada"
    after[0].content.append({"type": "text", "text": "changed"})
    assert (await store.transcript_after(session.id, 1))[0].content == [
        {"type": "text", "text": "two"}
    ]
    assert await store.transcript_after(session.id, 3) == []
    assert await store.transcript_after("no-such-session", 0) == []


async def test_running_sessions(store: Store, clock: Clock) -> None:
    idle = await talk(store, "tl:slack:C1::1.1", ("U1", "Ada", "hi"))
    busy = await talk(store, "tl:slack:C1::2.2", ("U1", "Ada", "hi"))
    fence = await store.acquire_lease(busy.id, "w2", 30)
    assert fence is not None
    assert await store.running_sessions([idle.id, busy.id, "unknown"]) == frozenset({busy.id})
    page = await store.browse_sessions(SessionQuery(agent="tl"))
    assert page.running == frozenset({busy.id})
    clock.advance(seconds=31)
    assert await store.running_sessions([idle.id, busy.id]) == frozenset()
    fence = await store.acquire_lease(busy.id, "w2", 30)
    assert fence is not None
    await store.release_lease(busy.id, "w2", fence)
    assert await store.running_sessions([busy.id]) == frozenset()
    assert await store.running_sessions([]) == frozenset()


async def test_approvals_of_session(store: Store, clock: Clock) -> None:
    session = await talk(store, "tl:slack:C1::1.1", ("U1", "Ada", "file it"))
    other = await talk(store, "tl:slack:C1::2.2", ("U1", "Ada", "hi"))

    async def ask(ttl: float) -> str:
        approval = await store.create_approval(
            session_id=session.id,
            turn_id="t1",
            tool="create_github_issue",
            tool_input={"title": "Crash"},
            summary={"action": "Create a GitHub issue"},
            asked_by="U1",
            deciders="asker",
            channel="C1",
            thread_ts="1.1",
            ttl_seconds=ttl,
        )
        clock.advance(seconds=1)
        return approval.id

    first, second, third = await ask(3600), await ask(3600), await ask(5)
    await store.decide_approval(first, "approved", "U2")
    await store.record_approval_result(first, "created #4", False)
    clock.advance(seconds=10)
    found = await store.approvals_of_session(session.id)
    assert [a.id for a in found] == [first, second, third]
    assert [a.status for a in found] == ["approved", "pending", "expired"]
    assert (found[0].decided_by, found[0].result) == ("U2", "created #4")
    found[0].tool_input["title"] = "changed"
    assert (await store.approvals_of_session(session.id))[0].tool_input == {"title": "Crash"}
    assert await store.approvals_of_session(other.id) == []
