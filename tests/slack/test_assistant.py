"""Assistant threads through the running app: suggested prompts when someone opens the bot
(a new assistant thread, the DM's messages tab), and the thread's title after its first
answer; the pure readers on payloads shaped like Slack's."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from app.slack.assistant import AssistantThreads, Opened, opened, prompt_list, thread_title
from app.store import MemoryStore
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import Running, dm, event_body, eventually, inbox_drained, run_app

DEFAULTS = ["Summarise this thread", "File a GitHub issue for this", "What did we decide?"]
MANIFEST = json.loads((Path(__file__).resolve().parents[2] / "manifest.json").read_text())


def thread_started(user: str = "U1", channel: str = "D1", thread_ts: str = "1763800000.000100"):  # type: ignore[no-untyped-def]
    """``assistant_thread_started`` as Slack sends it (the event of the corpus sample)."""
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": user,
            "context": {"channel_id": "C9", "team_id": "T1", "enterprise_id": None},
            "channel_id": channel,
            "thread_ts": thread_ts,
        },
        "event_ts": "1763800000.000200",
    }


def messages_tab(user: str = "U1", channel: str = "D1", tab: str = "messages") -> dict[str, Any]:
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": tab,
        "event_ts": "1763800000.000300",
    }


def offered(slack: FakeSlack, channel: str, thread_ts: str | None) -> list[str]:
    return [p["message"] for p in slack.suggested_prompts.get((channel, thread_ts), [])]


async def test_a_new_assistant_thread_is_offered_the_default_prompts(
    bot: Running, slack: FakeSlack
) -> None:
    assert await bot.send_event(thread_started()) == 200
    await eventually(lambda: offered(slack, "D1", "1763800000.000100"), what="prompts")
    assert offered(slack, "D1", "1763800000.000100") == DEFAULTS
    [call] = slack.calls_to("assistant.threads.setSuggestedPrompts")
    assert all(p["title"] == p["message"] for p in call.params["prompts"])


async def test_the_messages_tab_gets_the_configured_prompts_at_most_once_a_minute(
    env: dict[str, str], slack: FakeSlack, claude: FakeAnthropic
) -> None:
    async with run_app({**env, "SUGGESTED_PROMPTS": "What's new?|Plan my day"}) as bot:
        assert await bot.send_event(messages_tab()) == 200
        await eventually(lambda: offered(slack, "D1", None), what="prompts")
        assert offered(slack, "D1", None) == ["What's new?", "Plan my day"]
        assert await bot.send_event(messages_tab()) == 200  # visiting again soon: no new call
        assert await bot.send_event(messages_tab(tab="home")) == 200  # not this listener's
        await inbox_drained(bot.store)
        assert len(slack.calls_to("assistant.threads.setSuggestedPrompts")) == 1


async def test_no_prompts_for_someone_the_bot_does_not_answer(
    env: dict[str, str], slack: FakeSlack, claude: FakeAnthropic
) -> None:
    async with run_app({**env, "ALLOWED_USERS": "U2"}) as bot:
        assert await bot.send_event(thread_started(user="U1")) == 200
        assert await bot.send_event(thread_started(user="U2", thread_ts="1763800001.000100")) == 200
        await eventually(lambda: offered(slack, "D1", "1763800001.000100"), what="U2's prompts")
        assert offered(slack, "D1", "1763800000.000100") == []


async def test_opening_the_panel_offers_the_prompts_once_though_slack_sends_two_events(
    bot: Running, slack: FakeSlack
) -> None:
    # Opening the bot's panel: a new assistant thread and the messages tab, moments apart.
    assert await bot.send_event(thread_started()) == 200
    assert await bot.send_event(messages_tab()) == 200
    await eventually(lambda: offered(slack, "D1", "1763800000.000100"), what="prompts")
    # The other way round, for another person: the messages tab first.
    assert await bot.send_event(messages_tab(user="U2", channel="D2")) == 200
    assert await bot.send_event(thread_started(user="U2", channel="D2")) == 200
    await eventually(lambda: offered(slack, "D2", None), what="U2's prompts")
    await inbox_drained(bot.store)
    await bot.idle()
    calls = slack.calls_to("assistant.threads.setSuggestedPrompts")
    assert [(c.params["channel_id"], c.params.get("thread_ts")) for c in calls] == [
        ("D1", "1763800000.000100"),
        ("D2", None),
    ]


async def test_two_replicas_offer_one_opening_its_prompts_once(slack: FakeSlack) -> None:
    store = MemoryStore()
    client = AsyncWebClient(token="xoxb-test", base_url=slack.url)
    one, two = (AssistantThreads(client, DEFAULTS, wall=lambda: 1_763_800_001.0) for _ in "12")
    await one.offer_prompts(Opened("U1", "D1", "1763800000.000100"), store.remember_once)
    await two.offer_prompts(Opened("U1", "D1", None), store.remember_once)
    await two.offer_prompts(Opened("U2", "D2", None), store.remember_once)  # someone else
    calls = slack.calls_to("assistant.threads.setSuggestedPrompts")
    assert [(c.params["channel_id"], c.params.get("thread_ts")) for c in calls] == [
        ("D1", "1763800000.000100"),
        ("D2", None),
    ]


async def test_prompts_refused_or_rate_limited_by_slack_do_no_harm(
    bot: Running, slack: FakeSlack
) -> None:
    slack.fail("assistant.threads.setSuggestedPrompts", status=200, error="invalid_arguments")
    assert await bot.send_event(thread_started()) == 200
    await eventually(
        lambda: slack.calls_to("assistant.threads.setSuggestedPrompts"), what="the attempt"
    )
    assert await bot.send_event(dm("still there?")) == 200
    await slack.wait_for(lambda s: any("still there?" in m.text for m in s.messages("D1")))


async def test_an_assistant_thread_is_titled_after_its_first_answer_only(
    bot: Running, slack: FakeSlack
) -> None:
    thread = "1763800000.000100"
    await bot.send_event(dm("How do I rotate the  signing\nsecret?", thread_ts=thread))
    await eventually(lambda: ("D1", thread) in slack.titles, what="the title")
    assert slack.titles[("D1", thread)] == "How do I rotate the signing secret?"
    [stop] = slack.calls_to("chat.stopStream")
    title_call = slack.calls_to("assistant.threads.setTitle")[0]
    assert slack.calls.index(title_call) > slack.calls.index(stop)  # after the answer
    await bot.send_event(dm("And the bot token?", thread_ts=thread))
    await slack.wait_for(lambda s: len(s.calls_to("chat.stopStream")) == 2)
    await inbox_drained(bot.store)
    await bot.idle()
    assert len(slack.calls_to("assistant.threads.setTitle")) == 1
    assert slack.titles[("D1", thread)] == "How do I rotate the signing secret?"


async def test_a_top_level_dm_and_a_channel_thread_get_no_title(
    bot: Running, slack: FakeSlack
) -> None:
    await bot.send_event(dm("hello"))
    await slack.wait_for(lambda s: any(m.text.startswith("echo") for m in s.messages("D1")))
    await inbox_drained(bot.store)
    await bot.idle()
    assert slack.calls_to("assistant.threads.setTitle") == []


def test_the_manifest_uses_slacks_agent_view_within_its_limits() -> None:
    features = MANIFEST["features"]
    assert "assistant_view" not in features  # the older form, being retired
    view = features["agent_view"]
    assert set(view) <= {"agent_description", "suggested_prompts", "actions"}
    assert 0 < len(view["agent_description"]) <= 300
    prompts = view["suggested_prompts"]
    assert 0 < len(prompts) <= 4
    assert all(set(p) == {"title", "message"} for p in prompts)
    assert [p["message"] for p in prompts] == DEFAULTS  # the same as SUGGESTED_PROMPTS' default
    assert "assistant:write" in MANIFEST["oauth_config"]["scopes"]["bot"]
    events = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_home_opened", "message.im", "agent_session_stopped"} <= set(events)


async def test_the_agent_views_context_events_are_acknowledged(bot: Running) -> None:
    changed = {
        "type": "app_context_changed",
        "user": "U1",
        "channel": "D1",
        "context": {"entities": [{"type": "slack#/types/channel_id", "value": "C1"}]},
        "event_ts": "1763800000.000400",
    }
    assert await bot.send_event(changed) == 200
    assert await bot.send_event({"type": "app_context_changed", "context": {}}) == 200
    opened_with_context = {**messages_tab(), "context": changed["context"]}
    assert await bot.send_event(opened_with_context) == 200


# -- the pure readers ---------------------------------------------------------------------------


def test_openings_are_read_from_slacks_payloads() -> None:
    where = opened(event_body(thread_started(user="W2", channel="D7", thread_ts="1726.5")))
    assert where is not None and (where.user, where.channel, where.thread_ts) == (
        "W2",
        "D7",
        "1726.5",
    )
    tab = {**event_body(messages_tab(channel="D0442")), "is_ext_shared_channel": False}
    where = opened(tab)
    assert where is not None and (where.channel, where.thread_ts) == ("D0442", None)
    changed = event_body({**thread_started(), "type": "assistant_thread_context_changed"})
    assert opened(changed) is None


def test_odd_openings_are_not_read() -> None:
    body = event_body(thread_started())
    broken = copy.deepcopy(body)
    broken["event"]["assistant_thread"] = "D1"
    assert opened(broken) is None
    missing = copy.deepcopy(body)
    del missing["event"]["assistant_thread"]["thread_ts"]
    assert opened(missing) is None
    assert opened(event_body(messages_tab(tab="home"))) is None
    assert opened({"type": "block_actions"}) is None


def test_prompts_and_titles_are_cut_to_what_slack_shows() -> None:
    long = "x" * 120
    [prompt] = prompt_list([long])
    assert prompt["message"] == long and len(prompt["title"]) == 75
    assert len(prompt_list(["a", "b", "c", "d", "e"])) == 4
    assert thread_title("  two\nlines  ") == "two lines"
    assert len(thread_title("y" * 500)) == 80
    assert thread_title("   ") == "New conversation"


async def test_rate_limited_prompts_are_retried_after_retry_after(
    bot: Running, slack: FakeSlack
) -> None:
    slack.fail("assistant.threads.setSuggestedPrompts", status=429, retry_after=1, times=1)
    assert await bot.send_event(thread_started()) == 200
    await eventually(lambda: offered(slack, "D1", "1763800000.000100"), what="prompts on retry")
    statuses = [c.status for c in slack.calls_to("assistant.threads.setSuggestedPrompts")]
    assert statuses == [429, 200]
