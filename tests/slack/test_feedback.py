"""Votes on answers through the running app: the feedback buttons on the final message (on
the call that finishes it), a vote, a changed vote, a second person's vote, the thumbs-down
modal and its reason, metrics, refusals and hostile payloads; the pure parsers on payloads
shaped like Slack's."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import make_mocked_request
from aiohttp.web import Response
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.web.async_client import AsyncWebClient

from app.core import ConversationKey
from app.http.metrics import VOTES_EVERY, metrics_page
from app.metrics import Metrics
from app.slack.events import BotIdentity
from app.slack.feedback import (
    FEEDBACK_ACTION,
    REASON_CALLBACK,
    Answer,
    reason_modal,
    reason_submission,
    vote_click,
)
from app.slack.names import UserNames
from app.store import MemoryStore
from app.store.base import VoteFilter
from app.surfaces.slack import SlackSurface
from tests.fakes.anthropic import FakeAnthropic, Reply
from tests.fakes.github import github_webhook, issue_comment_event
from tests.fakes.slack import FakeSlack, Message
from tests.harness import (
    Running,
    dm,
    eventually,
    inbox_drained,
    mention,
    new_ts,
    replies,
    run_app,
    sign,
)
from tests.integrations.world import GH_SECRET, file_github_issue, running_world

_n = itertools.count(1)


def vote_body(
    value: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    message_ts: str = "1763700001.000300",
    thread_ts: str | None = "1763700000.000100",
) -> dict[str, Any]:
    """A ``block_actions`` payload as Slack sends it for a click on feedback buttons."""
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel,
        "is_ephemeral": False,
    }
    message: dict[str, Any] = {"type": "message", "ts": message_ts, "bot_id": "BBOT", "text": "x"}
    if thread_ts:
        container["thread_ts"] = message["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "u", "name": "u", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "container": container,
        "trigger_id": f"1234.5678.{next(_n)}",
        "team": {"id": "T1", "domain": "acme"},
        "channel": {"id": channel, "name": "general"},
        "message": message,
        "actions": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK_ACTION,
                "block_id": "b1",
                "value": value,
                "action_ts": f"1763700100.{next(_n):06d}",
            }
        ],
        "state": {"values": {}},
    }


def submission_body(
    view: dict[str, Any], reason: str | None, *, user: str = "U1"
) -> dict[str, Any]:
    """The ``view_submission`` Slack sends when ``user`` submits the modal ``view``."""
    return {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": user, "username": "u", "name": "u", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "1.2.3",
        "view": {
            **view,
            "id": view.get("id", "V00000001"),
            "state": {
                "values": {"reason": {"text": {"type": "plain_text_input", "value": reason}}}
            },
        },
        "response_urls": [],
    }


async def post_payload(bot: Running, body: dict[str, Any], secret: str | None = None) -> int:
    raw = urlencode({"payload": json.dumps(body)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers.update(sign(raw) if secret is None else sign(raw, secret))
    response = await bot.post_raw("/slack/events", raw, headers)
    return response.status


def counter(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def feedback_of(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    [block] = [b for b in blocks if b.get("type") == "context_actions"]
    [buttons] = block["elements"]
    assert buttons["type"] == "feedback_buttons" and buttons["action_id"] == FEEDBACK_ACTION
    return dict(buttons)


async def answered(bot: Running, slack: FakeSlack) -> tuple[str, str, dict[str, Any]]:
    """A thread in C1 answered once: its root ts, the answer's ts and its feedback buttons."""
    root = new_ts()
    await bot.send_event(mention("hi", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    await inbox_drained(bot.store)
    [answer] = [m for m in slack.messages("C1", root) if m.ts != root]
    return root, answer.ts, feedback_of(answer.blocks)


# -- through the running app ------------------------------------------------------------------


async def test_the_final_answer_carries_feedback_buttons_on_the_call_that_finishes_it(
    bot: Running, slack: FakeSlack
) -> None:
    _, _, buttons = await answered(bot, slack)
    per_reply = [
        c.method for c in slack.calls if c.method not in ("auth.test", "conversations.info")
    ]
    # Same calls as a short answer had before: the buttons ride on chat.stopStream.
    assert per_reply == [
        "users.info",
        "assistant.threads.setStatus",
        "chat.startStream",
        "chat.stopStream",
    ]
    [stop] = slack.calls_to("chat.stopStream")
    assert feedback_of(stop.params["blocks"]) == buttons
    turn = buttons["positive_button"]["value"].removeprefix("up:")
    assert turn.startswith("t-")
    assert buttons["negative_button"]["value"] == f"down:{turn}"


async def test_an_answer_redirected_home_from_a_public_comment_carries_the_buttons(
    tmp_path: Path,
) -> None:
    async with running_world(tmp_path) as w:
        w.github.set_visibility("acme/site", "public")
        root, number = await file_github_issue(w, "acme/site")
        w.claude.script(Reply(text="Looking into it."))
        comment = issue_comment_event(
            "acme/site",
            number,
            "Any news?",
            login="maintainer",
            association="MEMBER",
            visibility="public",
            comment_id=32,
        )
        hook = github_webhook(GH_SECRET, "issue_comment", comment, None)
        assert (await w.bot.post_raw("/webhooks/github", *hook)).status == 202
        await w.slack.wait_for(lambda s: replies(s, "C1", root)[-1].endswith("Looking into it."))
        await inbox_drained(w.bot.store)
        [answer] = [m for m in w.slack.messages("C1", root) if "Looking into it." in m.text]
        assert "maintainer asked on" in answer.text  # the answer the audience rule sent home
        buttons = feedback_of(answer.blocks)
        turn = buttons["positive_button"]["value"].removeprefix("up:")
        assert turn.startswith("t-")
        posts = w.slack.calls_to("chat.postMessage")
        assert len([c for c in posts if "Looking into it." in json.dumps(c.params)]) == 1
        filed = [m for m in w.slack.messages("C1", root) if m.ts not in (root, answer.ts)]
        assert filed and turn not in json.dumps([m.blocks for m in filed])  # that turn's own

        # a vote there is recorded for the turn that wrote the answer, in its conversation
        where = {"message_ts": answer.ts, "thread_ts": root}
        assert await post_payload(w.bot, vote_body(f"down:{turn}", **where)) == 200
        await inbox_drained(w.bot.store)
        [vote] = await w.bot.store.votes_for_turns([turn])
        session = await w.bot.store.resolve(f"threadline:github:acme/site#{number}")
        assert session is not None
        assert (vote.vote, vote.message_ts, vote.session_id) == ("down", answer.ts, session.id)


async def test_an_answer_posted_home_is_shown_without_buttons_slack_refuses(
    slack: FakeSlack,
) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=slack.url)
    surface = SlackSurface(client, UserNames(client), lambda: BotIdentity("UBOT", "BBOT", "T1"))
    key = ConversationKey.parse("threadline:slack:C1::1763700000.000100")
    slack.fail("chat.postMessage", status=200, error="invalid_blocks")
    await surface.notify_key(key, "The answer.", answer_of="t-1a2b")
    [refused, _] = slack.calls_to("chat.postMessage")
    assert refused.error == "invalid_blocks" and "context_actions" in json.dumps(refused.params)
    [answer] = [m for m in slack.messages("C1", "1763700000.000100") if "The answer." in m.text]
    assert [b["type"] for b in answer.blocks] == ["markdown"]  # the answer, without buttons
    await surface.notify_key(key, "A notice.")  # a notice never carries buttons
    assert "context_actions" not in json.dumps(slack.calls_to("chat.postMessage")[-1].params)


async def test_a_posted_dm_answer_gets_the_buttons_with_its_last_update(
    bot: Running, slack: FakeSlack
) -> None:
    await bot.send_event(dm("hello"))
    await slack.wait_for(lambda s: any(m.text.startswith("echo") for m in s.messages("D1")))
    await inbox_drained(bot.store)
    [answer] = [m for m in slack.messages("D1") if m.user == slack.user_id]
    feedback_of(answer.blocks)
    assert not any(b.get("type") == "actions" for b in answer.blocks)  # the Stop button went
    assert len(slack.calls_to("chat.update")) == 1  # the same single edit as before


async def test_votes_one_per_person_changed_by_a_second_click_with_the_reason_modal(
    bot: Running, slack: FakeSlack
) -> None:
    root, answer_ts, buttons = await answered(bot, slack)
    up, down = buttons["positive_button"]["value"], buttons["negative_button"]["value"]
    turn = up.removeprefix("up:")
    where = {"message_ts": answer_ts, "thread_ts": root}

    assert await post_payload(bot, vote_body(up, **where)) == 200
    await inbox_drained(bot.store)
    [vote] = await bot.store.list_votes(VoteFilter())
    assert (vote.user_id, vote.vote, vote.turn_id, vote.message_ts) == ("U1", "up", turn, answer_ts)
    assert vote.session_id is not None
    assert slack.views_opened == []  # a thumbs-up asks nothing

    # the same person changes their mind: one vote, now down, and a modal asks why
    assert await post_payload(bot, vote_body(down, **where)) == 200
    await eventually(lambda: len(slack.views_opened) == 1, what="the reason modal")
    await inbox_drained(bot.store)
    [vote] = await bot.store.list_votes(VoteFilter())
    assert vote.vote == "down"
    [modal] = slack.views_opened
    assert modal["callback_id"] == REASON_CALLBACK

    # someone else votes on the same answer: a vote of their own
    assert await post_payload(bot, vote_body(up, user="U2", **where)) == 200
    await inbox_drained(bot.store)
    votes = await bot.store.votes_for_turns([turn])
    assert sorted((v.user_id, v.vote) for v in votes) == [("U1", "down"), ("U2", "up")]

    # the modal's reason is kept with U1's thumbs-down, and the modal closes (empty 200)
    assert await post_payload(bot, submission_body(modal, "It linked the wrong repo")) == 200
    await inbox_drained(bot.store)
    [mine] = await bot.store.list_votes(VoteFilter(vote="down"))
    assert mine.reason == "It linked the wrong repo"

    # U2 cannot give a reason to a thumbs-up, nor write one onto U1's vote
    await post_payload(bot, submission_body({**modal, "id": "V00000009"}, "spam", user="U2"))
    await inbox_drained(bot.store)
    assert {v.user_id: v.reason for v in await bot.store.votes_for_turns([turn])} == {
        "U1": "It linked the wrong repo",
        "U2": None,
    }

    _, metrics = await bot.get("/metrics")
    # the clicks received (U1's change of mind is a second click) and the votes stored now
    assert counter(metrics, "threadline_feedback_clicks_total", vote="up") == 2
    assert counter(metrics, "threadline_feedback_clicks_total", vote="down") == 1
    assert counter(metrics, "threadline_feedback_votes", vote="up") == 1
    assert counter(metrics, "threadline_feedback_votes", vote="down") == 1
    assert counter(metrics, "threadline_feedback_reasons_total") == 2


async def test_a_redelivered_click_counts_once_and_a_forged_one_not_at_all(
    bot: Running, slack: FakeSlack
) -> None:
    body = vote_body("down:t-abc")
    assert await post_payload(bot, body) == 200
    assert await post_payload(bot, body) == 200  # Slack retried: same click
    assert await post_payload(bot, vote_body("up:t-abc"), secret="wrong") == 401
    await inbox_drained(bot.store)
    [vote] = await bot.store.list_votes(VoteFilter())
    assert (vote.vote, vote.session_id) == ("down", None)  # an unknown turn: no session
    await eventually(lambda: len(slack.views_opened) == 1, what="one modal")
    _, metrics = await bot.get("/metrics")
    assert counter(metrics, "threadline_feedback_clicks_total", vote="down") == 1
    assert counter(metrics, "threadline_feedback_votes", vote="down") == 1
    assert counter(metrics, "threadline_feedback_votes", vote="up") == 0


async def test_the_stored_votes_are_read_at_most_once_per_interval_whatever_the_scrapes() -> None:
    store, now = MemoryStore(), [1000.0]
    page = metrics_page(Metrics(), store=lambda: store, worker=lambda: None, clock=lambda: now[0])

    async def scrape() -> str:
        response = await page(make_mocked_request("GET", "/metrics"))
        assert isinstance(response, Response) and isinstance(response.body, bytes)
        return response.body.decode()

    await store.record_vote(channel="C1", message_ts="1.1", user_id="U1", vote="up", turn_id=None)
    assert counter(await scrape(), "threadline_feedback_votes", vote="up") == 1
    await store.record_vote(channel="C1", message_ts="1.1", user_id="U1", vote="down", turn_id=None)
    now[0] += VOTES_EVERY - 1
    page_text = await scrape()  # too soon: the figure read last time
    assert counter(page_text, "threadline_feedback_votes", vote="up") == 1
    now[0] += 1
    page_text = await scrape()
    assert counter(page_text, "threadline_feedback_votes", vote="up") == 0
    assert counter(page_text, "threadline_feedback_votes", vote="down") == 1


async def test_an_expired_trigger_still_counts_the_vote(bot: Running, slack: FakeSlack) -> None:
    body = vote_body("down:t-abc")
    slack.expired_triggers.add(body["trigger_id"])
    assert await post_payload(bot, body) == 200
    await inbox_drained(bot.store)
    await eventually(lambda: bool(slack.calls_to("views.open")), what="the modal tried")
    assert slack.calls_to("views.open")[0].error == "expired_trigger_id"
    assert [v.vote for v in await bot.store.list_votes(VoteFilter())] == ["down"]


async def test_hostile_feedback_payloads_are_acknowledged_and_store_nothing(
    bot: Running, slack: FakeSlack
) -> None:
    bad_values = ["sideways", "up:" + "x" * 300, "up:t-1;drop", ""]
    for value in bad_values:
        assert await post_payload(bot, vote_body(value)) == 200
    no_user = vote_body("up")
    no_user["user"] = {"id": "not a user"}
    assert await post_payload(bot, no_user) == 200
    modal = {"type": "modal", "callback_id": REASON_CALLBACK}
    forged_meta = submission_body({**modal, "private_metadata": '{"c": "C1", "m": "x"}'}, "hi")
    assert await post_payload(bot, forged_meta) == 200
    not_json = submission_body({**modal, "private_metadata": "{"}, "hi")
    assert await post_payload(bot, not_json) == 200
    untyped = submission_body({"callback_id": REASON_CALLBACK, "private_metadata": "{}"}, "hi")
    assert await post_payload(bot, untyped) == 400  # Slack always says what kind of view
    await inbox_drained(bot.store)
    assert await bot.store.list_votes(VoteFilter()) == []
    assert (await bot.store.stats()).pending_deliveries == 0


async def test_a_vote_by_someone_outside_allowed_users_is_ignored(
    env: dict[str, str], slack: FakeSlack, claude: FakeAnthropic
) -> None:
    async with run_app({**env, "ALLOWED_USERS": "U1"}) as bot:
        assert await post_payload(bot, vote_body("down:t-1", user="U2")) == 200
        assert await post_payload(bot, vote_body("up:t-1", user="U1")) == 200
        await inbox_drained(bot.store)
        assert [v.user_id for v in await bot.store.list_votes(VoteFilter())] == ["U1"]
        assert slack.views_opened == []


# -- the parsers -------------------------------------------------------------------------------


def test_a_click_is_read_with_its_answer_vote_and_turn() -> None:
    click = vote_click(vote_body("down:t-1a2b", message_ts="1763700001.000300"))
    assert click is not None
    assert click.answer == Answer("C1", "1763700001.000300", "1763700000.000100")
    assert (click.vote, click.turn_id, click.user_id) == ("down", "t-1a2b", "U1")
    assert click.answer.key("tl") == "tl:slack:C1::1763700000.000100"
    assert click.delivery_id.startswith("slack:vote:U1:")


def test_a_top_level_dm_answer_belongs_to_the_dm_conversation() -> None:
    click = vote_click(vote_body("up", channel="D1", thread_ts=None))
    assert click is not None and click.turn_id is None
    assert click.answer.key("tl") == "tl:slack:D1::main"


def test_other_actions_and_ephemeral_messages_are_not_votes() -> None:
    body = vote_body("up")
    body["actions"][0]["action_id"] = "something_else"
    assert vote_click(body) is None
    ephemeral = vote_body("up")
    ephemeral["container"]["is_ephemeral"] = True
    assert vote_click(ephemeral) is None
    button = vote_body("up")
    button["actions"][0]["type"] = "button"
    assert vote_click(button) is None


def test_the_modal_round_trips_its_answer_and_cuts_the_reason() -> None:
    click = vote_click(vote_body("down:t-1"))
    assert click is not None
    modal = reason_modal(click)
    reason = reason_submission(submission_body(modal, "y" * 5000))
    assert reason is not None and reason.answer == click.answer
    assert len(reason.reason) == 1000
    empty = reason_submission(submission_body(modal, None))
    assert empty is not None and empty.reason == ""
    other = submission_body({**modal, "callback_id": "another"}, "x")
    assert reason_submission(other) is None


async def test_a_rate_limited_modal_is_retried_after_retry_after(
    bot: Running, slack: FakeSlack
) -> None:
    slack.fail("views.open", status=429, retry_after=1, times=1)
    assert await post_payload(bot, vote_body("down:t-abc")) == 200
    await eventually(lambda: len(slack.views_opened) == 1, what="the modal, on the retry")
    assert [c.status for c in slack.calls_to("views.open")] == [429, 200]


async def test_an_answer_whose_buttons_slack_refuses_is_shown_without_them(
    bot: Running, slack: FakeSlack
) -> None:
    slack.fail("chat.stopStream", status=200, error="invalid_blocks", times=1)
    root = new_ts()
    await bot.send_event(mention("hi", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    await inbox_drained(bot.store)
    [answer] = [m for m in slack.messages("C1", root) if m.ts != root]
    assert answer.stopped and answer.text.startswith("echo") and answer.blocks == []
    first, second = slack.calls_to("chat.stopStream")
    assert first.error == "invalid_blocks" and "blocks" not in second.params


async def test_votes_between_two_mentions_do_not_bring_back_what_claude_has_seen(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = "1763800000.000100"

    def answers(s: FakeSlack) -> list[Message]:
        return [m for m in s.messages("C1", root) if m.user == s.user_id and m.stopped]

    slack.add_message("C1", "The deploy failed", user="U2", ts=root)
    slack.add_message("C1", "Logs say OOM", user="U1", thread_ts=root, ts="1763800000.000200")
    await bot.send_event(mention("what happened?", thread_ts=root, ts="1763800000.000300"))
    await slack.wait_for(lambda s: len(answers(s)) == 1)
    await inbox_drained(bot.store)
    [answer] = answers(slack)
    for user in ("U1", "U2"):
        body = vote_body("up", message_ts=answer.ts, thread_ts=root, user=user)
        assert await post_payload(bot, body) == 200
    await inbox_drained(bot.store)
    slack.add_message("C1", "Raised the limit", user="U2", thread_ts=root, ts="1763800000.000400")
    await bot.send_event(mention("fixed now?", thread_ts=root, ts="1763800000.000500"))
    await slack.wait_for(lambda s: len(answers(s)) == 2)
    last = claude.requests[1]["messages"][-1]
    second = "\n".join(b["text"] for b in last["content"] if b.get("type") == "text")
    assert "Raised the limit" in second
    assert "Logs say OOM" not in second  # seen in the first turn, votes or not
