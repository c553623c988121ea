"""Pure Slack shaping: splitting, mentions, event parsing, reset planning."""

from __future__ import annotations

import pytest

from app.slack.events import BotIdentity, command_of, delivery_id, inbound_from_event, plan_reset
from app.slack.format import split_text, strip_mentions
from tests.harness import dm, event_body, mention

BOT = BotIdentity("UBOT", "BBOT", "T1")


@pytest.mark.parametrize("limit", [20, 57, 200])
def test_split_text_keeps_every_word_and_respects_the_limit(limit: int) -> None:
    text = "\n\n".join(
        f"Para {i} " + " ".join(f"w{i}_{j}" for j in range(i * 3)) for i in range(12)
    )
    parts = split_text(text, limit)
    assert all(len(p) <= limit for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())


def test_split_text_prefers_paragraphs_then_lines_then_spaces() -> None:
    assert split_text("aaa bbb\n\nccc ddd", 10) == ["aaa bbb", "ccc ddd"]
    assert split_text("aaa bbb\nccc ddd", 10) == ["aaa bbb", "ccc ddd"]
    assert split_text("aaa bbb ccc", 8) == ["aaa bbb", "ccc"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]  # one giant word
    assert split_text("short", 10) == ["short"]
    assert split_text("", 10) == []


def test_strip_mentions_removes_only_the_bot() -> None:
    assert strip_mentions("<@UBOT> ask <@U2> about it", "UBOT") == "ask <@U2> about it"
    assert strip_mentions("<@UBOT|threadline> hi", "UBOT") == "hi"


def test_top_level_mention_keys_on_its_own_ts_and_threads_on_the_thread() -> None:
    top = inbound_from_event(event_body(mention("hi", ts="1.1")), agent="tl", bot=BOT)
    assert top is not None and top.key == "tl:slack:C1::1.1" and top.thread_ts == "1.1"
    reply = inbound_from_event(
        event_body(mention("hi", ts="2.2", thread_ts="1.1")), agent="tl", bot=BOT
    )
    assert reply is not None and reply.key == "tl:slack:C1::1.1"
    assert delivery_id(reply) == "slack:C1:2.2"


def test_dm_keys_top_level_as_main_and_threads_by_thread() -> None:
    top = inbound_from_event(event_body(dm("hi", ts="5.5")), agent="tl", bot=BOT)
    assert top is not None and top.key == "tl:slack:D1::main" and top.thread_ts is None
    threaded = inbound_from_event(
        event_body(dm("hi", ts="6.6", thread_ts="5.5")), agent="tl", bot=BOT
    )
    assert threaded is not None and threaded.key == "tl:slack:D1::5.5"
    assert threaded.thread_ts == "5.5"


@pytest.mark.parametrize(
    "body",
    [
        {"type": "event_callback"},
        {"type": "event_callback", "event": "nope"},
        {"type": "event_callback", "event": {"type": "reaction_added"}},
        {"type": "event_callback", "event": {"type": "message", "text": "no user"}},
        event_body(dm("x", bot_id="B9")),
        event_body(dm("x", user="UBOT")),
        event_body(dm("x", subtype="message_changed")),
        event_body({"type": "message", "channel": "C1", "user": "U1", "ts": "1.0", "text": "hi"}),
        {"type": "url_verification", "challenge": "c"},
    ],
)
def test_events_not_for_us_are_ignored(body: dict[str, object]) -> None:
    assert inbound_from_event(body, agent="tl", bot=BOT) is None


def test_commands() -> None:
    assert command_of(" Reset ") == "reset"
    assert command_of("links") == "links"
    assert command_of("please reset the server") is None


def test_plan_reset() -> None:
    dm_plan = plan_reset({"channel_id": "D9", "text": ""}, agent="tl")
    assert dm_plan.key == "tl:slack:D9::main"
    link = "https://acme.slack.com/archives/C7/p1763700000000100"
    assert plan_reset({"channel_id": "C7", "text": f"<{link}>"}, agent="tl").key == (
        "tl:slack:C7::1763700000.000100"
    )
    reply_link = f"{link}?thread_ts=1763600000.000200&cid=C7"
    assert plan_reset({"channel_id": "C7", "text": reply_link}, agent="tl").key == (
        "tl:slack:C7::1763600000.000200"
    )
    elsewhere = plan_reset({"channel_id": "C1", "text": link}, agent="tl")
    assert elsewhere.key is None and elsewhere.refusal and "<#C7>" in elsewhere.refusal
    assert plan_reset({"channel_id": "C1", "text": ""}, agent="tl").key is None
