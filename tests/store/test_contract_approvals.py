"""The store contract for approvals of write actions, on every store (memory, SQLite,
PostgreSQL): creating and reading them, the card and the result, deciding exactly once,
expiry on the injected clock, pending approvals, and their deletion with their session and by
age. Races between replicas (several ``SqlStore`` on one database) are in
``test_sql_bounded.py``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest

from app.errors import StoreError
from app.store.base import Approval, Store
from tests.conftest import Clock

TTL = 3600.0


async def ask(
    store: Store,
    session_id: str,
    *,
    turn_id: str = "t1",
    tool: str = "create_github_issue",
    ttl: float = TTL,
    **overrides: Any,
) -> Approval:
    args: dict[str, Any] = {
        "tool_input": {"repo": "acme/widgets", "title": "Crash", "labels": ["bug"]},
        "summary": {"action": "Create a GitHub issue", "target": "acme/widgets"},
        "asked_by": "U1",
        "deciders": "asker",
        "channel": "C1",
        "thread_ts": "1763700000.000100",
    }
    args.update(overrides)
    return await store.create_approval(
        session_id=session_id, turn_id=turn_id, tool=tool, ttl_seconds=ttl, **args
    )


# creating and reading -----------------------------------------------------------------------


async def test_create_and_get_an_approval(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    approval = await ask(store, session.id)
    assert re.fullmatch(r"[0-9a-f]{32}", approval.id)
    assert approval.session_id == session.id
    assert approval.turn_id == "t1"
    assert approval.tool == "create_github_issue"
    assert approval.tool_input == {"repo": "acme/widgets", "title": "Crash", "labels": ["bug"]}
    assert approval.summary == {"action": "Create a GitHub issue", "target": "acme/widgets"}
    assert (approval.asked_by, approval.deciders) == ("U1", "asker")
    assert (approval.channel, approval.thread_ts, approval.card_ts) == (
        "C1",
        "1763700000.000100",
        None,
    )
    assert approval.status == "pending"
    assert approval.decided_by is None and approval.decided_at is None
    assert approval.result is None and approval.result_is_error is False
    assert approval.created_at == clock.now()
    assert approval.expires_at == clock.now() + timedelta(seconds=TTL)
    assert approval.expires_at.utcoffset() == timedelta(0)
    assert await store.get_approval(approval.id) == approval


async def test_approvals_without_a_slack_place(store: Store) -> None:
    session = await store.create_session("tl")
    approval = await ask(
        store, session.id, asked_by="octocat", deciders="channel", channel=None, thread_ts=None
    )
    loaded = await store.get_approval(approval.id)
    assert loaded is not None
    assert (loaded.asked_by, loaded.deciders, loaded.channel, loaded.thread_ts) == (
        "octocat",
        "channel",
        None,
        None,
    )


async def test_ids_are_unique_and_unknown_ids_change_nothing(store: Store) -> None:
    session = await store.create_session("tl")
    ids = {(await ask(store, session.id)).id for _ in range(5)}
    assert len(ids) == 5
    assert await store.get_approval("0" * 32) is None
    assert await store.decide_approval("0" * 32, "approved", "U1") is None
    await store.set_approval_card("0" * 32, "1763700001.000200")
    await store.record_approval_result("0" * 32, "done", False)
    assert await store.get_approval("0" * 32) is None


async def test_what_a_caller_holds_is_a_copy(store: Store) -> None:
    session = await store.create_session("tl")
    tool_input: dict[str, Any] = {"title": "Crash", "labels": ["bug"]}
    approval = await ask(store, session.id, tool_input=tool_input)
    tool_input["labels"].append("changed after")
    approval.tool_input["title"] = "changed too"
    approval.summary["action"] = "and this"
    loaded = await store.get_approval(approval.id)
    assert loaded is not None
    assert loaded.tool_input == {"title": "Crash", "labels": ["bug"]}
    assert loaded.summary["action"] == "Create a GitHub issue"


async def test_input_that_is_not_json_is_a_store_error(store: Store) -> None:
    session = await store.create_session("tl")
    with pytest.raises(StoreError):
        await ask(store, session.id, tool_input={"when": object()})
    assert await store.pending_approvals(session.id) == []


async def test_the_card_and_the_result_are_remembered(store: Store) -> None:
    session = await store.create_session("tl")
    approval = await ask(store, session.id)
    await store.set_approval_card(approval.id, "1763700001.000200")
    decided = await store.decide_approval(approval.id, "approved", "U1")
    assert decided is not None and decided.card_ts == "1763700001.000200"
    await store.record_approval_result(approval.id, "Created acme/widgets#43", False)
    loaded = await store.get_approval(approval.id)
    assert loaded is not None
    assert (loaded.result, loaded.result_is_error) == ("Created acme/widgets#43", False)
    assert (loaded.status, loaded.decided_by) == ("approved", "U1")
    await store.record_approval_result(approval.id, "GitHub answered 502", True)
    loaded = await store.get_approval(approval.id)
    assert loaded is not None
    assert (loaded.result, loaded.result_is_error) == ("GitHub answered 502", True)


# deciding -----------------------------------------------------------------------------------


async def test_the_first_decision_holds(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    approval = await ask(store, session.id)
    clock.advance(seconds=10)
    first = await store.decide_approval(approval.id, "declined", "U2")
    assert first is not None
    assert (first.status, first.decided_by, first.decided_at) == ("declined", "U2", clock.now())
    clock.advance(seconds=10)
    second = await store.decide_approval(approval.id, "approved", "U1")
    assert second == first
    assert await store.get_approval(approval.id) == first


async def test_only_approved_or_declined_are_decisions(store: Store) -> None:
    session = await store.create_session("tl")
    approval = await ask(store, session.id)
    for status in ("expired", "pending", "yes"):
        with pytest.raises(ValueError):
            await store.decide_approval(approval.id, status, "U1")  # type: ignore[arg-type]
    loaded = await store.get_approval(approval.id)
    assert loaded is not None and loaded.status == "pending"


async def test_exactly_one_of_many_concurrent_deciders_wins(store: Store) -> None:
    session = await store.create_session("tl")
    approval = await ask(store, session.id)
    tries: list[tuple[str, Any]] = [
        (f"U{n}", "approved" if n % 2 else "declined") for n in range(20)
    ]
    results = await asyncio.gather(
        *(store.decide_approval(approval.id, status, by) for by, status in tries)
    )
    assert all(r is not None for r in results)
    winners = [
        (by, status)
        for (by, status), r in zip(tries, results, strict=True)
        if r is not None and (r.decided_by, r.status) == (by, status)
    ]
    assert len(winners) == 1
    # every caller reads the same decision back: the winner's
    assert len({(r.status, r.decided_by) for r in results if r is not None}) == 1
    loaded = await store.get_approval(approval.id)
    assert loaded is not None and (loaded.decided_by, loaded.status) == winners[0]


# expiry -------------------------------------------------------------------------------------


async def test_at_its_expiry_an_approval_may_still_be_decided(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    approval = await ask(store, session.id)
    clock.advance(seconds=TTL)
    assert await store.pending_approvals(session.id) == [approval]
    decided = await store.decide_approval(approval.id, "approved", "U1")
    assert decided is not None and decided.status == "approved"


async def test_after_its_expiry_an_approval_expires_instead(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    approval = await ask(store, session.id)
    clock.advance(seconds=TTL + 1)
    # read as expired before anyone asks to decide it, and no longer pending
    seen = await store.get_approval(approval.id)
    assert seen is not None and seen.status == "expired"
    assert await store.pending_approvals(session.id) == []

    late = await store.decide_approval(approval.id, "approved", "U1")
    assert late is not None
    assert (late.status, late.decided_by, late.decided_at) == ("expired", None, None)
    assert await store.get_approval(approval.id) == late
    # expired for good: another click changes nothing
    again = await store.decide_approval(approval.id, "declined", "U2")
    assert again == late


async def test_concurrent_late_deciders_all_see_it_expired(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    approval = await ask(store, session.id, ttl=60)
    clock.advance(seconds=61)
    results = await asyncio.gather(
        *(store.decide_approval(approval.id, "approved", f"U{n}") for n in range(10))
    )
    assert {(r.status, r.decided_by) for r in results if r is not None} == {("expired", None)}
    assert all(r is not None for r in results)


async def test_a_decided_approval_does_not_read_as_expired_later(
    store: Store, clock: Clock
) -> None:
    session = await store.create_session("tl")
    approval = await ask(store, session.id)
    await store.decide_approval(approval.id, "approved", "U1")
    clock.advance(seconds=TTL * 2)
    loaded = await store.get_approval(approval.id)
    assert loaded is not None and (loaded.status, loaded.decided_by) == ("approved", "U1")


# pending approvals --------------------------------------------------------------------------


async def test_pending_approvals_are_the_sessions_waiting_ones_oldest_first(
    store: Store, clock: Clock
) -> None:
    session = await store.create_session("tl")
    other = await store.create_session("tl")
    first = await ask(store, session.id, turn_id="t1")
    clock.advance(seconds=1)
    decided = await ask(store, session.id, turn_id="t2")
    clock.advance(seconds=1)
    short = await ask(store, session.id, turn_id="t3", ttl=5)
    clock.advance(seconds=1)
    last = await ask(store, session.id, turn_id="t4")
    await ask(store, other.id, turn_id="t5")
    await store.decide_approval(decided.id, "declined", "U1")
    assert [a.id for a in await store.pending_approvals(session.id)] == [
        first.id,
        short.id,
        last.id,
    ]
    clock.advance(seconds=10)  # ``short`` is past its expiry now
    assert [a.id for a in await store.pending_approvals(session.id)] == [first.id, last.id]
    assert await store.pending_approvals("no-such-session") == []


# deletion -----------------------------------------------------------------------------------


async def test_approvals_go_with_a_deleted_session(store: Store) -> None:
    session = await store.create_session("tl")
    keeper = await store.create_session("tl")
    gone = [await ask(store, session.id) for _ in range(3)]
    kept = await ask(store, keeper.id)
    assert await store.delete_session(session.id)
    for approval in gone:
        assert await store.get_approval(approval.id) is None
    assert await store.pending_approvals(session.id) == []
    assert await store.get_approval(kept.id) == kept


async def test_prune_deletes_the_approvals_of_sessions_it_deletes(
    store: Store, clock: Clock
) -> None:
    session = await store.create_session("tl")
    approval = await ask(store, session.id, ttl=30 * 86400)  # still pending then
    await store.end_session(session.id, "reset", cause="test")
    clock.advance(days=15)
    result = await store.prune(retention_days=14)
    assert result.sessions_deleted == 1
    assert await store.get_approval(approval.id) is None


async def test_prune_deletes_approvals_decided_or_expired_before_the_retention(
    store: Store, clock: Clock
) -> None:
    session = await store.create_session("tl")
    old_decided = await ask(store, session.id, ttl=30 * 86400)
    await store.decide_approval(old_decided.id, "approved", "U1")
    old_unanswered = await ask(store, session.id)
    old_expired = await ask(store, session.id)
    clock.advance(seconds=TTL + 1)
    await store.decide_approval(old_expired.id, "approved", "U1")  # too late: expired
    long_pending = await ask(store, session.id, ttl=20 * 86400)
    clock.advance(days=15)
    recent_decided = await ask(store, session.id)
    await store.decide_approval(recent_decided.id, "declined", "U2")
    recent_pending = await ask(store, session.id)

    result = await store.prune(retention_days=14, batch=1)
    assert result.approvals_deleted == 3
    for approval in (old_decided, old_unanswered, old_expired):
        assert await store.get_approval(approval.id) is None
    for approval in (long_pending, recent_decided, recent_pending):
        assert await store.get_approval(approval.id) is not None
    assert (await store.prune(retention_days=14)).approvals_deleted == 0
