"""The store contract, run against every store: memory, SQLite and PostgreSQL (``store`` is
parametrized over them).

The SQL stores run on a real database; time moves only through the ``clock`` fixture. What
only the SQL store has (migrations, URLs, drivers, replicas, locking) is in ``test_sql.py``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from typing import Any

import pytest

from app.core import Usage
from app.errors import LeaseLost, StoreError
from app.store.base import (
    NewMessage,
    SessionFilter,
    Store,
    TurnCommit,
    TurnRecord,
)
from tests.conftest import TEST_TTL_DAYS, Clock

LEASE = 30.0


def text_msg(role: str, body: str, **kw: Any) -> NewMessage:
    return NewMessage(role=role, content=[{"type": "text", "text": body}], **kw)  # type: ignore[arg-type]


def commit_for(
    session_id: str,
    fence: int,
    turn_id: str,
    *bodies: str,
    holder: str | None = "w1",
    delivery_pk: int | None = None,
    usage: Usage | None = None,
) -> TurnCommit:
    roles = ["user", "assistant"]
    return TurnCommit(
        session_id=session_id,
        fence=fence,
        turn_id=turn_id,
        messages=[text_msg(roles[i % 2], b) for i, b in enumerate(bodies)],
        usage=usage or Usage(10, 5, 1, 2),
        model="claude-test",
        outcome="ok",
        delivery_pk=delivery_pk,
        holder=holder,
    )


def texts(entries: list[Any]) -> list[str]:
    return [e.content[0]["text"] for e in entries]


# lifecycle ----------------------------------------------------------------------------------


async def test_migrate_is_idempotent_and_reports_versions(store: Store) -> None:
    head = await store.head_version()
    assert await store.schema_version() == head
    session = await store.create_session("tl")
    assert await store.migrate() == head
    assert await store.migrate() == head
    assert await store.schema_version() == head
    assert await store.get_session(session.id) == session
    await store.ping()


async def test_times_are_timezone_aware_utc(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    loaded = await store.get_session(session.id)
    assert loaded is not None
    assert loaded.created_at == clock.now()
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset() == timedelta(0)
    await store.record_delivery("d", "slack", "lane", {})
    delivery = await store.claim_delivery("w", LEASE)
    assert delivery is not None
    assert delivery.received_at == clock.now()
    assert delivery.received_at.tzinfo == UTC


# inbox --------------------------------------------------------------------------------------


async def test_record_delivery_deduplicates_under_concurrency(store: Store) -> None:
    results = await asyncio.gather(
        *(store.record_delivery("same-id", "slack", "lane-a", {"n": i}) for i in range(20))
    )
    assert results.count(True) == 1
    assert results.count(False) == 19
    assert (await store.stats()).pending_deliveries == 1
    assert await store.record_delivery("same-id", "slack", "lane-a", {}) is False


async def test_a_claim_says_what_else_it_saw_waiting(store: Store, clock: Clock) -> None:
    for delivery_id, lane in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("c1", "C")]:
        assert await store.record_delivery(delivery_id, "slack", lane, {})
    first = await store.claim_delivery("w1", LEASE)
    # b1 and c1 are claimable too; a2 waits for it
    assert first is not None and first.delivery_id == "a1"
    assert (first.more, first.queued) == (True, True)
    second = await store.claim_delivery("w1", LEASE)
    assert second is not None and second.delivery_id == "b1"
    assert (second.more, second.queued) == (True, False)
    # a2 is not claimable (a1 runs): nothing else is
    third = await store.claim_delivery("w1", LEASE)
    assert third is not None and third.delivery_id == "c1"
    assert (third.more, third.queued) == (False, False)
    assert await store.claim_delivery("w1", LEASE) is None
    # a lapsed claim counts as claimable
    clock.advance(seconds=LEASE + 1)
    again = await store.claim_delivery("w2", LEASE)
    assert again is not None and again.delivery_id == "a1"
    assert (again.more, again.queued) == (True, True)


async def test_claim_order_and_lane_exclusivity(store: Store) -> None:
    for delivery_id, lane in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("b2", "B")]:
        assert await store.record_delivery(delivery_id, "slack", lane, {"id": delivery_id})

    first = await store.claim_delivery("w1", LEASE)
    assert first is not None and first.delivery_id == "a1"
    assert first.status == "processing" and first.attempts == 1
    assert first.payload == {"id": "a1"}
    # lane A is busy, so the next claim gets lane B's first, never a2
    second = await store.claim_delivery("w2", LEASE)
    assert second is not None and second.delivery_id == "b1"
    # both lanes busy: nothing claimable
    assert await store.claim_delivery("w3", LEASE) is None

    await store.finish_delivery(first.id, "w1", "done")
    third = await store.claim_delivery("w3", LEASE)
    assert third is not None and third.delivery_id == "a2"
    assert await store.claim_delivery("w4", LEASE) is None

    await store.finish_delivery(second.id, "w2", "failed", error="boom")
    fourth = await store.claim_delivery("w4", LEASE)
    assert fourth is not None and fourth.delivery_id == "b2"
    failed = await store.get_delivery(second.id)
    assert failed is not None and failed.status == "failed"

    # the latest handled delivery of a lane before a given one
    previous = await store.previous_delivery("A", third.id)
    assert previous is not None and previous.delivery_id == "a1"
    assert await store.previous_delivery("A", first.id) is None
    assert (await store.previous_delivery("B", fourth.id)).delivery_id == "b1"  # type: ignore[union-attr]


async def test_later_delivery_waits_while_earlier_is_delayed(store: Store, clock: Clock) -> None:
    await store.record_delivery("x1", "slack", "X", {})
    await store.record_delivery("x2", "slack", "X", {})
    await store.record_delivery("y1", "slack", "Y", {})
    x1 = await store.claim_delivery("w1", LEASE)
    assert x1 is not None and x1.delivery_id == "x1"
    await store.release_delivery(x1.id, "w1", delay_seconds=60)
    # x1 is pending in the future: x2 must still wait behind it; y1 is free
    y1 = await store.claim_delivery("w2", LEASE)
    assert y1 is not None and y1.delivery_id == "y1"
    assert await store.claim_delivery("w2", LEASE) is None
    clock.advance(seconds=61)
    again = await store.claim_delivery("w2", LEASE)
    assert again is not None and again.delivery_id == "x1"


async def test_concurrent_claimers_get_distinct_deliveries(store: Store) -> None:
    for i in range(10):
        await store.record_delivery(f"d{i}", "slack", f"lane-{i}", {"i": i})
    claims = await asyncio.gather(*(store.claim_delivery(f"w{i}", LEASE) for i in range(10)))
    got = [c for c in claims if c is not None]
    assert len(got) == 10
    assert len({c.id for c in got}) == 10
    assert await store.claim_delivery("late", LEASE) is None


async def test_concurrent_claimers_on_one_lane_get_one_delivery(store: Store) -> None:
    for i in range(5):
        await store.record_delivery(f"d{i}", "slack", "one-lane", {"i": i})
    claims = await asyncio.gather(*(store.claim_delivery(f"w{i}", LEASE) for i in range(10)))
    got = [c for c in claims if c is not None]
    assert len(got) == 1
    assert got[0].delivery_id == "d0"


async def test_expired_delivery_lease_is_reclaimable(store: Store, clock: Clock) -> None:
    await store.record_delivery("d1", "github", "acme/w#1", {})
    mine = await store.claim_delivery("old", LEASE)
    assert mine is not None
    clock.advance(seconds=LEASE - 1)
    assert await store.claim_delivery("new", LEASE) is None
    assert await store.extend_delivery(mine.id, "old", LEASE)
    clock.advance(seconds=LEASE - 1)
    assert await store.claim_delivery("new", LEASE) is None  # extended, still held
    clock.advance(seconds=2)
    theirs = await store.claim_delivery("new", LEASE)
    assert theirs is not None and theirs.id == mine.id
    assert theirs.attempts == 2
    # the old holder can neither extend nor finish any more
    assert not await store.extend_delivery(mine.id, "old", LEASE)
    await store.finish_delivery(mine.id, "old", "done")
    current = await store.get_delivery(mine.id)
    assert current is not None and current.status == "processing"
    await store.finish_delivery(mine.id, "new", "done")
    current = await store.get_delivery(mine.id)
    assert current is not None and current.status == "done"
    # finishing twice changes nothing
    await store.finish_delivery(mine.id, "new", "failed", error="late")
    current = await store.get_delivery(mine.id)
    assert current is not None and current.status == "done"


async def test_release_delivery_with_delay_does_not_count_an_attempt(
    store: Store, clock: Clock
) -> None:
    await store.record_delivery("d1", "jira", "AD-1", {})
    claimed = await store.claim_delivery("w1", LEASE)
    assert claimed is not None and claimed.attempts == 1
    await store.release_delivery(claimed.id, "intruder", delay_seconds=0)  # not the holder
    still = await store.get_delivery(claimed.id)
    assert still is not None and still.status == "processing"

    await store.release_delivery(claimed.id, "w1", delay_seconds=10)
    back = await store.get_delivery(claimed.id)
    assert back is not None and back.status == "pending" and back.attempts == 0
    assert await store.claim_delivery("w2", LEASE) is None
    clock.advance(seconds=10)
    again = await store.claim_delivery("w2", LEASE)
    assert again is not None and again.id == claimed.id and again.attempts == 1


async def test_reply_ref_and_posted_refs(store: Store) -> None:
    await store.record_delivery("d1", "slack", "L", {"text": "hi"})
    d = await store.claim_delivery("w", LEASE)
    assert d is not None and d.reply_ref is None
    await store.set_reply_ref(d.id, {"channel": "C1", "ts": "1.2"})
    loaded = await store.get_delivery(d.id)
    assert loaded is not None and loaded.reply_ref == {"channel": "C1", "ts": "1.2"}
    assert await store.get_delivery(99999) is None
    # only the current holder may record, and only while the delivery is claimed
    assert await store.set_reply_ref(d.id, {"ts": "2"}, holder="w")
    assert not await store.set_reply_ref(d.id, {"ts": "stale"}, holder="someone-else")
    await store.finish_delivery(d.id, "w", "done")
    assert not await store.set_reply_ref(d.id, {"ts": "late"}, holder="w")
    assert (await store.get_delivery(d.id)).reply_ref == {"ts": "2"}  # type: ignore[union-attr]

    assert not await store.was_posted("github:comment:1")
    await store.remember_posted("github:comment:1")
    await store.remember_posted("github:comment:1")
    assert await store.was_posted("github:comment:1")
    assert not await store.was_posted("github:comment:2")
    # several refs in one look
    assert await store.any_posted(["github:comment:2", "github:comment:1"])
    assert not await store.any_posted(["github:comment:2", "github:comment:3"])
    assert not await store.any_posted([])


async def test_stored_json_is_a_copy_and_must_be_json(store: Store) -> None:
    payload: dict[str, Any] = {"text": "hi", "blocks": [{"n": 1}]}
    await store.record_delivery("d1", "slack", "L", payload)
    payload["blocks"].append({"n": 2})
    claimed = await store.claim_delivery("w", LEASE)
    assert claimed is not None and claimed.payload == {"text": "hi", "blocks": [{"n": 1}]}
    claimed.payload["text"] = "changed by the caller"
    again = await store.get_delivery(claimed.id)
    assert again is not None and again.payload["text"] == "hi"
    with pytest.raises(StoreError):
        await store.record_delivery("d2", "slack", "L", {"bad": object()})
    assert await store.record_delivery("d2", "slack", "L", {}) is True


async def test_finish_delivery_rejects_non_final_status(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.finish_delivery(1, "w", "pending")


# sessions and keys --------------------------------------------------------------------------


async def test_create_resolve_and_register(store: Store) -> None:
    session = await store.create_session("tl", turn_id="t0")
    assert session.status == "active" and session.resume_count == 0
    assert await store.get_session(session.id) == session
    assert await store.resolve("tl:slack:C1::1.0") is None

    claim = await store.register_key("tl:slack:C1::1.0", session.id, url="https://x/1")
    assert claim.registered and claim.owner_session_id == session.id
    assert await store.resolve("tl:slack:C1::1.0") == session
    again = await store.register_key("tl:slack:C1::1.0", session.id, url="https://x/2")
    assert again.registered and again.owner_session_id == session.id
    links = await store.keys_for(session.id)
    assert [(k.key, k.url) for k in links] == [("tl:slack:C1::1.0", "https://x/2")]

    other = await store.create_session("tl")
    refused = await store.register_key("tl:slack:C1::1.0", other.id)
    assert not refused.registered and refused.owner_session_id == session.id
    assert await store.resolve("tl:slack:C1::1.0") == session
    assert await store.keys_for(other.id) == []


async def test_register_key_race_has_exactly_one_winner(store: Store) -> None:
    sessions = [await store.create_session("tl") for _ in range(50)]
    key = "tl:github:acme/widgets#42"
    claims = await asyncio.gather(*(store.register_key(key, s.id) for s in sessions))
    winners = [c for c in claims if c.registered]
    assert len(winners) == 1
    owner = winners[0].owner_session_id
    assert all(c.owner_session_id == owner for c in claims)
    resolved = await store.resolve(key)
    assert resolved is not None and resolved.id == owner
    linked = [e for e in await store.events_for(owner) if e.kind == "key_linked"]
    assert len(linked) == 1


async def test_key_of_ended_session_can_be_taken(store: Store) -> None:
    old = await store.create_session("tl")
    await store.register_key("tl:jira:AD-1", old.id)
    await store.end_session(old.id, "reset", cause="user asked", turn_id="t9")
    assert await store.resolve("tl:jira:AD-1") is None
    assert await store.keys_for(old.id) == []
    ended = await store.get_session(old.id)
    assert ended is not None and ended.status == "reset"

    new = await store.create_session("tl")
    claim = await store.register_key("tl:jira:AD-1", new.id)
    assert claim.registered and claim.owner_session_id == new.id
    assert await store.resolve("tl:jira:AD-1") == new


async def test_key_of_session_past_ttl_can_be_taken(store: Store, clock: Clock) -> None:
    old = await store.create_session("tl")
    await store.register_key("tl:slack:D1::main", old.id)
    clock.advance(days=TEST_TTL_DAYS, seconds=1)
    # not yet marked expired, but no longer live
    still = await store.get_session(old.id)
    assert still is not None and still.status == "active"
    assert await store.resolve("tl:slack:D1::main") is None

    new = await store.create_session("tl")
    claim = await store.register_key("tl:slack:D1::main", new.id)
    assert claim.registered and claim.owner_session_id == new.id
    assert [k.key for k in await store.keys_for(new.id)] == ["tl:slack:D1::main"]
    assert await store.keys_for(old.id) == []
    assert "key_unlinked" in [e.kind for e in await store.events_for(old.id)]


async def test_session_for_key_finds_a_live_holder(store: Store) -> None:
    session = await store.create_session("tl")
    await store.register_key("tl:jira:AD-3", session.id)
    assert await store.session_for_key("tl:jira:AD-3") == session
    assert await store.resolve("tl:jira:AD-3") == session


async def test_session_for_key_finds_a_holder_past_the_ttl(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    await store.register_key("tl:slack:C1::5.5", session.id)
    clock.advance(days=TEST_TTL_DAYS, seconds=1)
    # idle past the TTL but not yet marked expired: no longer live, still the key's holder
    assert await store.resolve("tl:slack:C1::5.5") is None
    found = await store.session_for_key("tl:slack:C1::5.5")
    assert found == session and found.status == "active"
    # once marked expired, its keys are released: nothing holds the key any more
    assert await store.expire_sessions() == 1
    assert await store.session_for_key("tl:slack:C1::5.5") is None


async def test_session_for_key_after_the_session_ended(store: Store) -> None:
    session = await store.create_session("tl")
    await store.register_key("tl:github:acme/w#8", session.id)
    await store.end_session(session.id, "dropped", cause="operator")
    # ending releases the keys
    assert await store.session_for_key("tl:github:acme/w#8") is None
    # a key linked to a session that has ended still leads to it, whatever its status
    await store.register_key("tl:github:acme/w#9", session.id)
    found = await store.session_for_key("tl:github:acme/w#9")
    assert found is not None and found.id == session.id and found.status == "dropped"
    assert await store.resolve("tl:github:acme/w#9") is None


async def test_session_for_key_of_an_unknown_key(store: Store) -> None:
    assert await store.session_for_key("tl:jira:NOPE-1") is None
    session = await store.create_session("tl")
    await store.register_key("tl:jira:AD-4", session.id)
    await store.unlink_key("tl:jira:AD-4", cause="moved")
    assert await store.session_for_key("tl:jira:AD-4") is None
    # exact keys only: neither a prefix nor another case matches
    await store.register_key("tl:jira:AD-40", session.id)
    assert await store.session_for_key("tl:jira:AD-4") is None
    assert await store.session_for_key("TL:JIRA:AD-40") is None


async def test_takeover_race_of_a_stale_key_has_exactly_one_winner(
    store: Store, clock: Clock
) -> None:
    stale = await store.create_session("tl")
    key = "tl:slack:C9::77.7"
    await store.register_key(key, stale.id)
    clock.advance(days=TEST_TTL_DAYS + 1)
    contenders = [await store.create_session("tl") for _ in range(30)]
    claims = await asyncio.gather(*(store.register_key(key, s.id) for s in contenders))
    winners = [c for c in claims if c.registered]
    assert len(winners) == 1
    assert {c.owner_session_id for c in claims} == {winners[0].owner_session_id}
    assert winners[0].owner_session_id != stale.id
    linked = [e for s in contenders for e in await store.events_for(s.id) if e.kind == "key_linked"]
    assert len(linked) == 1


async def test_register_key_for_unknown_session_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        await store.register_key("tl:jira:AD-404", "no-such-session")


async def test_unlink_key(store: Store) -> None:
    session = await store.create_session("tl")
    await store.register_key("tl:jira:AD-2", session.id)
    await store.register_key("tl:github:acme/w#2", session.id)
    assert await store.unlink_key("tl:jira:AD-2", cause="moved", turn_id="t1") == session.id
    assert await store.unlink_key("tl:jira:AD-2", cause="again") is None
    assert [k.key for k in await store.keys_for(session.id)] == ["tl:github:acme/w#2"]
    events = await store.events_for(session.id)
    assert (events[-1].kind, events[-1].cause, events[-1].turn_id) == (
        "key_unlinked",
        "moved",
        "t1",
    )


async def test_end_session_rejects_active_status(store: Store) -> None:
    session = await store.create_session("tl")
    with pytest.raises(ValueError):
        await store.end_session(session.id, "active", cause="nope")


# leases -------------------------------------------------------------------------------------


async def test_leases_fence_and_expire(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    assert await store.acquire_lease("no-such-session", "w1", LEASE) is None

    f1 = await store.acquire_lease(session.id, "w1", LEASE)
    assert f1 == 1
    assert await store.acquire_lease(session.id, "w2", LEASE) is None
    assert await store.acquire_lease(session.id, "w1", LEASE) is None  # not re-entrant
    assert not await store.renew_lease(session.id, "w1", f1 + 1, LEASE)  # wrong fence
    assert not await store.renew_lease(session.id, "w2", f1, LEASE)  # wrong holder
    clock.advance(seconds=LEASE - 1)
    assert await store.renew_lease(session.id, "w1", f1, LEASE)
    clock.advance(seconds=LEASE - 1)
    assert await store.acquire_lease(session.id, "w2", LEASE) is None  # renewed: still held

    clock.advance(seconds=2)  # now expired
    f2 = await store.acquire_lease(session.id, "w2", LEASE)
    assert f2 == f1 + 1
    assert not await store.renew_lease(session.id, "w1", f1, LEASE)
    await store.release_lease(session.id, "w1", f1)  # stale: no effect
    assert await store.acquire_lease(session.id, "w3", LEASE) is None
    await store.release_lease(session.id, "w2", f2)
    f3 = await store.acquire_lease(session.id, "w3", LEASE)
    assert f3 == f2 + 1


async def test_concurrent_acquire_has_one_winner(store: Store) -> None:
    session = await store.create_session("tl")
    fences = await asyncio.gather(
        *(store.acquire_lease(session.id, f"w{i}", LEASE) for i in range(20))
    )
    assert [f for f in fences if f is not None] == [1]


# transcript and turns -----------------------------------------------------------------------


async def test_commit_turn_appends_with_consecutive_seq(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    for n in range(3):
        fence = await store.acquire_lease(session.id, "w1", LEASE)
        assert fence is not None
        clock.advance(seconds=5)
        await store.commit_turn(commit_for(session.id, fence, f"t{n}", f"q{n}", f"a{n}"))
        # the commit released the lease
        assert await store.acquire_lease(session.id, "w2", LEASE) is not None
        await store.release_lease(session.id, "w2", fence + 1)

    entries = await store.load_transcript(session.id)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert texts(entries) == ["q0", "a0", "q1", "a1", "q2", "a2"]
    assert [e.role for e in entries] == ["user", "assistant"] * 3
    assert [e.turn_id for e in entries] == ["t0", "t0", "t1", "t1", "t2", "t2"]
    # what a turn replays: the same messages, role and content only, in order
    assert await store.load_messages(session.id) == [
        {"role": e.role, "content": e.content} for e in entries
    ]

    loaded = await store.get_session(session.id)
    assert loaded is not None
    assert loaded.last_active_at == clock.now()
    assert loaded.resume_count == 2  # the first turn started it; two turns resumed it
    kinds = [e.kind for e in await store.events_for(session.id)]
    assert kinds == ["created", "resumed", "resumed"]

    recorded = await store.turns_for(session.id)
    assert [t.turn_id for t in recorded] == ["t0", "t1", "t2"]
    assert all(t.usage == Usage(10, 5, 1, 2) and t.outcome == "ok" for t in recorded)
    assert all(t.finished_at >= t.started_at for t in recorded)


async def test_commit_turn_keeps_message_fields(store: Store) -> None:
    session = await store.create_session("tl")
    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    content: list[dict[str, Any]] = [
        {"type": "text", "text": "ünïcødé ✓"},
        {"type": "tool_use", "id": "tu1", "name": "jira_get", "input": {"key": "AD-1", "n": [1]}},
    ]
    await store.commit_turn(
        TurnCommit(
            session_id=session.id,
            fence=fence,
            turn_id="t1",
            messages=[
                NewMessage("user", [{"type": "text", "text": "hi"}], "U1", "Ann", "slack"),
                NewMessage("assistant", content),
            ],
            usage=Usage(),
            model="m",
            outcome="ok",
        )
    )
    first, second = await store.load_transcript(session.id)
    assert (first.author_id, first.author_name, first.source) == ("U1", "Ann", "slack")
    assert second.content == content
    assert (second.author_id, second.source) == (None, None)


async def test_commit_with_stale_fence_raises_and_writes_nothing(
    store: Store, clock: Clock
) -> None:
    session = await store.create_session("tl")
    await store.record_delivery("d1", "slack", "L", {})
    delivery = await store.claim_delivery("w1", LEASE)
    assert delivery is not None
    old = await store.acquire_lease(session.id, "w1", LEASE)
    assert old is not None
    clock.advance(seconds=LEASE + 1)
    new = await store.acquire_lease(session.id, "w2", LEASE)
    assert new == old + 1

    with pytest.raises(LeaseLost):
        await store.commit_turn(
            commit_for(session.id, old, "t-old", "q", "a", delivery_pk=delivery.id)
        )
    assert await store.load_transcript(session.id) == []
    assert await store.turns_for(session.id) == []
    still = await store.get_delivery(delivery.id)
    assert still is not None and still.status == "processing"

    await store.commit_turn(commit_for(session.id, new, "t-new", "q", "a", holder="w2"))
    assert texts(await store.load_transcript(session.id)) == ["q", "a"]


async def test_commit_checks_holder_and_refuses_a_second_commit(store: Store) -> None:
    session = await store.create_session("tl")
    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    with pytest.raises(LeaseLost):
        await store.commit_turn(commit_for(session.id, fence, "t1", "q", holder="w2"))
    await store.commit_turn(commit_for(session.id, fence, "t1", "q", "a", holder="w1"))
    # the commit released the lease: committing again with the same fence is refused
    with pytest.raises(LeaseLost):
        await store.commit_turn(commit_for(session.id, fence, "t2", "q2", holder=None))
    assert texts(await store.load_transcript(session.id)) == ["q", "a"]


async def test_concurrent_commits_with_one_fence_commit_once(store: Store) -> None:
    session = await store.create_session("tl")
    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    results = await asyncio.gather(
        *(store.commit_turn(commit_for(session.id, fence, f"t{i}", f"q{i}")) for i in range(5)),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, LeaseLost) for r in results if r is not None)
    entries = await store.load_transcript(session.id)
    assert len(entries) == 1 and entries[0].seq == 1


async def test_commit_on_ended_session_raises(store: Store) -> None:
    session = await store.create_session("tl")
    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    await store.end_session(session.id, "dropped", cause="model rejected transcript")
    with pytest.raises(LeaseLost):
        await store.commit_turn(commit_for(session.id, fence, "t1", "q"))
    with pytest.raises(LeaseLost):
        await store.commit_turn(commit_for("no-such-session", 1, "t1", "q"))
    assert await store.load_transcript(session.id) == []


async def test_commit_finishes_its_delivery_only_while_holding_it(
    store: Store, clock: Clock
) -> None:
    session = await store.create_session("tl")
    await store.record_delivery("d1", "slack", "L", {})
    await store.record_delivery("d2", "slack", "L", {})
    d1 = await store.claim_delivery("w1", LEASE)
    assert d1 is not None
    fence = await store.acquire_lease(session.id, "w1", LEASE * 10)
    assert fence is not None
    await store.commit_turn(commit_for(session.id, fence, "t1", "q1", "a1", delivery_pk=d1.id))
    done = await store.get_delivery(d1.id)
    assert done is not None and done.status == "done"

    # d2's delivery lease lapses and another worker takes it over
    d2 = await store.claim_delivery("w1", LEASE)
    assert d2 is not None and d2.delivery_id == "d2"
    fence = await store.acquire_lease(session.id, "w1", LEASE * 10)
    assert fence is not None
    clock.advance(seconds=LEASE + 1)
    taken = await store.claim_delivery("w2", LEASE)
    assert taken is not None and taken.id == d2.id
    with pytest.raises(LeaseLost):
        await store.commit_turn(commit_for(session.id, fence, "t2", "q2", "a2", delivery_pk=d2.id))
    assert texts(await store.load_transcript(session.id)) == ["q1", "a1"]
    current = await store.get_delivery(d2.id)
    assert current is not None and current.status == "processing"


async def test_failing_commit_leaves_everything_as_before(store: Store) -> None:
    session = await store.create_session("tl")
    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    await store.commit_turn(commit_for(session.id, fence, "t1", "q1", "a1"))
    before = await store.get_session(session.id)

    await store.record_delivery("d1", "slack", "L", {})
    delivery = await store.claim_delivery("w1", LEASE)
    assert delivery is not None
    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    broken = TurnCommit(
        session_id=session.id,
        fence=fence,
        turn_id="t2",
        messages=[text_msg("user", "q2"), NewMessage("assistant", [{"bad": object()}])],
        usage=Usage(1, 1, 0, 0),
        model="m",
        outcome="ok",
        delivery_pk=delivery.id,
        holder="w1",
    )
    with pytest.raises(StoreError):
        await store.commit_turn(broken)
    assert texts(await store.load_transcript(session.id)) == ["q1", "a1"]
    assert [t.turn_id for t in await store.turns_for(session.id)] == ["t1"]
    assert await store.get_session(session.id) == before
    unchanged = await store.get_delivery(delivery.id)
    assert unchanged is not None and unchanged.status == "processing"
    # the lease is still ours, so the turn can be committed properly
    await store.commit_turn(
        commit_for(session.id, fence, "t2", "q2", "a2", delivery_pk=delivery.id)
    )
    assert [e.seq for e in await store.load_transcript(session.id)] == [1, 2, 3, 4]


async def test_record_turn_and_turn_id_reuse(store: Store, clock: Clock) -> None:
    first = await store.create_session("tl")
    start = clock.now()
    await store.record_turn(
        TurnRecord("t1", first.id, "model_error", "m", Usage(3, 0, 0, 0), start, start)
    )
    await store.record_turn(
        TurnRecord("t0", first.id, "refused", None, Usage(), start - timedelta(minutes=1), start)
    )
    await store.record_turn(TurnRecord("t-none", None, "bad_request", None, Usage(), start, start))
    assert [t.turn_id for t in await store.turns_for(first.id)] == ["t0", "t1"]

    # the same turn id, retried on a fresh session, commits without conflict
    await store.end_session(first.id, "dropped", cause="context rejected", turn_id="t1")
    second = await store.create_session("tl", turn_id="t1")
    fence = await store.acquire_lease(second.id, "w1", LEASE)
    assert fence is not None
    clock.advance(seconds=3)
    retry = commit_for(second.id, fence, "t1", "q", "a", usage=Usage(5, 7, 0, 0))
    await store.commit_turn(retry)
    [merged] = await store.turns_for(second.id)
    assert merged.outcome == "ok" and merged.session_id == second.id
    assert merged.usage == Usage(8, 7, 0, 0)  # both attempts cost tokens
    assert merged.started_at == start and merged.finished_at == clock.now()
    assert [t.turn_id for t in await store.turns_for(first.id)] == ["t0"]


# event log ----------------------------------------------------------------------------------


async def test_event_log_records_the_session_story(store: Store) -> None:
    session = await store.create_session("tl", turn_id="t0")
    await store.register_key("tl:slack:C1::9.9", session.id, turn_id="t0")
    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    await store.commit_turn(commit_for(session.id, fence, "t0", "q", "a"))
    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    await store.commit_turn(commit_for(session.id, fence, "t1", "q", "a"))
    await store.log_event(session.id, "note", cause="operator looked", turn_id="t1")
    await store.unlink_key("tl:slack:C1::9.9", cause="moved", turn_id="t2")
    await store.end_session(session.id, "reset", cause="user said reset", turn_id="t3")

    events = await store.events_for(session.id)
    assert [(e.kind, e.turn_id) for e in events] == [
        ("created", "t0"),
        ("key_linked", "t0"),
        ("resumed", "t1"),
        ("note", "t1"),
        ("key_unlinked", "t2"),
        ("reset", "t3"),
    ]
    assert events[1].cause == "tl:slack:C1::9.9"
    assert events[-1].cause == "user said reset"
    assert all(e.session_id == session.id for e in events)
    assert await store.events_for("other") == []


# operations ---------------------------------------------------------------------------------


async def test_expiry_by_ttl(store: Store, clock: Clock) -> None:
    idle = await store.create_session("tl")
    await store.register_key("tl:jira:AD-5", idle.id)
    clock.advance(days=TEST_TTL_DAYS - 1)
    busy = await store.create_session("tl")
    await store.register_key("tl:jira:AD-6", busy.id)

    clock.advance(days=1)  # exactly at the TTL: still live
    assert await store.resolve("tl:jira:AD-5") == idle
    assert (await store.stats()).active_sessions == 2
    assert await store.expire_sessions() == 0

    clock.advance(seconds=1)
    assert await store.resolve("tl:jira:AD-5") is None
    assert await store.resolve("tl:jira:AD-6") == busy
    assert (await store.stats()).active_sessions == 1
    assert await store.expire_sessions() == 1
    assert await store.expire_sessions() == 0
    expired = await store.get_session(idle.id)
    assert expired is not None and expired.status == "expired"
    assert (await store.events_for(idle.id))[-1].kind == "expired"
    assert await store.keys_for(idle.id) == []
    assert [k.key for k in await store.keys_for(busy.id)] == ["tl:jira:AD-6"]


async def test_expire_sessions_in_small_batches(store: Store, clock: Clock) -> None:
    for _ in range(5):
        await store.create_session("tl")
    clock.advance(days=TEST_TTL_DAYS + 1)
    assert await store.expire_sessions(batch=2) == 5
    assert len(await store.list_sessions(SessionFilter(status="expired"))) == 5


async def test_prune_deletes_old_ended_sessions_in_batches(store: Store, clock: Clock) -> None:
    ended = []
    for n in range(5):
        s = await store.create_session("tl")
        fence = await store.acquire_lease(s.id, "w1", LEASE)
        assert fence is not None
        await store.commit_turn(commit_for(s.id, fence, f"t{n}", "q", "a"))
        await store.register_key(f"tl:jira:AD-{n}", s.id)
        await store.end_session(s.id, "dropped", cause="test")
        ended.append(s)
    keeper = await store.create_session("tl")
    await store.record_delivery("old-done", "slack", "L1", {})
    old = await store.claim_delivery("w", LEASE)
    assert old is not None
    await store.finish_delivery(old.id, "w", "done")
    await store.remember_posted("github:comment:1")

    clock.advance(days=15)
    recent_end = await store.create_session("tl")
    await store.end_session(recent_end.id, "reset", cause="test")
    await store.record_delivery("new-pending", "slack", "L2", {})
    fence = await store.acquire_lease(keeper.id, "w1", LEASE)
    assert fence is not None
    await store.commit_turn(commit_for(keeper.id, fence, "tk", "q", "a"))

    result = await store.prune(retention_days=14, batch=2)
    assert result.sessions_deleted == 5
    assert result.deliveries_deleted == 1
    assert result.events_deleted == 5 * 3  # created, key_linked, dropped
    assert result.sessions_expired == 0
    for s in ended:
        assert await store.get_session(s.id) is None
        assert await store.load_transcript(s.id) == []
        assert await store.turns_for(s.id) == []
        assert await store.events_for(s.id) == []
    assert await store.resolve("tl:jira:AD-0") is None
    assert await store.get_session(recent_end.id) is not None
    assert len(await store.load_transcript(keeper.id)) == 2
    assert await store.get_delivery(old.id) is None
    assert (await store.stats()).pending_deliveries == 1
    assert not await store.was_posted("github:comment:1")

    again = await store.prune(retention_days=14, batch=2)
    assert again == type(again)()


async def test_prune_expires_first(store: Store, clock: Clock) -> None:
    s = await store.create_session("tl")
    clock.advance(days=TEST_TTL_DAYS + 20)
    result = await store.prune(retention_days=14)
    # expired now (its last activity is 50 days old), so it is also old enough to delete
    assert result.sessions_expired == 1
    assert result.sessions_deleted == 1
    assert await store.get_session(s.id) is None


async def test_delete_session_cascades(store: Store) -> None:
    s = await store.create_session("tl")
    await store.register_key("tl:github:acme/w#1", s.id)
    fence = await store.acquire_lease(s.id, "w1", LEASE)
    assert fence is not None
    await store.commit_turn(commit_for(s.id, fence, "t1", "q", "a"))
    assert await store.delete_session(s.id)
    assert not await store.delete_session(s.id)
    assert await store.get_session(s.id) is None
    assert await store.resolve("tl:github:acme/w#1") is None
    assert await store.keys_for(s.id) == []
    assert await store.load_transcript(s.id) == []
    assert await store.turns_for(s.id) == []
    assert await store.events_for(s.id) == []
    other = await store.create_session("tl")
    assert (await store.register_key("tl:github:acme/w#1", other.id)).registered


async def test_list_sessions_filters(store: Store, clock: Clock) -> None:
    slack = await store.create_session("tl")
    await store.register_key("tl:slack:C01::123.4", slack.id)
    await store.register_key("tl:jira:AD-1", slack.id)
    clock.advance(days=2)
    github = await store.create_session("tl")
    await store.register_key("tl:github:acme/w#4", github.id)
    clock.advance(days=2)
    jira = await store.create_session("tl")
    await store.register_key("tl:jira:AD-100_x", jira.id)
    # a key whose *third* part mentions slack must not count as a slack session
    await store.register_key("tl:jira:slack:odd", jira.id)
    fence = await store.acquire_lease(jira.id, "w1", LEASE)
    assert fence is not None
    await store.commit_turn(commit_for(jira.id, fence, "t1", "q", "a", usage=Usage(1, 2, 3, 4)))
    fence = await store.acquire_lease(jira.id, "w1", LEASE)
    assert fence is not None
    await store.commit_turn(commit_for(jira.id, fence, "t2", "q", "a", usage=Usage(10, 20, 0, 0)))
    clock.advance(minutes=1)
    ended = await store.create_session("tl")
    await store.end_session(ended.id, "dropped", cause="x")

    def ids(summaries: list[Any]) -> list[str]:
        return [x.session.id for x in summaries]

    everything = await store.list_sessions(SessionFilter())
    assert ids(everything) == [ended.id, jira.id, github.id, slack.id]  # newest activity first
    by_id = {x.session.id: x for x in everything}
    assert by_id[jira.id].turns == 2
    assert by_id[jira.id].usage == Usage(11, 22, 3, 4)
    assert by_id[slack.id].turns == 0 and by_id[slack.id].usage == Usage()
    assert sorted(by_id[slack.id].keys) == ["tl:jira:AD-1", "tl:slack:C01::123.4"]

    assert ids(await store.list_sessions(SessionFilter(platform="slack"))) == [slack.id]
    assert ids(await store.list_sessions(SessionFilter(platform="github"))) == [github.id]
    assert ids(await store.list_sessions(SessionFilter(platform="jira"))) == [jira.id, slack.id]
    assert ids(await store.list_sessions(SessionFilter(key_contains="ACME/W"))) == [github.id]
    assert ids(await store.list_sessions(SessionFilter(key_contains="100_"))) == [jira.id]
    assert ids(await store.list_sessions(SessionFilter(key_contains="%"))) == []
    assert ids(await store.list_sessions(SessionFilter(status="dropped"))) == [ended.id]
    assert ids(await store.list_sessions(SessionFilter(active_within_days=1))) == [
        ended.id,
        jira.id,
    ]
    assert ids(await store.list_sessions(SessionFilter(older_than_days=1))) == [
        github.id,
        slack.id,
    ]
    assert ids(await store.list_sessions(SessionFilter(platform="jira", older_than_days=3))) == [
        slack.id
    ]
    assert ids(await store.list_sessions(SessionFilter(limit=2))) == [ended.id, jira.id]


async def test_stats(store: Store, clock: Clock) -> None:
    assert (await store.stats()).active_sessions == 0
    await store.create_session("tl")
    s = await store.create_session("tl")
    await store.end_session(s.id, "reset", cause="x")
    await store.record_delivery("a", "slack", "L1", {})
    await store.record_delivery("b", "slack", "L2", {})
    await store.claim_delivery("w", LEASE)
    stats = await store.stats()
    assert stats.active_sessions == 1
    assert stats.pending_deliveries == 1
    assert stats.extra["processing_deliveries"] == 1
