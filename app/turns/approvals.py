"""Deciding an approval: a click on a card runs (or declines) the action once, and the
conversation hears about it in a new turn.

A click is recorded in the inbox like a message (``app.http.bolt``, lane = the card's
conversation), so it is handled in order with that conversation's turns, once, by one replica,
and survives a restart. ``ApprovalDecider.handle_click`` takes its payload::

    approval unknown, or the payload is not a click .............. ignored
    already approved/declined (a repeat, someone else's click,
      Approve after Decline) ...................................... ignored, card refreshed
    the clicker may not decide ..................................... refused: an ephemeral
                                                                     note, nothing changes
    decide_approval: another decision held, or this approval's
      outcome was already handled (remember_once) ................. ignored, card refreshed
    past its expiry (the store's clock) ............................ expired: card updated,
                                                                     a turn says nothing ran
    declined ....................................................... card updated, a turn
                                                                     says so
    approved ....................................................... the tool runs once, its
                                                                     result is recorded, the
                                                                     card updated, a turn
                                                                     reports the result

Who may decide: anyone in ``APPROVERS``; for ``deciders == "asker"`` the person who asked;
for ``deciders == "channel"`` any member of the card's channel from the bot's workspace
(``users.info``: same team, not a stranger; ``conversations.members``). A Slack failure while
checking refuses. Card updates and notes are best effort (logged); the store failing raises
``StoreError`` and the delivery is retried: with ``resume`` the decided approval's outcome is
carried out again (the tool re-runs only if no result was recorded).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from app.agent.tools.base import Toolbox, ToolContext, ToolResult
from app.config import ActionSettings
from app.core import Inbound
from app.core.text import clean_name, quote
from app.slack.cards import ApprovalClick, CardSummary, decided_card, mention
from app.slack.events import BotIdentity
from app.slack.failures import SLACK_FAILURES, describe
from app.slack.format import markdown_message
from app.slack.names import UserNames
from app.store.base import Approval, Approvals

log = logging.getLogger(__name__)

ClickStatus = Literal["ran", "declined", "expired", "refused", "ignored"]
MEMBER_PAGES: Final = 20  # conversations.members pages of 1000 looked at, at most
_STATUSES: Final[dict[str, ClickStatus]] = {
    "approved": "ran",
    "declined": "declined",
    "expired": "expired",
}


class DecisionStore(Approvals, Protocol):
    """What deciding needs of the store: approvals, and a once-only mark across replicas."""

    async def remember_once(self, ref: str) -> bool: ...


@dataclass(frozen=True)
class ClickOutcome:
    """What a click did. ``followup`` (with ``message`` as its text) is the new turn that
    tells the conversation; None: nothing to tell (ignored or refused clicks)."""

    status: ClickStatus
    approval: Approval | None = None
    message: str | None = None
    result: ToolResult | None = None
    followup: Inbound | None = None


def refusal_note(approval: Approval) -> str:
    """The ephemeral note for someone who may not decide ``approval``."""
    if approval.deciders == "asker":
        return f"Only {mention(approval.asked_by)} or an approver can decide this."
    where = f"<#{approval.channel}>" if approval.channel else "this channel"
    return f"Only a member of {where} from this workspace, or an approver, can decide this."


def outcome_message(approval: Approval, name: str, result: ToolResult | None) -> str:
    """The synthetic user message a decided approval becomes, for Claude to report."""
    what = f"{approval.tool} (approval {approval.id})"
    if approval.status == "approved" and result is not None:
        worked = ", but it did not work" if result.is_error else ""
        return (
            f"[Approval] {name} approved {what}{worked}. Result:\n{quote(result.content)}\n"
            "Tell the thread what was done (with the item's number or link)."
        )
    if approval.status == "declined":
        return f"[Approval] {name} declined {what}. Nothing was done; tell the thread."
    return (
        f"[Approval] The approval of {what} expired before anyone decided ({name} clicked "
        "too late). Nothing was done; tell the thread."
    )


class ApprovalDecider:
    """Handles approval clicks (see the module doc).

    ``tools`` runs an approved action (the full toolbox, without the write gate: it was
    approved); ``context_for(approval)`` builds the ``ToolContext`` of the approval's session
    (``link_key`` registering keys for ``approval.session_id``, its thread link, a turn id);
    ``bot`` tells the bot's team; ``names`` (optional) finds display names.
    """

    def __init__(
        self,
        *,
        store: DecisionStore,
        client: AsyncWebClient,
        settings: ActionSettings,
        agent: str,
        tools: Toolbox,
        context_for: Callable[[Approval], Awaitable[ToolContext]],
        bot: Callable[[], BotIdentity],
        names: UserNames | None = None,
    ) -> None:
        self._store = store
        self._client = client
        self._settings = settings
        self._agent = agent
        self._tools = tools
        self._context_for = context_for
        self._bot = bot
        self._names = names

    async def handle_click(
        self, payload: dict[str, Any], *, resume: bool = False, tools: Toolbox | None = None
    ) -> ClickOutcome:
        """Handle a recorded ``approval_click`` delivery. ``resume``: a retry of the same
        delivery (its earlier attempt may have decided already); ``tools`` overrides the
        toolbox for this click (e.g. one that replays what an earlier attempt ran)."""
        try:
            click = ApprovalClick.from_payload(payload)
        except ValueError as exc:
            log.warning("approval click ignored: %s", exc)
            return ClickOutcome("ignored")
        approval = await self._store.get_approval(click.approval_id)
        if approval is None:
            log.info("click on unknown approval %s ignored", click.approval_id)
            return ClickOutcome("ignored")
        if approval.status in ("approved", "declined"):
            mine = approval.status == click.decision and approval.decided_by == click.user_id
            if resume and mine:
                return await self._carry_out(approval, click, tools)
            log.info("approval %s already %s; click ignored", approval.id, approval.status)
            await self._show(approval)
            return ClickOutcome("ignored", approval)
        if not await self._may_decide(approval, click):
            log.info("approval %s: %s may not decide", approval.id, click.user_id)
            await self._note(click, refusal_note(approval))
            return ClickOutcome("refused", approval)
        after = await self._store.decide_approval(approval.id, click.decision, click.user_id)
        if after is None:
            return ClickOutcome("ignored")
        held = after.status == "expired" or (
            after.status == click.decision and after.decided_by == click.user_id
        )
        # One outcome per approval, whoever else clicked the same way at the same moment.
        if not held or not await self._store.remember_once(f"approval:{after.id}:outcome"):
            await self._show(after)
            return ClickOutcome("ignored", after)
        return await self._carry_out(after, click, tools)

    async def _carry_out(
        self, approval: Approval, click: ApprovalClick, tools: Toolbox | None
    ) -> ClickOutcome:
        name = await self._name(click)
        result: ToolResult | None = None
        if approval.status == "approved":
            if approval.result is not None:
                result = ToolResult(approval.result, approval.result_is_error)
            else:
                context = await self._context_for(approval)
                toolbox = tools or self._tools
                result = await toolbox.call(approval.tool, approval.tool_input, context)
                await self._store.record_approval_result(
                    approval.id, result.content, result.is_error
                )
            ok = not result.is_error
            log.info("approval %s approved; %s ran ok=%s", approval.id, approval.tool, ok)
        else:
            log.info("approval %s %s", approval.id, approval.status)
        await self._show(approval, failed=result is not None and result.is_error)
        message = outcome_message(approval, name, result)
        followup = Inbound(
            source="slack",
            key=click.key(self._agent),
            text=message,
            author_id=click.user_id,
            author_name=name,
            channel=approval.channel or click.channel,
            thread_ts=approval.thread_ts,
            team_id=click.team_id,
        )
        return ClickOutcome(_STATUSES[approval.status], approval, message, result, followup)

    async def _may_decide(self, approval: Approval, click: ApprovalClick) -> bool:
        if click.user_id in self._settings.approvers:
            return True
        if approval.deciders == "asker":
            return click.user_id == approval.asked_by
        return await self._workspace_member_of(click, approval.channel or click.channel)

    async def _workspace_member_of(self, click: ApprovalClick, channel: str) -> bool:
        """Whether the clicker is of the bot's workspace and a member of ``channel``."""
        ours = self._bot().team_id
        if ours and click.user_team and click.user_team != ours:
            return False
        try:
            user = (await self._client.users_info(user=click.user_id)).get("user") or {}
            if user.get("is_stranger") or user.get("deleted") or user.get("is_bot"):
                return False
            if ours and user.get("team_id") != ours:
                return False
            cursor: str | None = None
            for _ in range(MEMBER_PAGES):
                page = await self._client.conversations_members(
                    channel=channel, limit=1000, cursor=cursor
                )
                if click.user_id in (page.get("members") or []):
                    return True
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    return False
        except SLACK_FAILURES as exc:
            log.warning("could not check %s in %s: %s", click.user_id, channel, describe(exc))
        return False

    async def _name(self, click: ApprovalClick) -> str:
        found = await self._names.name(click.user_id) if self._names else None
        return clean_name(found or click.user_name, click.user_id)

    async def _show(self, approval: Approval, *, failed: bool = False) -> None:
        """Show the card as ``approval`` now is (best effort)."""
        if approval.status == "pending" or not (approval.channel and approval.card_ts):
            return
        failed = failed or (approval.result is not None and approval.result_is_error)
        card = decided_card(
            CardSummary.from_dict(approval.summary),
            approval.status,
            approval.decided_by,
            failed=failed,
        )
        try:
            await self._client.chat_update(
                channel=approval.channel, ts=approval.card_ts, blocks=card.blocks, text=card.text
            )
        except SLACK_FAILURES as exc:
            log.warning("approval card %s not updated: %s", approval.id, describe(exc))

    async def _note(self, click: ApprovalClick, text: str) -> None:
        try:
            await self._client.chat_postEphemeral(
                channel=click.channel,
                user=click.user_id,
                **markdown_message(text, thread_ts=click.thread_ts),
            )
        except SLACK_FAILURES as exc:
            log.warning("approval note to %s not posted: %s", click.user_id, describe(exc))
