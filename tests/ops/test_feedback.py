"""``python -m app feedback`` and the votes in ``sessions show``, through ``app.cli.main``
against a real store (SQLite and PostgreSQL) seeded with the ``seeded`` fixture's sessions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.ops.conftest import Cli, Seeded


async def vote(seeded: Seeded, ts: str, user: str, value: str, turn: str | None, **kw: str) -> None:
    await seeded.store.record_vote(
        channel=kw.get("channel", "C1"),
        message_ts=ts,
        user_id=user,
        vote=value,
        turn_id=turn,  # type: ignore[arg-type]
    )


async def test_votes_are_listed_newest_first_and_filtered(seeded: Seeded, cli: Cli) -> None:
    first, second = seeded.turn_ids[0], seeded.turn_ids[1]
    seeded.clock.advance(days=-1)
    await vote(seeded, "1.1", "U1", "up", first)
    seeded.clock.advance(days=1)
    await vote(seeded, "1.2", "U2", "down", second)
    await seeded.store.record_reason(
        channel="C1", message_ts="1.2", user_id="U2", reason="wrong\x1b[31m repo"
    )
    await vote(seeded, "9.1", "U3", "down", None, channel="D7")

    everything = await cli("feedback")
    assert everything.code == 0, everything.err
    assert everything.lines[0] == "3 vote(s): 1 up, 2 down."
    assert "wrong\\x1b[31m repo" in everything.out  # a reason cannot recolour the terminal

    downs = await cli("feedback", "--vote", "down", "--channel", "C1", "--json")
    doc = json.loads(downs.out)
    assert (doc["up"], doc["down"]) == (0, 1)
    [only] = doc["votes"]
    assert (only["user_id"], only["turn_id"], only["reason"]) == (
        "U2",
        second,
        "wrong\x1b[31m repo",
    )

    yesterday = (seeded.clock.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    day = json.loads((await cli("feedback", "--day", yesterday, "--json")).out)
    assert [v["message_ts"] for v in day["votes"]] == ["1.1"]
    assert (await cli("feedback", "--channel", "C404")).lines == ["No votes match."]


async def test_bad_filters_are_refused_with_a_usage_error(seeded: Seeded, cli: Cli) -> None:
    for argv in (("--day", "yesterday"), ("--vote", "sideways"), ("--limit", "0")):
        with pytest.raises(SystemExit) as exit_:
            await cli("feedback", *argv)
        assert exit_.value.code == 2, argv


async def test_sessions_show_lists_the_votes_on_their_turns(seeded: Seeded, cli: Cli) -> None:
    turn = seeded.turn_ids[0]
    await vote(seeded, "1.1", "U1", "down", turn)
    await seeded.store.record_reason(channel="C1", message_ts="1.1", user_id="U1", reason="vague")
    await vote(seeded, "1.1", "U2", "up", turn)

    text = await cli("sessions", "show", seeded.thread)
    assert text.code == 0, text.err
    votes = text.out.split("\nVotes\n", 1)[1]
    assert turn in votes and "vague" in votes and "U2" in votes

    doc = json.loads((await cli("sessions", "show", seeded.thread, "--json")).out)
    by_turn = {t["turn_id"]: t["votes"] for t in doc["turns"]}
    assert sorted((v["user_id"], v["vote"], v["reason"]) for v in by_turn[turn]) == [
        ("U1", "down", "vague"),
        ("U2", "up", None),
    ]
    assert all(votes == [] for t, votes in by_turn.items() if t != turn)


async def test_erasing_a_slack_user_deletes_their_votes_and_reasons(
    seeded: Seeded, cli: Cli
) -> None:
    await vote(seeded, "1.1", "U1", "down", seeded.turn_ids[0])
    await seeded.store.record_reason(channel="C1", message_ts="1.1", user_id="U1", reason="mine")
    await vote(seeded, "1.1", "U2", "up", seeded.turn_ids[0])
    result = await cli("erase", "--slack-user", "U1")
    assert result.code == 0, result.err
    assert ["votes", "1"] in [line.split()[:2] for line in result.lines]
    doc = json.loads((await cli("feedback", "--json")).out)
    assert [v["user_id"] for v in doc["votes"]] == ["U2"]
