"""Buttons and forms: approval cards, votes on answers, stop buttons.

* a click on an approval card's button (``app.slack.cards``) is recorded in the inbox in the
  lane of the card's conversation, once per click, and only then acknowledged; so is a vote on
  an answer and the reason given in the thumbs-down modal (``app.slack.feedback``), whose
  modal is opened once the vote is recorded;
* a stop button (``app.slack.stops``) asks the turn running in its conversation to stop;
* other interactions are acknowledged and ignored.

The recording happens in the global middleware (``app.http.listeners.inbox`` calls
``record_click``, ``record_feedback`` and ``ask_to_stop``), before the acknowledgement; the
listeners registered here run after it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.response import BoltResponse

from app.errors import StoreError
from app.http.listeners import EVERYTHING, LOGGER, BoltDeps, recorded
from app.slack.cards import ApprovalClick
from app.slack.failures import SLACK_FAILURES, describe
from app.slack.feedback import FEEDBACK_ACTION, VoteClick, VoteReason, reason_modal, vote_click
from app.slack.policy import Speaker, decide, may_click_approvals
from app.slack.stops import StopRequest
from app.turns.stopping import request_stop

log = logging.getLogger(LOGGER)


def register(app: AsyncApp, deps: BoltDeps) -> None:
    """Interactivity is enabled so Slack can deliver button clicks and shortcuts to this URL;
    a thumbs-down opens its form, the rest need no answer, and each is acknowledged so Slack
    shows the user no error."""

    async def ask_why(ack: AsyncAck, body: dict[str, Any]) -> None:
        """A recorded thumbs-down: open the modal asking why (its trigger lasts 3 seconds)."""
        await ack()
        click = vote_click(body)
        if click is None or click.vote != "down" or not click.trigger_id:
            return
        try:
            await deps.client.views_open(trigger_id=click.trigger_id, view=reason_modal(click))
        except SLACK_FAILURES as exc:
            log.info("feedback modal not opened: %s", describe(exc))

    app.action(FEEDBACK_ACTION)(ask_why)
    app.action(EVERYTHING)(recorded)
    app.shortcut(EVERYTHING)(recorded)
    app.view(EVERYTHING)(recorded)


async def record_click(
    deps: BoltDeps, click: ApprovalClick, next: Callable[[], Awaitable[None]]
) -> BoltResponse | None:
    """An approval click: recorded like a message (deduplicated by the click's identity,
    ordered with its conversation), then acknowledged; the worker decides it. Someone
    the access policy leaves out (ALLOWED_USERS) decides nothing, unless an approver."""
    if not may_click_approvals(click.user_id, deps.trust, deps.actions.approvers):
        log.info("approval click by %s ignored: not an allowed user", click.user_id)
        return BoltResponse(status=200, body="")
    try:
        fresh = await deps.store.record_delivery(
            click.delivery_id, "slack", click.key(deps.agent), click.to_payload(deps.agent)
        )
    except StoreError as exc:
        log.error("could not record approval click %s: %s", click.delivery_id, exc)
        return BoltResponse(status=503, body="store unavailable")
    if not fresh:
        log.info("duplicate approval click %s ignored", click.delivery_id)
        return BoltResponse(status=200, body="")
    deps.wake()
    await next()
    return None


async def record_feedback(
    deps: BoltDeps, item: VoteClick | VoteReason, next: Callable[[], Awaitable[None]]
) -> BoltResponse | None:
    """A vote on an answer, or the reason for a thumbs-down: recorded like a message (in
    the answer's conversation lane, once), then acknowledged; the worker stores it.
    Someone the access policy refuses is acknowledged and ignored."""
    team = deps.bot().team_id
    external = bool(item.user_team and team and item.user_team != team)
    channel = item.answer.channel
    speaker = Speaker(item.user_id, channel, channel.startswith("D"), external)
    if not decide(speaker, deps.trust).allowed:
        log.info("feedback by %s ignored: refused by the access policy", item.user_id)
        return BoltResponse(status=200, body="")
    try:
        fresh = await deps.store.record_delivery(
            item.delivery_id, "slack", item.answer.key(deps.agent), item.to_payload(deps.agent)
        )
    except StoreError as exc:
        log.error("could not record feedback %s: %s", item.delivery_id, exc)
        return BoltResponse(status=503, body="store unavailable")
    if not fresh:
        log.info("duplicate feedback %s ignored", item.delivery_id)
        return BoltResponse(status=200, body="")
    if isinstance(item, VoteClick):
        deps.metrics.feedback_vote(item.vote)
    else:
        deps.metrics.feedback_reason()
    deps.wake()
    await next()
    return None


async def ask_to_stop(deps: BoltDeps, stop: StopRequest) -> BoltResponse:
    """Stop the turn running in the conversation: only its own people may (not someone
    of another organisation, nor someone outside ALLOWED_USERS)."""
    team = deps.bot().team_id
    outsider = stop.team is not None and team is not None and stop.team != team
    if outsider or (deps.trust.allowed_users and stop.user not in deps.trust.allowed_users):
        log.info("stop request by %s ignored: not one of the conversation's people", stop.user)
        return BoltResponse(status=200, body="")
    try:
        running = await request_stop(deps.store, stop.lanes)
    except StoreError as exc:
        log.error("stop request not recorded: %s", exc)
        return BoltResponse(status=503, body="store unavailable")
    log.info("stop requested by %s (%s)", stop.user, "running" if running else "idle")
    return BoltResponse(status=200, body="")
