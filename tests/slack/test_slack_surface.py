"""What people see in Slack: status, streaming, fallbacks, long answers, reset, bad input."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
from pathlib import Path

from app.slack.retry import retry_after_seconds
from tests.fakes.anthropic import FakeAnthropic, Reply
from tests.fakes.slack import FakeSlack
from tests.harness import Running, dm, event_body, mention, new_ts, replies, said, sign


async def test_status_and_stream_show_progress_within_four_calls_for_a_short_reply(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = new_ts()
    await bot.send_event(mention("hi", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    assert slack.statuses("C1", root)[0] == "is thinking…"
    # conversations.info: the harness's events do not say whether the channel is shared with
    # another organisation (Slack's do, ``is_ext_shared_channel``), so the surface asks once.
    per_reply = [
        c.method for c in slack.calls if c.method not in ("auth.test", "conversations.info")
    ]
    assert per_reply[:1] == ["users.info"]
    assert len(per_reply) <= 4, per_reply
    assert "chat.startStream" in per_reply and "chat.stopStream" in per_reply
    # the feedback buttons ride on the call that finishes the answer, not on a call of their own
    [stop] = slack.calls_to("chat.stopStream")
    assert [b["type"] for b in stop.params["blocks"]] == ["context_actions"]


async def test_streaming_refused_falls_back_to_post_and_update(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    slack.refuse_streaming = True
    claude.script(Reply(text="Line one.\nLine two.\nLine three."))
    root = new_ts()
    await bot.send_event(mention("hi", ts=root))
    await slack.wait_for(
        lambda s: replies(s, "C1", root) and "Line three." in replies(s, "C1", root)[-1]
    )
    [answer] = replies(slack, "C1", root)
    assert answer.strip() == "Line one.\nLine two.\nLine three."
    posted = slack.calls_to("chat.postMessage")[0].params
    assert posted["blocks"][0]["type"] == "markdown"  # rendered as Markdown


async def test_a_long_answer_is_split_at_paragraphs_and_nothing_is_lost(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    paragraphs = [f"Paragraph {i}: " + ("word " * 300).strip() + "." for i in range(40)]
    text = "\n\n".join(paragraphs)
    claude.script(Reply(text=text))
    root = new_ts()
    await bot.send_event(mention("write a lot", ts=root))
    await slack.wait_for(
        lambda s: (
            (r := [m for m in s.messages("C1", root) if m.ts != root])
            and all(m.stopped for m in r)
            and "Paragraph 39" in r[-1].text
        ),
        timeout=15,
    )
    parts = replies(slack, "C1", root)
    assert len(parts) >= 3
    assert all(len(p) <= 12_000 for p in parts)
    for part in parts:  # every message starts and ends on a paragraph boundary
        assert part.strip().startswith("Paragraph ") and part.strip().endswith(".")
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())


async def test_slack_rate_limits_are_retried_after_retry_after(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    slack.refuse_streaming = True
    slack.fail("chat.postMessage", status=429, retry_after=2, times=1)
    root = new_ts()
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await bot.send_event(mention("hello", ts=root))
    await slack.wait_for(lambda s: replies(s, "C1", root) == [said("hello")], timeout=10)
    statuses = [c.status for c in slack.calls_to("chat.postMessage")]
    assert statuses[0] == 429 and statuses[-1] == 200
    # the whole Retry-After was honoured (a lower bound, not a speed figure)
    assert loop.time() - sent >= 2.0


def test_retry_after_is_read_whole() -> None:
    assert retry_after_seconds("30") == 30.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds(None) == 1.0
    assert retry_after_seconds("soon") == 1.0
    assert retry_after_seconds("-4") == 0.0


async def test_reset_in_a_thread_confirms_and_the_next_message_starts_fresh(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = new_ts()
    await bot.send_event(mention("remember teal", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    old = await bot.store.resolve(f"threadline:slack:C1::{root}")
    await bot.send_event(mention("reset", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    assert "forgotten" in replies(slack, "C1", root)[1]
    assert len(claude.requests) == 1  # reset is not a model call
    await bot.send_event(mention("what colour?", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 3)
    assert len(claude.requests[-1]["messages"]) == 1
    new = await bot.store.resolve(f"threadline:slack:C1::{root}")
    assert old is not None and new is not None and new.id != old.id
    assert "reset" in [e.kind for e in await bot.store.events_for(old.id)]


async def test_slash_reset_in_a_dm_by_link_and_alone_in_a_channel(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    await bot.send_event(dm("remember teal"))
    await slack.wait_for(lambda s: any(m.text == said("remember teal") for m in s.messages("D1")))
    status, body = await bot.slash("/reset", channel_id="D1", channel_name="directmessage")
    assert status == 200 and "forgotten" in body
    assert await bot.store.resolve("threadline:slack:D1::main") is None

    root = "1763700000.000100"
    await bot.send_event(mention("thread memory", ts=root, channel="C7"))
    await slack.wait_for(lambda s: len(replies(s, "C7", root)) == 1)
    link = "<https://acme.slack.com/archives/C7/p1763700000000100>"
    status, body = await bot.slash("/reset", link)  # from another channel: refused
    assert status == 200 and "<#C7>" in body
    assert await bot.store.resolve(f"threadline:slack:C7::{root}") is not None
    status, body = await bot.slash("/reset", link, channel_id="C7")
    assert status == 200 and "forgotten" in body
    assert await bot.store.resolve(f"threadline:slack:C7::{root}") is None

    status, body = await bot.slash("/reset")
    # a plain-text answer to a slash command is shown only to the person who typed it
    assert status == 200
    assert "link to the thread" in body and "in_channel" not in body


async def test_links_command_lists_nothing_for_a_plain_thread(
    bot: Running, slack: FakeSlack
) -> None:
    root = new_ts()
    await bot.send_event(mention("hello", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    await bot.send_event(mention("links", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    assert "No Jira tickets or GitHub issues" in replies(slack, "C1", root)[1]


async def test_forged_and_stale_signatures_are_refused_and_nothing_is_stored(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    body = json.dumps(event_body(mention("forged"))).encode()
    forged = {"Content-Type": "application/json", **sign(body, secret="wrong")}
    stale = {"Content-Type": "application/json", **sign(body, timestamp=int(time.time()) - 600)}
    unsigned = {"Content-Type": "application/json"}
    for headers in (forged, stale, unsigned):
        response = await bot.post_raw("/slack/events", body, headers)
        assert response.status == 401
    assert (await bot.store.stats()).pending_deliveries == 0
    assert claude.requests == []
    assert [c.method for c in slack.calls if c.method != "auth.test"] == []


async def test_malformed_and_oversized_bodies_get_4xx_and_the_bot_keeps_serving(
    bot: Running, slack: FakeSlack
) -> None:
    for raw in (b"{not json", b"[1, 2, 3]", b"\xff\xfe\x00"):
        response = await bot.post_raw(
            "/slack/events", raw, {"Content-Type": "application/json", **sign(raw)}
        )
        assert 400 <= response.status < 500, raw
    huge = b'{"type": "event_callback", "pad": "' + b"x" * 2_000_000 + b'"}'
    headers = {"Content-Type": "application/json", **sign(huge)}
    # streamed from a file-like object: aiohttp warns (ResourceWarning) about large raw bytes
    async with bot.http.post(
        bot.url + "/slack/events", data=io.BytesIO(huge), headers=headers
    ) as response:
        assert response.status == 413
    root = new_ts()
    await bot.send_event(mention("still there?", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)


async def test_url_verification_and_health(bot: Running) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc", "token": "x"}).encode()
    headers = {"Content-Type": "application/json", **sign(body)}
    async with bot.http.post(bot.url + "/slack/events", data=body, headers=headers) as response:
        assert response.status == 200
        answer = await response.text()
    # Bolt answers Slack's url_verification by echoing the challenge back
    assert json.loads(answer) == {"challenge": "abc"}
    status, text = await bot.get("/healthz")
    assert status == 200 and json.loads(text)["status"] == "ok"


async def test_a_locked_database_refuses_the_delivery_so_slack_retries(
    bot: Running, slack: FakeSlack, env: dict[str, str]
) -> None:
    path = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    # Another process holding the write lock, as a stuck migration or backup would.
    blocker = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    await asyncio.to_thread(blocker.execute, "BEGIN EXCLUSIVE")
    try:
        event = mention("while locked", ts=new_ts())
        assert await bot.send_event(event, event_id="EvLOCK") == 503
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    # Slack's retry of the same event is then recorded and answered once
    assert await bot.send_event(event, event_id="EvLOCK") == 200
    await slack.wait_for(lambda s: len(replies(s, "C1", event["ts"])) == 1)
