"""The store contract for trust and privacy, on every store (memory, SQLite, PostgreSQL):
refs remembered once, a session's audience, message refs and their rewriting, erasing a
person, the maximum age of a session, and pruning deliveries nobody will handle.

The rest of the contract is in ``test_contract.py``; its helpers are shared.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.core import Usage
from app.errors import LeaseLost
from app.store.base import NewMessage, SessionFilter, Store, TurnCommit
from tests.conftest import TEST_TTL_DAYS, Clock
from tests.store.test_contract import LEASE, commit_for, text_msg, texts

MAX_AGE_DAYS = 180  # the stores' default, which the ``store`` fixture keeps


async def commit(
    store: Store,
    session_id: str,
    turn_id: str,
    messages: list[NewMessage],
    *,
    audience: str | None = None,
) -> None:
    fence = await store.acquire_lease(session_id, "w1", LEASE)
    assert fence is not None
    await store.commit_turn(
        TurnCommit(
            session_id=session_id,
            fence=fence,
            turn_id=turn_id,
            messages=messages,
            usage=Usage(1, 1, 0, 0),
            model="m",
            outcome="ok",
            holder="w1",
            audience=audience,
        )
    )


def said(who: str, uid: str, body: str, *, source: str = "slack", ref: str | None = None) -> Any:
    return NewMessage(
        role="user",
        content=[{"type": "text", "text": f"[{who} ({uid}) in Slack]\n{body}"}],
        author_id=uid,
        author_name=who,
        source=source,
        ref=ref,
    )


def events(found: list[Any], kind: str) -> list[tuple[str | None, str | None]]:
    return [(e.cause, e.turn_id) for e in found if e.kind == kind]


# remember_once ------------------------------------------------------------------------------


async def test_remember_once_is_true_for_exactly_one_caller(store: Store) -> None:
    ref = "slack:refusal:U1:2026011512"
    results = await asyncio.gather(*(store.remember_once(ref) for _ in range(20)))
    assert results.count(True) == 1
    assert await store.remember_once(ref) is False
    assert await store.was_posted(ref)
    # it shares the posted refs: one remembered by remember_posted is not new either
    await store.remember_posted("github:comment:7")
    assert await store.remember_once("github:comment:7") is False
    assert await store.remember_once("slack:refusal:U1:2026011513") is True


async def test_remembered_once_refs_are_forgotten_after_the_retention(
    store: Store, clock: Clock
) -> None:
    assert await store.remember_once("slack:refusal:U2:2026011512")
    clock.advance(days=15)
    await store.prune(retention_days=14)
    assert await store.remember_once("slack:refusal:U2:2026011512") is True


# audience -----------------------------------------------------------------------------------


async def test_a_session_starts_public_and_an_internal_turn_makes_it_internal(
    store: Store,
) -> None:
    session = await store.create_session("tl")
    assert session.audience == "public"
    await commit(store, session.id, "t1", [text_msg("user", "q1")])
    await commit(store, session.id, "t2", [text_msg("user", "q2")], audience="public")
    loaded = await store.get_session(session.id)
    assert loaded is not None and loaded.audience == "public"

    await commit(store, session.id, "t3", [text_msg("user", "q3")], audience="internal")
    loaded = await store.get_session(session.id)
    assert loaded is not None and loaded.audience == "internal"
    assert events(await store.events_for(session.id), "audience_changed") == [
        ("internal content", "t3")
    ]
    # never back, and never logged twice
    await commit(store, session.id, "t4", [text_msg("user", "q4")], audience="internal")
    await commit(store, session.id, "t5", [text_msg("user", "q5")], audience="public")
    assert await store.raise_audience(session.id, "public", cause="x") is False
    loaded = await store.get_session(session.id)
    assert loaded is not None and loaded.audience == "internal"
    assert len(events(await store.events_for(session.id), "audience_changed")) == 1
    # every way of reading a session shows it
    [summary] = await store.list_sessions(SessionFilter())
    assert summary.session.audience == "internal"


async def test_raise_audience_outside_a_commit(store: Store) -> None:
    session = await store.create_session("tl")
    await store.register_key("tl:github:acme/w#1", session.id)
    results = await asyncio.gather(
        *(
            store.raise_audience(
                session.id, "internal", cause="linked a private repo", turn_id="t1"
            )
            for _ in range(10)
        )
    )
    assert results.count(True) == 1
    assert await store.raise_audience(session.id, "internal", cause="again") is False
    resolved = await store.resolve("tl:github:acme/w#1")
    assert resolved is not None and resolved.audience == "internal"
    assert events(await store.events_for(session.id), "audience_changed") == [
        ("linked a private repo", "t1")
    ]
    assert await store.raise_audience("no-such-session", "internal", cause="x") is False
    with pytest.raises(ValueError):
        await store.raise_audience(session.id, "everyone", cause="x")


async def test_a_refused_commit_does_not_raise_the_audience(store: Store) -> None:
    session = await store.create_session("tl")
    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    stale = TurnCommit(
        session_id=session.id,
        fence=fence + 1,
        turn_id="t1",
        messages=[text_msg("user", "q")],
        usage=Usage(),
        model="m",
        outcome="ok",
        holder="w1",
        audience="internal",
    )
    with pytest.raises(LeaseLost):
        await store.commit_turn(stale)
    bad = TurnCommit(
        session_id=session.id,
        fence=fence,
        turn_id="t1",
        messages=[text_msg("user", "q")],
        usage=Usage(),
        model="m",
        outcome="ok",
        holder="w1",
        audience="secret",
    )
    with pytest.raises(ValueError):
        await store.commit_turn(bad)
    loaded = await store.get_session(session.id)
    assert loaded is not None and loaded.audience == "public"
    assert await store.load_transcript(session.id) == []
    assert events(await store.events_for(session.id), "audience_changed") == []


# message refs -------------------------------------------------------------------------------


async def test_messages_keep_their_ref(store: Store) -> None:
    session = await store.create_session("tl")
    await commit(
        store,
        session.id,
        "t1",
        [said("ada", "U1", "hello", ref="slack:C1:1.1"), text_msg("assistant", "hi")],
    )
    entries = await store.load_transcript(session.id)
    assert [e.ref for e in entries] == ["slack:C1:1.1", None]


async def test_rewrite_messages_by_ref_across_sessions(store: Store) -> None:
    first = await store.create_session("tl")
    second = await store.create_session("tl")
    ref = "slack:C1:1763700000.000100"
    await commit(
        store,
        first.id,
        "t1",
        [said("ada", "U1", "the password is hunter2", ref=ref), text_msg("assistant", "ok")],
    )
    await commit(store, first.id, "t2", [said("ada", "U1", "other", ref="slack:C1:2.2")])
    await commit(store, second.id, "t3", [said("ada", "U1", "the password is hunter2", ref=ref)])

    def edit(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # changing what it is given is fine: it is a copy
        content[0]["text"] = content[0]["text"].replace("hunter2", "(edited)")
        return content

    assert await store.rewrite_messages(ref, edit, cause="edited in Slack") == 2
    assert texts(await store.load_transcript(first.id)) == [
        "[ada (U1) in Slack]\nthe password is (edited)",
        "ok",
        "[ada (U1) in Slack]\nother",
    ]
    assert texts(await store.load_transcript(second.id)) == [
        "[ada (U1) in Slack]\nthe password is (edited)"
    ]
    for session in (first, second):
        logged = events(await store.events_for(session.id), "message_rewritten")
        assert logged == [("edited in Slack", None)]
    # the rest of an entry stays as it was
    [entry] = await store.load_transcript(second.id)
    assert (entry.seq, entry.role, entry.author_name, entry.turn_id, entry.ref) == (
        1,
        "user",
        "ada",
        "t3",
        ref,
    )
    # nothing to change: nothing counted, nothing logged
    assert await store.rewrite_messages(ref, edit, cause="again") == 0
    assert await store.rewrite_messages("slack:C9:9.9", edit, cause="unknown") == 0
    assert len(events(await store.events_for(first.id), "message_rewritten")) == 1


async def test_a_failing_rewrite_changes_nothing(store: Store) -> None:
    first = await store.create_session("tl")
    second = await store.create_session("tl")
    for session in (first, second):
        await commit(store, session.id, f"t-{session.id}", [said("ada", "U1", "x", ref="r:1")])
    calls = 0

    def flaky(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("boom")
        return [{"type": "text", "text": "changed"}]

    with pytest.raises(RuntimeError):
        await store.rewrite_messages("r:1", flaky, cause="x")
    for session in (first, second):
        assert texts(await store.load_transcript(session.id)) == ["[ada (U1) in Slack]\nx"]
        assert events(await store.events_for(session.id), "message_rewritten") == []


# erasing a person ---------------------------------------------------------------------------


def removed(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": "[removed]"} if b["type"] == "text" else b for b in content]


async def test_erase_author_rewrites_messages_and_deletes_deliveries(store: Store) -> None:
    one = await store.create_session("tl")
    two = await store.create_session("tl")
    untouched = await store.create_session("tl")
    tool_result = NewMessage(
        "user", [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "done"}]
    )
    await commit(
        store,
        one.id,
        "t1",
        [said("ada", "U1", "first"), text_msg("assistant", "a1"), said("bob", "U2", "mine")],
    )
    await commit(store, one.id, "t2", [said("ada", "U1", "second"), tool_result])
    await commit(store, two.id, "t3", [said("ada", "U1", "third")])
    # the same id on another platform is another person
    await commit(store, untouched.id, "t4", [said("ada", "U1", "jira", source="jira")])

    await store.record_delivery("d1", "slack", "L1", {"author_id": "U1", "text": "pending"})
    await store.record_delivery("d2", "slack", "L2", {"author_id": "U1", "text": "handled"})
    handled = await store.claim_delivery("w", LEASE)
    await store.record_delivery("d3", "slack", "L3", {"author_id": "U2", "text": "bob"})
    await store.record_delivery("d4", "jira", "L4", {"author_id": "U1", "text": "jira"})
    await store.record_delivery("d5", "slack", "L5", {"text": "no author"})
    assert handled is not None and handled.delivery_id == "d1"
    await store.finish_delivery(handled.id, "w", "done")

    result = await store.erase_author(
        "slack", "U1", replacement=removed, cause="erased by operator", batch=2
    )
    assert (result.messages, result.sessions, result.deliveries) == (3, 2, 2)

    entries = await store.load_transcript(one.id)
    assert texts(entries[:3]) == ["[removed]", "a1", "[bob (U2) in Slack]\nmine"]
    assert [e.author_name for e in entries] == [None, None, "bob", None, None]
    assert [e.author_id for e in entries] == ["U1", None, "U2", "U1", None]
    assert (entries[0].seq, entries[0].role, entries[0].turn_id) == (1, "user", "t1")
    assert [e.content for e in entries[3:]] == [
        [{"type": "text", "text": "[removed]"}],
        [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "done"}],
    ]
    assert texts(await store.load_transcript(two.id)) == ["[removed]"]
    assert texts(await store.load_transcript(untouched.id)) == ["[ada (U1) in Slack]\njira"]
    for session in (one, two):
        assert events(await store.events_for(session.id), "author_erased") == [
            ("erased by operator", None)
        ]
    assert events(await store.events_for(untouched.id), "author_erased") == []

    remaining = [await store.get_delivery(pk) for pk in range(1, 6)]
    assert sorted(d.delivery_id for d in remaining if d is not None) == ["d3", "d4", "d5"]

    again = await store.erase_author("slack", "U1", replacement=removed, cause="again")
    assert (again.messages, again.sessions, again.deliveries) == (3, 2, 0)
    assert texts(await store.load_transcript(two.id)) == ["[removed]"]
    nobody = await store.erase_author("github", "nobody", replacement=removed, cause="x")
    assert (nobody.messages, nobody.sessions, nobody.deliveries) == (0, 0, 0)


# maximum age --------------------------------------------------------------------------------


async def keep_active(store: Store, clock: Clock, session_id: str, days: float) -> None:
    """Commit a turn every 20 days (well within the TTL) until ``days`` have passed."""
    passed = 0.0
    n = 0
    while passed + 20 <= days:
        clock.advance(days=20)
        passed += 20
        n += 1
        await commit(store, session_id, f"keep-{session_id}-{n}", [text_msg("user", "still here")])
    clock.advance(days=days - passed)


async def test_a_session_ends_at_its_maximum_age_however_active(store: Store, clock: Clock) -> None:
    old = await store.create_session("tl")
    await store.register_key("tl:slack:C1::1.0", old.id)
    await keep_active(store, clock, old.id, MAX_AGE_DAYS)
    # exactly at the maximum age: still live (and a turn takes its lease)
    assert await store.resolve("tl:slack:C1::1.0") == await store.get_session(old.id)
    assert (await store.stats()).active_sessions == 1
    assert await store.expire_sessions() == 0
    fence = await store.acquire_lease(old.id, "w1", LEASE)
    assert fence is not None

    clock.advance(seconds=1)
    assert await store.resolve("tl:slack:C1::1.0") is None
    assert (await store.stats()).active_sessions == 0
    # the key can be taken by a new session, though the old one is not marked yet
    new = await store.create_session("tl")
    assert (await store.register_key("tl:slack:C1::1.0", new.id)).registered
    assert await store.expire_sessions() == 1
    expired = await store.get_session(old.id)
    assert expired is not None and expired.status == "expired"
    assert events(await store.events_for(old.id), "expired") == [
        (f"older than {MAX_AGE_DAYS} days", None)
    ]
    # The turn that held it cannot commit, and an expired session gives no lease.
    with pytest.raises(LeaseLost):
        await store.commit_turn(commit_for(old.id, fence, "late", "q"))
    assert await store.acquire_lease(old.id, "w1", LEASE) is None


async def test_expiry_names_the_limit_that_was_passed(store: Store, clock: Clock) -> None:
    idle = await store.create_session("tl")
    clock.advance(days=TEST_TTL_DAYS, seconds=1)
    old = await store.create_session("tl")
    await keep_active(store, clock, old.id, MAX_AGE_DAYS + 1)
    assert await store.expire_sessions() == 2
    assert events(await store.events_for(idle.id), "expired") == [
        (f"idle for more than {TEST_TTL_DAYS} days", None)
    ]
    assert events(await store.events_for(old.id), "expired") == [
        (f"older than {MAX_AGE_DAYS} days", None)
    ]


# pruning deliveries nobody will handle ------------------------------------------------------


async def test_prune_deletes_deliveries_never_handled_within_the_retention(
    store: Store, clock: Clock
) -> None:
    await store.record_delivery("old-pending", "slack", "L1", {})
    await store.record_delivery("old-processing", "slack", "L2", {})
    await store.record_delivery("old-waiting", "slack", "L1", {})  # behind old-pending
    first = await store.claim_delivery("w", LEASE)
    second = await store.claim_delivery("w", LEASE)
    assert first is not None and second is not None
    await store.release_delivery(first.id, "w", delay_seconds=0)
    clock.advance(days=14, seconds=1)
    await store.record_delivery("new-pending", "slack", "L3", {})

    result = await store.prune(retention_days=14)
    assert result.deliveries_deleted == 3
    stats = await store.stats()
    assert stats.pending_deliveries == 1
    assert stats.extra["processing_deliveries"] == 0
    fresh = await store.claim_delivery("w", LEASE)
    assert fresh is not None and fresh.delivery_id == "new-pending"
    # a delivery received within the retention period is kept, however long it waits
    clock.advance(days=13)
    assert (await store.prune(retention_days=14)).deliveries_deleted == 0
    assert await store.get_delivery(fresh.id) is not None
