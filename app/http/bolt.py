"""The Bolt app (HTTP and Socket Mode): the Slack edge.

A global middleware sees every payload before it is acknowledged:

* opening the App Home tab publishes the person's tab (``app.slack.home``);
* a message for the bot (with ``FOLLOW_THREADS``, also a message in a thread it follows:
  ``app.slack.follow``) is checked against the access policy (``app.slack.policy``). Refused,
  it is acknowledged and dropped (counted, and the person gets a short ephemeral note at most
  once an hour); allowed, it is recorded in the inbox, and only then acknowledged;
* an allowed message whose conversation already has ``MAX_PENDING_PER_CONVERSATION``
  deliveries waiting is acknowledged and not queued (counted as ``conversation_backlog``);
  the thread gets one short "slow down" note, at most once a minute (``BacklogNotes``);
* an edit or deletion of a person's own message rewrites what the transcript holds of it
  (``app.slack.edits``);
* the second copy of a message this process has just recorded (a mention in a thread comes
  as ``app_mention`` and as ``message``) is acknowledged without asking the store
  (``app.http.recent``); the inbox still refuses any copy it has seen;
* a click on an approval card's button (``app.slack.cards``) is recorded in the inbox in the
  lane of the card's conversation, once per click, and only then acknowledged; so is a vote on
  an answer and the reason given in the thumbs-down modal (``app.slack.feedback``), whose
  modal is opened once the vote is recorded; other interactions are acknowledged and ignored;
* someone opening the bot (``assistant_thread_started``, the DM's messages tab) is offered
  the suggested prompts (``app.slack.assistant``); every other event is acknowledged;
* any of these store calls failing answers 503, so Slack delivers the event again.

Text longer than ``MAX_MESSAGE_CHARS`` is cut when the event is parsed
(``app.slack.events.inbound_from_event``).

``/reset`` follows the same policy; a refusal is the command's answer.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from app.agent.prompt import user_message
from app.config import ActionSettings, TrustSettings
from app.core import Inbound
from app.errors import LaneFull, StoreError
from app.http.recent import RecentDeliveries
from app.metrics import Metrics
from app.slack.assistant import AssistantThreads, opened
from app.slack.cards import ApprovalClick, approval_click
from app.slack.edits import MessageEdit, edit_from_event, rewrite_edited
from app.slack.events import (
    RESET_HELP,
    BotIdentity,
    delivery_id,
    inbound_from_event,
    plan_reset,
)
from app.slack.failures import SLACK_FAILURES, describe
from app.slack.feedback import (
    FEEDBACK_ACTION,
    VoteClick,
    VoteReason,
    reason_modal,
    reason_submission,
    vote_click,
)
from app.slack.follow import Following
from app.slack.home import HomeTab
from app.slack.policy import (
    Decision,
    Speaker,
    command_speaker,
    decide,
    inbound_speaker,
    may_click_approvals,
)
from app.slack.refusals import BacklogNotes, RefusalNotes
from app.slack.stops import StopRequest, stop_request
from app.store.base import Store
from app.turns.commands import reset_conversation
from app.turns.stopping import request_stop

log = logging.getLogger(__name__)

BACKLOG_NOTE: Final = (
    "I have {pending} messages waiting in this conversation already, so I skipped this one. "
    "Please wait for my answers, then send it again."
)


def build_bolt_app(
    *,
    client: AsyncWebClient,
    signing_secret: str | None,
    store: Store,
    agent: str,
    bot: Callable[[], BotIdentity],
    wake: Callable[[], None],
    trust: TrustSettings,
    actions: ActionSettings,
    metrics: Metrics,
    clock: Callable[[], datetime],
    following: Following | None = None,
    home: HomeTab | None = None,
    assistant: AssistantThreads | None = None,
) -> AsyncApp:
    """Wire the Bolt app from its collaborators (nothing global). ``following``: answer
    unmentioned messages in threads the bot follows (``FOLLOW_THREADS``); ``home``: publish
    a person's App Home tab when they open it."""
    notes = RefusalNotes(client, store, clock)
    backlog_notes = BacklogNotes(client, store, clock)
    recent = RecentDeliveries()

    async def authorize(**_: Any) -> AuthorizeResult:
        # The identity comes from auth.test at start, so a Slack hiccup at request time
        # cannot turn into an acknowledged-but-unrecorded event.
        identity = bot()
        return AuthorizeResult(
            enterprise_id=None,
            team_id=identity.team_id,
            bot_token=client.token,
            bot_id=identity.bot_id,
            bot_user_id=identity.user_id,
        )

    _quiet_token_notice()
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=signing_secret is not None,
        authorize=authorize,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )

    @app.middleware
    async def record_before_ack(
        body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        click = approval_click(body)
        if click is not None:
            return await record_click(click, next)
        feedback = vote_click(body) or reason_submission(body)
        if feedback is not None:
            return await record_feedback(feedback, next)
        stop = stop_request(body, agent=agent)
        if stop is not None:
            return await ask_to_stop(stop)
        if _unroutable_actions(body):
            return BoltResponse(status=200, body="")  # acknowledged, ignored
        identity = bot()
        inbound = inbound_from_event(
            body, agent=agent, bot=identity, max_chars=actions.max_message_chars
        )
        if inbound is None and following is not None:
            try:
                inbound = await following.followed(
                    body, bot=identity, max_chars=actions.max_message_chars
                )
            except StoreError as exc:
                log.error("could not tell whether %s is followed: %s", body.get("event_id"), exc)
                return BoltResponse(status=503, body="store unavailable")
        if inbound is None:
            edit = edit_from_event(body, bot=identity)
            if edit is not None and not await apply_edit(edit):
                return BoltResponse(status=503, body="store unavailable")
            await next()
            return None
        decision = decide(inbound_speaker(inbound), trust)
        if not decision.allowed:
            refuse(inbound, decision, event_kind=str(body["event"].get("type")))
            return BoltResponse(status=200, body="")
        delivery = delivery_id(inbound)
        if recent.seen(delivery):
            log.info("duplicate Slack delivery %s ignored", delivery)
            return BoltResponse(status=200, body="")
        try:
            fresh = await store.record_delivery(
                delivery,
                "slack",
                inbound.key,
                inbound.to_payload(),
                max_pending=actions.max_pending_per_conversation,
            )
        except LaneFull:
            refuse_backlog(inbound, event_kind=str(body["event"].get("type")))
            return BoltResponse(status=200, body="")
        except StoreError as exc:
            log.error("could not record Slack event %s: %s", body.get("event_id"), exc)
            # Not acknowledged: Slack retries the delivery later.
            return BoltResponse(status=503, body="store unavailable")
        recent.remember(delivery)
        if not fresh:
            log.info("duplicate Slack delivery %s ignored", delivery)
            return BoltResponse(status=200, body="")
        wake()
        await next()
        return None

    async def ask_to_stop(stop: StopRequest) -> BoltResponse:
        """Stop the turn running in the conversation: only its own people may (not someone
        of another organisation, nor someone outside ALLOWED_USERS)."""
        team = bot().team_id
        outsider = stop.team is not None and team is not None and stop.team != team
        if outsider or (trust.allowed_users and stop.user not in trust.allowed_users):
            log.info("stop request by %s ignored: not one of the conversation's people", stop.user)
            return BoltResponse(status=200, body="")
        try:
            running = await request_stop(store, stop.lanes)
        except StoreError as exc:
            log.error("stop request not recorded: %s", exc)
            return BoltResponse(status=503, body="store unavailable")
        log.info("stop requested by %s (%s)", stop.user, "running" if running else "idle")
        return BoltResponse(status=200, body="")

    def refuse(inbound: Inbound, decision: Decision, *, event_kind: str) -> None:
        """Acknowledged, not recorded: count it and (maybe) tell the person."""
        log.info(
            "Slack message %s from %s refused: %s",
            delivery_id(inbound),
            inbound.author_id,
            decision.reason,
        )
        if event_kind == "message" and not inbound.is_dm:
            return  # a mention in a channel also arrives as app_mention, which does this
        metrics.refusal("slack", str(decision.reason))
        if decision.note and inbound.channel:
            notes.send(
                user=inbound.author_id,
                channel=inbound.channel,
                thread_ts=inbound.thread_ts if inbound.thread_ts != inbound.ts else None,
                note=decision.note,
            )

    def refuse_backlog(inbound: Inbound, *, event_kind: str) -> None:
        """Too many deliveries of this conversation are waiting: acknowledged, not queued."""
        log.warning(
            "Slack message %s not queued: %s already has %s or more deliveries waiting",
            delivery_id(inbound),
            inbound.key,
            actions.max_pending_per_conversation,
        )
        if event_kind == "message" and not inbound.is_dm:
            return  # a mention in a channel also arrives as app_mention, which does this
        metrics.refusal("slack", "conversation_backlog")
        if inbound.channel:
            note = BACKLOG_NOTE.format(pending=actions.max_pending_per_conversation)
            backlog_notes.send(inbound.key, inbound.channel, inbound.thread_ts, note)

    async def record_click(
        click: ApprovalClick, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """An approval click: recorded like a message (deduplicated by the click's identity,
        ordered with its conversation), then acknowledged; the worker decides it. Someone
        the access policy leaves out (ALLOWED_USERS) decides nothing, unless an approver."""
        if not may_click_approvals(click.user_id, trust, actions.approvers):
            log.info("approval click by %s ignored: not an allowed user", click.user_id)
            return BoltResponse(status=200, body="")
        try:
            fresh = await store.record_delivery(
                click.delivery_id, "slack", click.key(agent), click.to_payload(agent)
            )
        except StoreError as exc:
            log.error("could not record approval click %s: %s", click.delivery_id, exc)
            return BoltResponse(status=503, body="store unavailable")
        if not fresh:
            log.info("duplicate approval click %s ignored", click.delivery_id)
            return BoltResponse(status=200, body="")
        wake()
        await next()
        return None

    async def record_feedback(
        item: VoteClick | VoteReason, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """A vote on an answer, or the reason for a thumbs-down: recorded like a message (in
        the answer's conversation lane, once), then acknowledged; the worker stores it.
        Someone the access policy refuses is acknowledged and ignored."""
        team = bot().team_id
        external = bool(item.user_team and team and item.user_team != team)
        channel = item.answer.channel
        speaker = Speaker(item.user_id, channel, channel.startswith("D"), external)
        if not decide(speaker, trust).allowed:
            log.info("feedback by %s ignored: refused by the access policy", item.user_id)
            return BoltResponse(status=200, body="")
        try:
            fresh = await store.record_delivery(
                item.delivery_id, "slack", item.answer.key(agent), item.to_payload(agent)
            )
        except StoreError as exc:
            log.error("could not record feedback %s: %s", item.delivery_id, exc)
            return BoltResponse(status=503, body="store unavailable")
        if not fresh:
            log.info("duplicate feedback %s ignored", item.delivery_id)
            return BoltResponse(status=200, body="")
        if isinstance(item, VoteClick):
            metrics.feedback_vote(item.vote)
        else:
            metrics.feedback_reason()
        wake()
        await next()
        return None

    async def ask_why(ack: AsyncAck, body: dict[str, Any]) -> None:
        """A recorded thumbs-down: open the modal asking why (its trigger lasts 3 seconds)."""
        await ack()
        click = vote_click(body)
        if click is None or click.vote != "down" or not click.trigger_id:
            return
        try:
            await client.views_open(trigger_id=click.trigger_id, view=reason_modal(click))
        except SLACK_FAILURES as exc:
            log.info("feedback modal not opened: %s", describe(exc))

    async def offer_prompts(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        where = opened(body)
        if assistant is None or where is None:
            return
        if not decide(Speaker(where.user, where.channel, True, False), trust).allowed:
            return
        await assistant.offer_prompts(where, store.remember_once)

    async def apply_edit(edit: MessageEdit) -> bool:
        """Rewrite the stored message; False when the store failed (Slack retries)."""
        rewrite = functools.partial(rewrite_edited, edit=edit, render=user_message)
        try:
            changed = await store.rewrite_messages(edit.ref, rewrite, cause=edit.cause)
        except StoreError as exc:
            log.error("could not apply the edit of %s: %s", edit.ref, exc)
            return False
        if changed:
            log.info("%s: %s transcript message(s) rewritten", edit.cause, changed)
        return True

    async def recorded(ack: AsyncAck) -> None:
        # The middleware has stored the message; the worker answers it.
        await ack()

    app.event("app_mention")(recorded)
    app.event("message")(recorded)
    app.event("assistant_thread_started")(offer_prompts)
    app.event("app_home_opened", matchers=[_messages_tab])(offer_prompts)
    app.event("assistant_thread_context_changed")(recorded)  # acknowledged; nothing to change

    # Interactivity is enabled so Slack can deliver button clicks and shortcuts to this URL;
    # a thumbs-down opens its form, the rest need no answer, and each is acknowledged so
    # Slack shows the user no error.
    everything = re.compile(".*")
    app.action(FEEDBACK_ACTION)(ask_why)
    app.action(everything)(recorded)
    app.shortcut(everything)(recorded)
    app.view(everything)(recorded)

    async def show_home(ack: AsyncAck, event: dict[str, Any]) -> None:
        await ack()
        user = event.get("user")
        if home is not None and isinstance(user, str):
            await home.opened(user)

    app.event("app_home_opened", matchers=[_home_tab])(show_home)

    @app.command("/reset")
    async def reset_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        decision = decide(command_speaker(command, bot()), trust, command=True)
        if not decision.allowed:
            metrics.refusal("slack", str(decision.reason))
            log.info("/reset by %s refused: %s", command.get("user_id"), decision.reason)
            if decision.note:
                await ack(text=decision.note)
            else:
                await ack()
            return
        plan = plan_reset(command, agent=agent)
        if plan.key is None:
            await ack(text=plan.refusal or RESET_HELP)
            return
        try:
            result = await reset_conversation(
                store, plan.key, where=plan.where, cause=f"/reset by {command.get('user_id')}"
            )
        except StoreError as exc:
            log.error("/reset failed: %s", exc)
            await ack(
                text="I couldn't reset right now (my database is unavailable). Please try again."
            )
            return
        await ack(text=result.text)

    # Every other event the app is subscribed to is acknowledged, never answered 404 (Slack
    # would retry it and eventually turn the subscription off). Keep this listener last.
    app.event(everything)(recorded)

    return app


async def _messages_tab(body: dict[str, Any]) -> bool:
    event = body.get("event")
    return isinstance(event, dict) and event.get("tab") == "messages"


async def _home_tab(event: dict[str, Any]) -> bool:
    """``app_home_opened`` for the Home tab (the messages tab is the assistant's)."""
    return event.get("tab") == "home"


def _unroutable_actions(body: dict[str, Any]) -> bool:
    """A ``block_actions`` payload without a list of actions Bolt can match (Bolt would answer
    404 or fail with 500); Slack never sends one, so it is acknowledged and ignored."""
    if body.get("type") != "block_actions":
        return False
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return True
    return not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)


class _TokenNoticeFilter(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN "will be ignored" when ``authorize`` is given; here the
    same token is what ``authorize`` hands out, so the warning would only mislead operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be ignored" not in record.getMessage()


def _quiet_token_notice() -> None:
    bolt_log = logging.getLogger("slack_bolt.AsyncApp")
    if not any(isinstance(f, _TokenNoticeFilter) for f in bolt_log.filters):
        bolt_log.addFilter(_TokenNoticeFilter())
