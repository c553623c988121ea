"""The approval card: a Slack message asking a person to approve a write action, and how a
click on its buttons reads. Pure functions: Block Kit in, Block Kit out.

A card shows what will happen, where, the title and the first lines of the body, and who
asked, with two buttons (Approve, Decline) whose ``value`` is the approval id. Once decided
the buttons go and a line says who decided (or that it expired). Everything on a card but the
decider's mention is untrusted text (Claude wrote it, from what people said): it is escaped
for Slack's mrkdwn (``& < >``), shown ``verbatim`` and cut short, so it can ping nobody,
hide no link and not pose as the bot's own words.

A click arrives as a ``block_actions`` payload::

    type "block_actions", container.type "message"      otherwise: not a click on a card
    an action with action_id threadline_approve or
    threadline_decline, type button, value = the id     otherwise: not ours (None)
    user.id, the card's channel and message ts          otherwise: None

``ApprovalClick.delivery_id`` names the click itself (its user and ``action_ts``), so a
redelivered payload is recorded once; ``ApprovalClick.key`` is the conversation the card is
in, the inbox lane that orders the click with that conversation's turns.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final, Literal

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from app.core import ConversationKey
from app.core.keys import DM_MAIN
from app.slack.format import no_group_pings

APPROVE_ACTION: Final = "threadline_approve"
DECLINE_ACTION: Final = "threadline_decline"
ACTIONS_BLOCK: Final = "threadline_approval"
CLICK_KIND: Final = "approval_click"

MAX_TITLE: Final = 150
MAX_LINES: Final = 6  # of the body
MAX_LINE: Final = 200
MAX_EXCERPT: Final = 700
MAX_SECTION: Final = 2900  # Slack allows 3000 characters in a section

Decision = Literal["approved", "declined"]
_DECISIONS: Final[dict[str, Decision]] = {APPROVE_ACTION: "approved", DECLINE_ACTION: "declined"}
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,32}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,9}$")


@dataclass(frozen=True)
class CardSummary:
    """What an approval card says, in plain (untrusted) text; kept as the approval's summary.

    ``action`` is what will happen ("Create a GitHub issue"), ``target`` where ("acme/widgets"),
    ``public`` whether anyone can read it there, ``title`` and ``body`` the content (the body
    is cut to its first lines here), ``asker`` who asked ("Ada Lovelace (U1) in Slack").
    """

    action: str
    target: str = ""
    title: str = ""
    body: str = ""
    asker: str = ""
    public: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "title", one_line(self.title, MAX_TITLE))
        object.__setattr__(self, "body", excerpt(self.body))

    @property
    def headline(self) -> str:
        """One line of plain text: "Create a GitHub issue in acme/widgets (public…)"."""
        where = f" in {self.target}" if self.target else ""
        public = " (public: anyone can read it)" if self.public else ""
        return one_line(f"{self.action}{where}{public}", 300)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CardSummary:
        def text(name: str) -> str:
            value = data.get(name)
            return value if isinstance(value, str) else ""

        return cls(
            action=text("action") or "Run a write action",
            target=text("target"),
            title=text("title"),
            body=text("body"),
            asker=text("asker"),
            public=data.get("public") is True,
        )


@dataclass(frozen=True)
class Card:
    """``chat.postMessage`` / ``chat.update`` content: blocks and the notification text."""

    blocks: list[dict[str, Any]]
    text: str


def one_line(text: str, limit: int) -> str:
    """``text`` on one line, whitespace collapsed, at most ``limit`` characters (with "…")."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def excerpt(body: str) -> str:
    """The first lines of ``body``: at most ``MAX_LINES`` lines of ``MAX_LINE`` characters
    and ``MAX_EXCERPT`` in all, blank lines dropped, "…" where something was cut."""
    lines = [line.rstrip() for line in str(body).replace("\r\n", "\n").split("\n")]
    lines = [line for line in lines if line.strip()]
    kept: list[str] = []
    size = 0
    for line in lines[:MAX_LINES]:
        line = one_line(line, MAX_LINE) if len(line) > MAX_LINE else line
        if size + len(line) > MAX_EXCERPT:
            kept.append("…")
            return "\n".join(kept)
        kept.append(line)
        size += len(line) + 1
    if len(lines) > MAX_LINES:
        kept.append("…")
    return "\n".join(kept)


def escape(text: str) -> str:
    """``text`` for Slack mrkdwn: ``& < >`` escaped (no pings, no disguised links), and the
    bare ``@here``/``@channel``/``@everyone`` words made inert too."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return no_group_pings(escaped)


def mention(user_id: str) -> str:
    """``<@U1>`` for a real Slack user id; anything else is shown as escaped text."""
    return f"<@{user_id}>" if _SLACK_ID.match(user_id) else escape(user_id)


# -- cards ---------------------------------------------------------------------------------


def approval_card(approval_id: str, summary: CardSummary, *, expires_at: datetime) -> Card:
    """The card asking for a decision, with its Approve and Decline buttons."""
    until = _slack_date(expires_at)
    buttons = ActionsBlock(
        block_id=ACTIONS_BLOCK,
        elements=[
            ButtonElement(
                text="Approve", action_id=APPROVE_ACTION, value=approval_id, style="primary"
            ),
            ButtonElement(
                text="Decline", action_id=DECLINE_ACTION, value=approval_id, style="danger"
            ),
        ],
    )
    footer = f"Approval `{escape(approval_id)}` · nothing happens unless approved by {until}"
    blocks = [*_content(summary, "Approval needed"), _context(footer), buttons.to_dict()]
    return Card(blocks, f"Approval needed: {escape(summary.headline)}")


def decided_card(
    summary: CardSummary, status: str, decided_by: str | None, *, failed: bool = False
) -> Card:
    """The card once decided (or expired): no buttons, a line saying what became of it.

    ``status`` is the approval's (``approved``, ``declined``, ``expired``); ``failed``: it was
    approved but running it did not work.
    """
    who = mention(decided_by) if decided_by else "someone"
    if status == "approved":
        heading, short = "Approved", f"Approved by {who}"
        line = short + (": it did not work, see the thread." if failed else "")
    elif status == "declined":
        heading, short = "Declined", f"Declined by {who}"
        line = f"{short}: nothing was done."
    else:
        heading, short = "Expired", "Expired"
        line = "Expired: nothing was done."
    blocks = [*_content(summary, heading), _context(line)]
    return Card(blocks, f"{short}: {escape(summary.headline)}")


def _content(summary: CardSummary, heading: str) -> list[dict[str, Any]]:
    lines = [f"*{heading}:* {escape(summary.headline)}"]
    if summary.title:
        lines.append(f"*Title:* {escape(summary.title)}")
    if summary.body:
        lines.extend(f"> {escape(line)}" for line in summary.body.split("\n"))
    blocks = [_section("\n".join(lines))]
    if summary.asker:
        blocks.append(_context(f"Asked by {escape(summary.asker)}"))
    return blocks


def _section(text: str) -> dict[str, Any]:
    if len(text) > MAX_SECTION:
        text = text[: MAX_SECTION - 1] + "…"
    return SectionBlock(text=MarkdownTextObject(text=text, verbatim=True)).to_dict()


def _context(text: str) -> dict[str, Any]:
    return ContextBlock(elements=[MarkdownTextObject(text=text[:MAX_SECTION])]).to_dict()


def _slack_date(when: datetime) -> str:
    """Slack's date formatting (shown in the reader's time zone), with a UTC fallback."""
    epoch = int(when.timestamp())
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


# -- clicks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalClick:
    """A click on an approval card's button, as recorded in the inbox (``to_payload``)."""

    approval_id: str
    decision: Decision
    user_id: str
    channel: str
    message_ts: str  # the card
    action_ts: str
    thread_ts: str | None = None  # the thread the card is in; None: the top level
    user_name: str | None = None  # Slack's handle for the user, as the payload says
    user_team: str | None = None  # the clicker's own team (another one: Slack Connect)
    team_id: str | None = None  # the workspace the click came through
    trigger_id: str | None = None

    @property
    def delivery_id(self) -> str:
        """The click's own identity: a redelivery of the same payload has the same."""
        return f"slack:action:{self.user_id}:{self.action_ts}"

    def key(self, agent: str) -> str:
        """The conversation the card is in (its thread; a DM's top level is ``main``)."""
        if self.thread_ts:
            thread = self.thread_ts
        elif self.channel.startswith("D"):
            thread = DM_MAIN
        else:
            thread = self.message_ts
        return str(ConversationKey.slack(agent, self.channel, thread))

    def to_payload(self, agent: str) -> dict[str, Any]:
        return {"kind": CLICK_KIND, "source": "slack", "key": self.key(agent), **asdict(self)}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ApprovalClick:
        """The click recorded by ``to_payload``; ``ValueError`` for anything else."""
        if payload.get("kind") != CLICK_KIND:
            raise ValueError("not an approval click")
        fields = set(cls.__dataclass_fields__)
        try:
            click = cls(**{k: v for k, v in payload.items() if k in fields})
        except TypeError as exc:
            raise ValueError(f"incomplete approval click: {exc}") from None
        if click.decision not in ("approved", "declined"):
            raise ValueError("unknown decision")
        return click


def approval_click(body: dict[str, Any]) -> ApprovalClick | None:
    """The approval click in a ``block_actions`` payload, or None when it is not one."""
    if body.get("type") != "block_actions":
        return None
    container = _dict(body.get("container"))
    message = _dict(body.get("message"))
    if container.get("type") != "message" or container.get("is_ephemeral") is True:
        return None
    action = next((a for a in _list(body.get("actions")) if _is_ours(a)), None)
    if action is None:
        return None
    user = _dict(body.get("user"))
    user_id = _text(user.get("id"))
    channel = _text(container.get("channel_id")) or _text(_dict(body.get("channel")).get("id"))
    message_ts = _ts(container.get("message_ts")) or _ts(message.get("ts"))
    action_ts = _ts(action.get("action_ts"))
    if not (user_id and _SLACK_ID.match(user_id) and channel and _SLACK_ID.match(channel)):
        return None
    if not (message_ts and action_ts):
        return None
    thread_ts = _ts(container.get("thread_ts")) or _ts(message.get("thread_ts"))
    return ApprovalClick(
        approval_id=str(action["value"]),
        decision=_DECISIONS[str(action["action_id"])],
        user_id=user_id,
        channel=channel,
        message_ts=message_ts,
        action_ts=action_ts,
        thread_ts=thread_ts,
        user_name=_text(user.get("username")) or _text(user.get("name")),
        user_team=_text(user.get("team_id")),
        team_id=_text(_dict(body.get("team")).get("id")),
        trigger_id=_text(body.get("trigger_id")),
    )


def _is_ours(action: Any) -> bool:
    return (
        isinstance(action, dict)
        and action.get("action_id") in _DECISIONS
        and action.get("type") == "button"
        and isinstance(action.get("value"), str)
        and bool(_ID.match(action["value"]))
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _ts(value: Any) -> str | None:
    return value if isinstance(value, str) and _TS.match(value) else None
