"""The store contract for muted threads and what a person's App Home reads, on every store
(memory, SQLite, PostgreSQL): muting once (also under concurrency), unmuting, and finding the
live sessions a person wrote in and the open approvals they may decide."""

from __future__ import annotations

import asyncio

from app.core import Usage
from app.store.base import Store, TurnCommit
from tests.conftest import Clock
from tests.store.test_contract import LEASE, text_msg
from tests.store.test_contract_approvals import ask

KEY = "tl:slack:C1::1763700000.000100"


# mutes ----------------------------------------------------------------------------------------


async def test_mute_and_unmute_a_thread(store: Store) -> None:
    assert not await store.is_muted(KEY)
    assert await store.mute_thread(KEY, "U1")
    assert await store.is_muted(KEY)
    assert not await store.is_muted("tl:slack:C1::1763700000.000200")  # another thread
    assert not await store.mute_thread(KEY, "U2")  # muted already: nothing changes
    assert await store.unmute_thread(KEY)
    assert not await store.is_muted(KEY)
    assert not await store.unmute_thread(KEY)  # not muted any more
    assert await store.mute_thread(KEY, "U2")  # and can be muted again


async def test_concurrent_mutes_have_one_winner(store: Store) -> None:
    results = await asyncio.gather(*(store.mute_thread(KEY, f"U{i}") for i in range(5)))
    assert sorted(results) == [False] * 4 + [True]
    assert await store.is_muted(KEY)


async def test_a_mute_outlives_the_session_of_its_thread(store: Store) -> None:
    session = await store.create_session("tl")
    await store.register_key(KEY, session.id)
    await store.mute_thread(KEY, "U1")
    await store.end_session(session.id, "reset", cause="test")
    assert await store.is_muted(KEY)


# what the App Home reads ------------------------------------------------------------------------


async def _said(
    store: Store, key: str, author: str, source: str = "slack", agent: str = "tl"
) -> str:
    session = await store.create_session(agent)
    await store.register_key(key, session.id)
    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    await store.commit_turn(
        TurnCommit(
            session_id=session.id,
            fence=fence,
            turn_id=f"turn-{session.id}",
            messages=[
                text_msg("user", "hello", author_id=author, source=source),
                text_msg("assistant", "hi"),
            ],
            usage=Usage(1, 1),
            model="claude-test",
            outcome="ok",
            holder="w1",
        )
    )
    await store.release_lease(session.id, "w1", fence)
    return session.id


async def test_sessions_spoken_in_are_the_live_ones_a_person_wrote_in(
    store: Store, clock: Clock
) -> None:
    first = await _said(store, "tl:slack:C1::1.1", "U1")
    clock.advance(minutes=1)
    await _said(store, "tl:slack:C1::2.2", "U2")  # someone else's
    await _said(store, "other:slack:C1::9.9", "U1", agent="other")  # another bot's
    await _said(store, "tl:github:acme/widgets#1", "U1", source="github")  # another source
    clock.advance(minutes=1)
    second = await _said(store, "tl:slack:C2::3.3", "U1")
    clock.advance(seconds=1)
    await store.register_key("tl:jira:AD-1", second)
    found = await store.sessions_spoken_in("tl", "slack", "U1", limit=10)
    assert [s.session.id for s in found] == [second, first]  # most recently active first
    assert found[0].keys == ["tl:slack:C2::3.3", "tl:jira:AD-1"]
    assert found[1].keys == ["tl:slack:C1::1.1"]
    assert [s.session.id for s in await store.sessions_spoken_in("tl", "slack", "U1", limit=1)] == [
        second
    ]
    assert await store.sessions_spoken_in("tl", "slack", "U9", limit=10) == []
    # an ended session is not shown
    await store.end_session(second, "reset", cause="test")
    assert [
        s.session.id for s in await store.sessions_spoken_in("tl", "slack", "U1", limit=10)
    ] == [first]
    # nor one idle past the TTL
    clock.advance(days=31)
    assert await store.sessions_spoken_in("tl", "slack", "U1", limit=10) == []


async def test_approvals_waiting_for_a_person_are_those_they_may_decide_newest_first(
    store: Store, clock: Clock
) -> None:
    in_c1 = await _said(store, "tl:slack:C1::1.1", "U1")  # U1 wrote to the bot in C1
    await _said(store, "tl:slack:C2::2.2", "U2")  # U2 in C2 only
    await _said(store, "other:slack:C3::3.3", "U1", agent="other")  # another bot's, in C3
    await _said(store, "tl:slack:C10::4.4", "U2")  # C10: a channel whose id starts "C1"
    mine = await ask(store, in_c1, ttl=60)  # U1 asked; the asker decides
    clock.advance(seconds=1)
    theirs = await ask(store, in_c1, asked_by="U2")  # U2 asked; only U2 decides
    clock.advance(seconds=1)
    c1 = await ask(store, in_c1, asked_by="maintainer", deciders="channel", channel="C1")
    clock.advance(seconds=1)
    c2 = await ask(store, in_c1, asked_by="maintainer", deciders="channel", channel="C2")
    c3 = await ask(store, in_c1, asked_by="maintainer", deciders="channel", channel="C3")
    c10 = await ask(store, in_c1, asked_by="maintainer", deciders="channel", channel="C10")
    clock.advance(seconds=1)
    decided = await ask(store, in_c1)
    await store.decide_approval(decided.id, "declined", "U1")

    async def waiting(user: str, *, approver: bool = False, limit: int = 10) -> list[str]:
        found = await store.approvals_waiting_for("tl", user, approver=approver, limit=limit)
        return [a.id for a in found]

    assert await waiting("U1") == [c1.id, mine.id]
    assert await waiting("U1", limit=1) == [c1.id]
    assert await waiting("U2") == [*sorted([c2.id, c10.id]), theirs.id]  # same time: by id
    assert await waiting("U9") == []
    # an approver may decide every open one, newest first (ties by id)
    newest = sorted([c2.id, c3.id, c10.id])
    assert await waiting("U9", approver=True) == [*newest, c1.id, theirs.id, mine.id]
    clock.advance(seconds=60)  # the first ones expired
    assert await waiting("U1") == [c1.id]
    [found] = await store.approvals_waiting_for("tl", "U1", approver=False, limit=10)
    assert (found.asked_by, found.deciders, found.channel) == ("maintainer", "channel", "C1")
