"""Bounded input at the Slack edge, through the real app: long messages are cut before they
are queued, and a conversation with too many deliveries waiting takes no more (acknowledged,
counted, and the thread told to slow down at most once a minute)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from app.core import Inbound
from app.core.bounds import cut_message
from app.errors import StoreError
from app.http.bolt import BacklogNotes
from app.store import MemoryStore
from tests.conftest import Clock
from tests.fakes.anthropic import FakeAnthropic, Hang
from tests.fakes.slack import FakeSlack
from tests.harness import Running, dm, inbox_drained, mention, new_ts, run_app
from tests.slack.test_access import inbox, refused

KEY = "threadline:slack:C1::{}"


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 9, 59, 30, tzinfo=UTC))


@pytest.fixture
async def small(env: dict[str, str], clock: Clock) -> AsyncIterator[Running]:
    """The app with room for two deliveries a conversation and 1,000 characters a message;
    a hanging turn is cut off at once when the test ends."""
    env.update({"MAX_PENDING_PER_CONVERSATION": "2", "MAX_MESSAGE_CHARS": "1000"})
    async with run_app(env, clock=clock.now, shutdown_grace=0.2) as running:
        yield running


def notes(slack: FakeSlack, root: str) -> list[str]:
    return [m.text for m in slack.messages("C1", root) if "skipped" in m.text]


async def test_a_busy_conversation_takes_no_more_messages_until_it_catches_up(
    small: Running, slack: FakeSlack, claude: FakeAnthropic, env: dict[str, str], clock: Clock
) -> None:
    claude.script(Hang(60))  # the first turn waits for the model until the test ends
    root = new_ts()
    assert await small.send_event(mention("one", ts=root)) == 200
    await claude.wait_for_requests(1)
    assert await small.send_event(mention("two", thread_ts=root)) == 200  # waits its turn

    three = mention("three", thread_ts=root)
    twin = {**three, "type": "message", "channel_type": "channel"}  # Slack sends both
    assert await small.send_event(three) == 200
    assert await small.send_event(twin) == 200
    await slack.wait_for(lambda s: notes(s, root))
    [note] = notes(slack, root)
    assert note == (
        "I have 2 messages waiting in this conversation already, so I skipped this one. "
        "Please wait for my answers, then send it again."
    )
    [posted] = [c for c in slack.calls_to("chat.postMessage") if "skipped" in str(c.params)]
    assert (
        posted.params["unfurl_links"] in (False, "false", "0")
        and posted.params["thread_ts"] == root
    )
    assert await refused(small, "conversation_backlog") == 1  # once for the pair

    clock.advance(minutes=1)  # the next minute: one more note
    assert await small.send_event(mention("four", thread_ts=root)) == 200
    await slack.wait_for(lambda s: len(notes(s, root)) == 2)
    assert await refused(small, "conversation_backlog") == 2

    # Only what was taken is in the inbox; another conversation is not held up.
    other = new_ts()
    assert await small.send_event(mention("elsewhere", ts=other)) == 200
    assert sorted(inbox(env)) == sorted(f"slack:C1:{ts}" for ts in (root, two_ts(env), other))
    assert await small.store.pending_count(KEY.format(root)) == 2
    assert len(claude.requests) <= 2  # "one" and perhaps "elsewhere": never "three"


def two_ts(env: dict[str, str]) -> str:
    """The ts of the "two" message, read back from the inbox."""
    [ts] = [p["ts"] for p in inbox(env).values() if p["text"] == "two"]
    return str(ts)


async def test_a_long_message_is_cut_before_it_is_queued(
    small: Running, claude: FakeAnthropic, env: dict[str, str]
) -> None:
    text = "\n".join(f"line {n}: " + " ".join(["word"] * 20) for n in range(100))
    ts = new_ts()
    assert await small.send_event(dm(text, ts=ts)) == 200
    await inbox_drained(small.store)
    recorded = Inbound.from_payload(inbox(env)[f"slack:D1:{ts}"])
    assert (recorded.text, recorded.cut_from) == (cut_message(text, 1000)[0], len(text))
    assert text.startswith(recorded.text) and 500 <= len(recorded.text) <= 1000
    assert recorded.text.endswith("word")  # a whole line
    sent = claude.newest_user_text(0)
    assert recorded.text in sent and "line 99" not in sent


# -- the notes themselves ----------------------------------------------------------------------


class SteppedClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 59, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_one_note_per_conversation_per_minute(slack: FakeSlack) -> None:
    clock = SteppedClock()
    backlog = BacklogNotes(
        AsyncWebClient(token="xoxb-test", base_url=slack.url), MemoryStore(), clock
    )
    backlog.send("k1", "C1", "1.0", "<!channel> slow down")
    backlog.send("k1", "C1", "1.0", "slow down again")
    backlog.send("k2", "D1", None, "slow down in the DM")
    await backlog.idle()
    assert [m.text for m in slack.messages("C1", "1.0") if m.ts != "1.0"] == [
        "@\u2060channel slow down"  # cleaned like everything posted
    ]
    assert [m.text for m in slack.messages("D1")] == ["slow down in the DM"]

    clock.now += timedelta(seconds=30)  # 10:00:00, the next minute
    backlog.send("k1", "C1", "1.0", "slow down again")
    await backlog.idle()
    assert len([m for m in slack.messages("C1", "1.0") if m.ts != "1.0"]) == 2


class BrokenStore(MemoryStore):
    async def remember_once(self, ref: str) -> bool:
        raise StoreError("database unavailable")


async def test_a_note_that_cannot_be_claimed_or_posted_is_dropped_quietly(
    slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=slack.url)
    broken = BacklogNotes(client, BrokenStore(), SteppedClock())
    broken.send("k1", "C1", "1.0", "slow down")
    await broken.idle()  # did not raise
    assert slack.calls_to("chat.postMessage") == []  # no claim, no note

    slack.fail("chat.postMessage", status=200, error="channel_not_found")
    backlog = BacklogNotes(client, MemoryStore(), SteppedClock())
    backlog.send("k1", "C404", "1.0", "slow down")
    await backlog.idle()  # did not raise
    assert [c.error for c in slack.calls_to("chat.postMessage")] == ["channel_not_found"]
    assert [r.getMessage() for r in caplog.records if "backlog note" in r.getMessage()] == [
        "backlog note in k1 not posted",
        "backlog note in k1 not posted: Slack channel_not_found",
    ]
