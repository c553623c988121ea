"""The note a refused person gets: once an hour each, posted later, never raising."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from slack_sdk.web.async_client import AsyncWebClient

from app.errors import StoreError
from app.slack.refusals import RefusalNotes, note_ref
from app.store import MemoryStore
from tests.fakes.slack import FakeSlack


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 59, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_the_claim_is_per_person_and_utc_hour() -> None:
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert note_ref("U1", at) == "slack:refusal:U1:2026030109"
    assert note_ref("U1", at.astimezone(timezone(timedelta(hours=5)))) == note_ref("U1", at)
    assert note_ref("U2", at) != note_ref("U1", at)


async def test_one_note_per_person_per_hour(slack: FakeSlack) -> None:
    clock = Clock()
    notes = RefusalNotes(
        AsyncWebClient(token="xoxb-test", base_url=slack.url), MemoryStore(), clock
    )
    notes.send(user="U1", channel="C1", thread_ts=None, note="<!here> not here")
    notes.send(user="U1", channel="C2", thread_ts="1.0", note="not there either")
    notes.send(user="U2", channel="C1", thread_ts=None, note="nor for you")
    await notes.idle()
    [first] = slack.ephemerals(user="U1")
    assert (first.channel, first.thread_ts) == ("C1", None)
    assert first.text == "@\u2060here not here"  # cleaned like everything posted
    assert len(slack.ephemerals(user="U2")) == 1

    clock.now += timedelta(minutes=2)  # the next hour
    notes.send(user="U1", channel="C2", thread_ts="1.0", note="still not there")
    await notes.idle()
    assert [m.text for m in slack.ephemerals(user="U1")] == [
        "@\u2060here not here",
        "still not there",
    ]
    assert slack.ephemerals(user="U1")[1].thread_ts == "1.0"


class BrokenStore:
    async def remember_once(self, ref: str) -> bool:
        raise StoreError("database unavailable")


async def test_failures_are_logged_and_swallowed(slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=slack.url)
    broken = RefusalNotes(client, BrokenStore(), Clock())
    broken.send(user="U1", channel="C1", thread_ts=None, note="not here")
    await broken.idle()
    assert slack.calls_to("chat.postEphemeral") == []  # no claim, no note

    slack.fail("chat.postEphemeral", status=200, error="channel_not_found")
    notes = RefusalNotes(client, MemoryStore(), Clock())
    notes.send(user="U1", channel="C404", thread_ts=None, note="not here")
    await notes.idle()  # did not raise
    assert [c.error for c in slack.calls_to("chat.postEphemeral")] == ["channel_not_found"]
