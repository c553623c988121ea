"""The write gate: one turn's write tools, capped and (where the settings say) approved first.

``WriteGate`` is a ``Toolbox`` around the turn's tools. Read-only tools pass straight through;
a write tool (``app.agent.tools.base.WRITE_TOOLS`` or ``writes = True``) goes through:

1. **the cap**: at most ``MAX_WRITES_PER_TURN`` write calls in the turn, over all tool rounds
   (a call waiting for approval counts); any further call gets an error result and nothing
   runs, so Claude answers with what it did;
2. **approval** (``TOOL_APPROVAL``)::

       always      every write call
       untrusted   the turn came from a GitHub/Jira comment, or from someone of another
                   organisation, or the tool writes to a public place (``target_audience``)
       never       no write call

   An approved-first call does not run. The gate records an ``Approval`` (tool, input, what
   the card shows, who may decide), posts the card in the conversation's Slack thread and
   answers "Waiting for approval from … (approval <id>): …" (not an error), so Claude ends its
   turn normally and the stored transcript stays valid. The click is a delivery of its own
   (``app.turns.approvals``). The same call asked again while its card is pending gets the
   same answer, not a second card.

Who may decide (``deciders``): ``asker`` (the Slack user who asked, and ``APPROVERS``) for a
Slack turn by a person of the workspace; ``channel`` (any member of the card's channel from
the workspace, and ``APPROVERS``) for a comment-started turn or one by an outsider, who must
not approve their own request. Nothing here raises: failures come back as error results.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from slack_sdk.web.async_client import AsyncWebClient

from app.agent.tools.base import WRITE_TOOLS, Toolbox, ToolContext, ToolResult, WriteAware
from app.config import ActionSettings
from app.core import Audience, ConversationKey, Inbound
from app.core.text import clean_name
from app.errors import StoreError
from app.slack.cards import CardSummary, approval_card
from app.slack.failures import SLACK_FAILURES, describe
from app.store.base import Approval, Approvals

log = logging.getLogger(__name__)

PostCard = Callable[[list[dict[str, Any]], str], Awaitable[str | None]]
PLATFORM_TITLES: Final = {"slack": "Slack", "github": "GitHub", "jira": "Jira"}
# Withdrawn approvals (their card could not be posted) are declined by this name.
WITHDRAWN_BY: Final = "threadline"


@dataclass(frozen=True)
class CardThread:
    """Where a turn's approval cards go: the conversation's Slack thread, and how to post
    there (``post(blocks, text)`` answers the card's ts, or None when it was not posted)."""

    channel: str
    thread_ts: str | None
    post: PostCard


def slack_card_thread(client: AsyncWebClient, key: ConversationKey | None) -> CardThread | None:
    """The ``CardThread`` of a Slack conversation key (None: no Slack conversation)."""
    if key is None or key.platform != "slack":
        return None
    channel, thread = key.slack_place

    async def post(blocks: list[dict[str, Any]], text: str) -> str | None:
        try:
            response = await client.chat_postMessage(
                channel=channel,
                thread_ts=thread,
                blocks=blocks,
                text=text,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SLACK_FAILURES as exc:
            log.warning("approval card not posted in %s: %s", key, describe(exc))
            return None
        ts = response.get("ts")
        return ts if isinstance(ts, str) else None

    return CardThread(channel, thread, post)


# -- pure decisions --------------------------------------------------------------------------


def needs_approval(mode: str, *, from_comment: bool, external: bool, public_target: bool) -> bool:
    """Whether a write call waits for a person under ``TOOL_APPROVAL=mode``."""
    if mode == "never":
        return False
    if mode == "untrusted":
        return from_comment or external or public_target
    return True  # "always", and any value the settings would not let through


def deciders_for(inbound: Inbound, *, from_comment: bool) -> str:
    """``asker`` for a workspace member's Slack turn, else ``channel`` (see the module doc)."""
    if inbound.source == "slack" and not inbound.external and not from_comment:
        return "asker"
    return "channel"


def asked_by(inbound: Inbound) -> str:
    """The approval's ``asked_by``: a Slack user id, or ``{platform}:{id}`` for anyone else
    (so nobody elsewhere can share a Slack user's id)."""
    if inbound.source == "slack":
        return inbound.author_id
    return f"{inbound.source}:{inbound.author_id}"


def asker_label(inbound: Inbound, *, from_comment: bool) -> str:
    """Who asked, for the card: "Ada Lovelace (U1) in Slack", "octocat in a GitHub comment
    on acme/widgets#7"."""
    name = clean_name(inbound.author_name, clean_name(inbound.author_id))
    place = PLATFORM_TITLES.get(inbound.source, clean_name(inbound.source))
    if from_comment:
        on = f" on {clean_name(inbound.item_ref)}" if inbound.item_ref else ""
        return f"{name} in a {place} comment{on}"
    outsider = ", of another organisation," if inbound.external else ""
    return f"{name} ({clean_name(inbound.author_id)}){outsider} in {place}"


def summarize(tool: str, args: dict[str, Any], *, asker: str, public: bool) -> CardSummary:
    """What the card says a call of ``tool`` with ``args`` will do (args as Claude sent
    them, not yet checked: every value is shown as text)."""

    def arg(name: str) -> str:
        value = args.get(name)
        return "" if value is None else str(value)

    def card(action: str, target: str = "", title: str = "", body: str = "") -> CardSummary:
        return CardSummary(action, target, title, body, asker, public)

    match tool:
        case "create_github_issue":
            return card("Create a GitHub issue", arg("repo"), arg("title"), arg("body"))
        case "link_github_issue":
            return card(f"Link GitHub issue {arg('repo')}#{arg('number')} to this conversation")
        case "create_jira_ticket":
            kind = arg("issue_type") or "ticket"
            project = f"project {arg('project_key')}"
            return card(f"Create a Jira {kind}", project, arg("summary"), arg("description"))
        case "link_jira_ticket":
            return card(f"Link Jira ticket {arg('key')} to this conversation")
        case "start_background_job":
            return card("Start a background job", arg("repo"), arg("title"), arg("instructions"))
        case "continue_background_job":
            return card(f"Continue background job {arg('job_id')}", body=arg("instructions"))
        case "cancel_background_job":
            return card(f"Cancel background job {arg('job_id')}")
    shown = json.dumps(args, ensure_ascii=False, sort_keys=True, default=str)
    return card(f"Run {tool}", body=shown)


# -- what Claude reads -------------------------------------------------------------------------


def waiting_result(approval: Approval, who: str, summary: CardSummary) -> ToolResult:
    return ToolResult(
        f"Waiting for approval from {who} (approval {approval.id}): {summary.headline}. "
        "Nothing has been done yet. An approval card with Approve and Decline buttons is in "
        "the Slack thread; the decision comes back to this conversation as a new message. "
        f"Do not call {approval.tool} again for this: end your turn and tell the user it is "
        "waiting for approval."
    )


def cap_result(name: str, cap: int) -> ToolResult:
    if cap == 0:
        return ToolResult(
            f"Not run: write actions are turned off here (MAX_WRITES_PER_TURN is 0), so {name} "
            "did nothing. Tell the user it cannot be done from here.",
            is_error=True,
        )
    return ToolResult(
        f"Not run: the limit of {cap} write actions per turn was reached "
        f"(MAX_WRITES_PER_TURN), so this {name} call did nothing. Do not retry it in this "
        "turn: tell the user what was done and what was not; they can ask for the rest in a "
        "new message.",
        is_error=True,
    )


def no_thread_result(name: str) -> ToolResult:
    return ToolResult(
        f"Not run: {name} needs a person's approval here, and approval cannot be asked here: "
        "this conversation has no Slack thread for the approval card. Nothing was done; tell "
        "the user.",
        is_error=True,
    )


def not_asked_result(name: str, turn_id: str, why: str) -> ToolResult:
    return ToolResult(
        f"Not run: {name} needs a person's approval, but {why} (turn {turn_id}). Nothing was "
        "done; tell the user it did not work and that they can ask again later.",
        is_error=True,
    )


# -- the gate ----------------------------------------------------------------------------------


class WriteGate:
    """A ``Toolbox`` for one turn that caps its write calls and asks for approval first where
    ``settings.tool_approval`` says (see the module doc).

    ``from_comment``: the turn came from a comment on an item (the surface's ``is_item``).
    ``card_thread(session_id)``: where that session's approval cards go (its Slack thread),
    None when it has none; asked only when a card is needed. The session and turn come from
    each call's ``ToolContext`` (a fresh retry runs on a new session).
    """

    def __init__(
        self,
        inner: Toolbox,
        *,
        approvals: Approvals,
        settings: ActionSettings,
        inbound: Inbound,
        from_comment: bool,
        card_thread: Callable[[str], Awaitable[CardThread | None]],
        on_asked: Callable[[Approval], None] | None = None,
    ) -> None:
        self._inner = inner
        self._approvals = approvals
        self._settings = settings
        self._inbound = inbound
        self._from_comment = from_comment
        self._card_thread = card_thread
        self._on_asked = on_asked  # told of each card posted (App Home tabs show it)
        self.writes_called = 0

    def restart(self) -> None:
        """The turn runs again from the start: its writes are counted from zero (the ones that
        already ran are replayed, not run again)."""
        self.writes_called = 0

    @property
    def names(self) -> list[str]:
        return self._inner.names

    def definitions(self) -> list[dict[str, Any]]:
        return self._inner.definitions()

    def is_write(self, name: str) -> bool:
        if isinstance(self._inner, WriteAware):
            return self._inner.writes(name)
        return name in WRITE_TOOLS

    async def call(self, name: str, args: Any, ctx: ToolContext) -> ToolResult:
        if not self.is_write(name):
            return await self._inner.call(name, args, ctx)
        self.writes_called += 1
        cap = self._settings.max_writes_per_turn
        if self.writes_called > cap:
            log.info("write cap reached: %s not run turn=%s", name, ctx.turn_id)
            return cap_result(name, cap)
        mode = self._settings.tool_approval
        if mode == "never" or not isinstance(args, dict):
            return await self._inner.call(name, args, ctx)
        public = await self._target(name, args) is Audience.PUBLIC
        external = self._inbound.external
        if not needs_approval(
            mode, from_comment=self._from_comment, external=external, public_target=public
        ):
            return await self._inner.call(name, args, ctx)
        try:
            return await self._ask(name, args, ctx, public)
        except StoreError as exc:
            log.error("approval of %s not recorded turn=%s: %s", name, ctx.turn_id, exc)
            return not_asked_result(name, ctx.turn_id, "my database is unavailable")

    async def _target(self, name: str, args: dict[str, Any]) -> Audience | None:
        if isinstance(self._inner, WriteAware):
            return await self._inner.target_audience(name, args)
        return None

    async def _ask(
        self, name: str, args: dict[str, Any], ctx: ToolContext, public: bool
    ) -> ToolResult:
        deciders = deciders_for(self._inbound, from_comment=self._from_comment)
        label = asker_label(self._inbound, from_comment=self._from_comment)
        summary = summarize(name, args, asker=label, public=public)
        who = self._who(deciders)
        for waiting in await self._approvals.pending_approvals(ctx.session_id):
            if waiting.tool == name and waiting.tool_input == args and waiting.card_ts:
                return waiting_result(waiting, who, summary)
        thread = await self._card_thread(ctx.session_id)
        if thread is None:
            return no_thread_result(name)
        approval = await self._approvals.create_approval(
            session_id=ctx.session_id,
            turn_id=ctx.turn_id,
            tool=name,
            tool_input=args,
            summary=summary.to_dict(),
            asked_by=asked_by(self._inbound),
            deciders=deciders,
            channel=thread.channel,
            thread_ts=thread.thread_ts,
            ttl_seconds=self._settings.approval_ttl_seconds,
        )
        card = approval_card(approval.id, summary, expires_at=approval.expires_at)
        ts = await thread.post(card.blocks, card.text)
        if ts is None:
            # Nobody can click a card that is not there: withdraw it, so it is not "pending".
            await self._approvals.decide_approval(approval.id, "declined", WITHDRAWN_BY)
            return not_asked_result(name, ctx.turn_id, "the approval card could not be posted")
        await self._approvals.set_approval_card(approval.id, ts)
        log.info("approval %s asked for %s turn=%s", approval.id, name, ctx.turn_id)
        if self._on_asked is not None:
            self._on_asked(approval)
        return waiting_result(approval, who, summary)

    def _who(self, deciders: str) -> str:
        if deciders == "asker":
            name = clean_name(self._inbound.author_name, clean_name(self._inbound.author_id))
            return f"{name} (who asked) or an approver"
        return "a member of the Slack channel from this workspace, or an approver"
