"""The global middleware: every payload Slack sends is checked, and recorded, before its ack.

* a click on an approval card, a vote on an answer or its reason, a stop button: recorded
  (or acted on) by ``app.http.listeners.interactivity``;
* a message for the bot (with ``FOLLOW_THREADS``, also a message in a thread it follows) is
  checked against the access policy. Refused, it is acknowledged and dropped (counted, and the
  person gets a short ephemeral note at most once an hour); allowed, it is recorded in the
  inbox, and only then acknowledged;
* an allowed message whose conversation already has ``MAX_PENDING_PER_CONVERSATION``
  deliveries waiting is acknowledged and not queued; the thread gets one short "slow down"
  note, at most once a minute;
* an edit or deletion of a person's own message rewrites what the transcript holds of it;
* the second copy of a message this process has just recorded is acknowledged without asking
  the store; the inbox still refuses any copy it has seen;
* any of these store calls failing answers 503, so Slack delivers the event again.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from app.agent.prompt import user_message
from app.core import Inbound
from app.errors import LaneFull, StoreError
from app.http.listeners import LOGGER, BoltDeps
from app.http.listeners.interactivity import ask_to_stop, record_click, record_feedback
from app.http.recent import RecentDeliveries
from app.slack.cards import approval_click
from app.slack.edits import MessageEdit, edit_from_event, rewrite_edited
from app.slack.events import delivery_id, inbound_from_event
from app.slack.feedback import reason_submission, vote_click
from app.slack.policy import Decision, decide, inbound_speaker
from app.slack.refusals import BacklogNotes, RefusalNotes
from app.slack.stops import stop_request

log = logging.getLogger(LOGGER)

BACKLOG_NOTE: Final = (
    "I have {pending} messages waiting in this conversation already, so I skipped this one. "
    "Please wait for my answers, then send it again."
)


def register(app: AsyncApp, deps: BoltDeps) -> None:
    """Add the middleware that records each delivery before it is acknowledged."""
    store, agent, bot, wake = deps.store, deps.agent, deps.bot, deps.wake
    trust, actions, metrics, following = deps.trust, deps.actions, deps.metrics, deps.following
    notes = RefusalNotes(deps.client, store, deps.clock)
    backlog_notes = BacklogNotes(deps.client, store, deps.clock)
    recent = RecentDeliveries()

    @app.middleware
    async def record_before_ack(
        body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        click = approval_click(body)
        if click is not None:
            return await record_click(deps, click, next)
        feedback = vote_click(body) or reason_submission(body)
        if feedback is not None:
            return await record_feedback(deps, feedback, next)
        stop = stop_request(body, agent=agent)
        if stop is not None:
            return await ask_to_stop(deps, stop)
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


def _unroutable_actions(body: dict[str, Any]) -> bool:
    """A ``block_actions`` payload without a list of actions Bolt can match (Bolt would answer
    404 or fail with 500); Slack never sends one, so it is acknowledged and ignored."""
    if body.get("type") != "block_actions":
        return False
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return True
    return not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
