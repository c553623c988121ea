"""The store contract for votes on answers, on every store (memory, SQLite, PostgreSQL): one
vote per person per answer, a changed vote, a thumbs-down's reason, the session found from the
turn, listing with filters, and a turn's votes."""

from __future__ import annotations

import asyncio

import pytest

from app.core import Usage
from app.store.base import Store, TurnRecord, VoteFilter
from app.store.types import MAX_REASON_CHARS
from tests.conftest import Clock

ANSWER = {"channel": "C1", "message_ts": "1763700000.000200"}


async def turn_of(store: Store, clock: Clock, turn_id: str = "t-1") -> str:
    session = await store.create_session("tl")
    now = clock.now()
    await store.record_turn(TurnRecord(turn_id, session.id, "ok", "m", Usage(), now, now))
    return session.id


async def test_a_vote_is_kept_with_its_turn_and_session(store: Store, clock: Clock) -> None:
    session_id = await turn_of(store, clock)
    vote = await store.record_vote(**ANSWER, user_id="U1", vote="up", turn_id="t-1")
    assert (vote.vote, vote.user_id, vote.turn_id, vote.session_id) == (
        "up",
        "U1",
        "t-1",
        session_id,
    )
    assert vote.reason is None
    assert vote.created_at == vote.updated_at == clock.now()
    assert await store.votes_for_turns(["t-1"]) == [vote]


async def test_a_second_click_changes_the_vote_and_another_person_votes_apart(
    store: Store, clock: Clock
) -> None:
    await turn_of(store, clock)
    first = await store.record_vote(**ANSWER, user_id="U1", vote="up", turn_id="t-1")
    clock.advance(minutes=1)
    changed = await store.record_vote(**ANSWER, user_id="U1", vote="down", turn_id="t-1")
    await store.record_vote(**ANSWER, user_id="U2", vote="up", turn_id="t-1")
    assert changed.vote == "down"
    assert changed.created_at == first.created_at
    assert changed.updated_at == clock.now()
    votes = await store.votes_for_turns(["t-1"])
    assert sorted((v.user_id, v.vote) for v in votes) == [("U1", "down"), ("U2", "up")]


async def test_a_reason_goes_with_a_thumbs_down_only(store: Store, clock: Clock) -> None:
    await turn_of(store, clock)
    await store.record_vote(**ANSWER, user_id="U1", vote="up", turn_id="t-1")
    assert await store.record_reason(**ANSWER, user_id="U1", reason="why") is None
    assert await store.record_reason(**ANSWER, user_id="U9", reason="who?") is None
    await store.record_vote(**ANSWER, user_id="U1", vote="down", turn_id="t-1")
    kept = await store.record_reason(**ANSWER, user_id="U1", reason="  wrong repo \n")
    assert kept is not None and kept.reason == "wrong repo"
    again = await store.record_vote(**ANSWER, user_id="U1", vote="down", turn_id="t-1")
    assert again.reason == "wrong repo"  # clicking thumbs-down again keeps it
    up = await store.record_vote(**ANSWER, user_id="U1", vote="up", turn_id="t-1")
    assert up.reason is None  # a thumbs-up has no reason
    await store.record_vote(**ANSWER, user_id="U1", vote="down", turn_id="t-1")
    long = await store.record_reason(**ANSWER, user_id="U1", reason="x" * 5000)
    assert long is not None and long.reason == "x" * MAX_REASON_CHARS
    blank = await store.record_reason(**ANSWER, user_id="U1", reason="   ")
    assert blank is not None and blank.reason is None


async def test_a_vote_on_an_unknown_turn_has_no_session(store: Store) -> None:
    vote = await store.record_vote(**ANSWER, user_id="U1", vote="down", turn_id="t-unknown")
    assert vote.session_id is None
    bare = await store.record_vote(
        channel="D1", message_ts="1.2", user_id="U1", vote="up", turn_id=None
    )
    assert (bare.turn_id, bare.session_id) == (None, None)


async def test_an_unknown_vote_value_is_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.record_vote(**ANSWER, user_id="U1", vote="meh", turn_id=None)  # type: ignore[arg-type]


async def test_votes_are_listed_newest_first_and_filtered(store: Store, clock: Clock) -> None:
    start = clock.now()
    await store.record_vote(channel="C1", message_ts="1.1", user_id="U1", vote="up", turn_id=None)
    clock.advance(days=1)
    await store.record_vote(channel="C2", message_ts="2.1", user_id="U1", vote="down", turn_id=None)
    clock.advance(minutes=1)
    await store.record_vote(channel="C1", message_ts="1.2", user_id="U2", vote="down", turn_id=None)
    everything = await store.list_votes(VoteFilter())
    assert [(v.channel, v.message_ts) for v in everything] == [
        ("C1", "1.2"),
        ("C2", "2.1"),
        ("C1", "1.1"),
    ]
    first_day = await store.list_votes(VoteFilter(since=start, until=start.replace(hour=23)))
    assert [v.message_ts for v in first_day] == ["1.1"]
    assert [v.message_ts for v in await store.list_votes(VoteFilter(channel="C1"))] == [
        "1.2",
        "1.1",
    ]
    assert [v.message_ts for v in await store.list_votes(VoteFilter(vote="down"))] == ["1.2", "2.1"]
    assert len(await store.list_votes(VoteFilter(limit=1))) == 1


async def test_votes_of_turns_and_none_for_no_turns(store: Store, clock: Clock) -> None:
    await turn_of(store, clock, "t-a")
    await store.record_vote(channel="C1", message_ts="1.1", user_id="U1", vote="up", turn_id="t-a")
    await store.record_vote(channel="C1", message_ts="1.2", user_id="U1", vote="up", turn_id="t-b")
    assert [v.message_ts for v in await store.votes_for_turns(["t-a"])] == ["1.1"]
    assert await store.votes_for_turns([]) == []


async def test_concurrent_clicks_leave_one_vote(store: Store) -> None:
    votes = ("up", "down") * 4
    await asyncio.gather(
        *(
            store.record_vote(**ANSWER, user_id="U1", vote=v, turn_id=None)  # type: ignore[arg-type]
            for v in votes
        )
    )
    [kept] = await store.list_votes(VoteFilter())
    assert kept.vote in ("up", "down")


async def test_a_voter_is_forgotten_with_every_reason(store: Store) -> None:
    await store.record_vote(**ANSWER, user_id="U1", vote="down", turn_id=None)
    await store.record_reason(**ANSWER, user_id="U1", reason="private words")
    await store.record_vote(channel="C2", message_ts="2.1", user_id="U1", vote="up", turn_id=None)
    await store.record_vote(**ANSWER, user_id="U2", vote="up", turn_id=None)
    assert await store.forget_voter("U1") == 2
    assert [v.user_id for v in await store.list_votes(VoteFilter())] == ["U2"]
    assert await store.forget_voter("U1") == 0


async def test_votes_go_with_their_session(store: Store, clock: Clock) -> None:
    doomed = await turn_of(store, clock, "t-gone")
    await turn_of(store, clock, "t-kept")
    await store.record_vote(**ANSWER, user_id="U1", vote="down", turn_id="t-gone")
    await store.record_vote(
        channel="C1", message_ts="3.1", user_id="U1", vote="up", turn_id="t-kept"
    )
    assert await store.delete_session(doomed)
    assert [v.turn_id for v in await store.list_votes(VoteFilter())] == ["t-kept"]


async def test_vote_totals_count_the_votes_stored_now(store: Store) -> None:
    assert await store.vote_totals() == {"up": 0, "down": 0}
    await store.record_vote(**ANSWER, user_id="U1", vote="up", turn_id=None)
    await store.record_vote(**ANSWER, user_id="U1", vote="down", turn_id=None)  # changed
    await store.record_vote(**ANSWER, user_id="U2", vote="down", turn_id=None)
    await store.record_vote(channel="C2", message_ts="2.1", user_id="U1", vote="up", turn_id=None)
    assert await store.vote_totals() == {"up": 1, "down": 2}
    await store.forget_voter("U2")
    assert await store.vote_totals() == {"up": 1, "down": 1}
