"""What a person's App Home tab shows (``app.slack.home`` publishes it): pure functions.

Only what the person may see goes in: the places and links of their conversations (nothing
said in them), the headlines of approvals they may decide (as the store found them), their
budget. Every piece of text from elsewhere (an approval's summary) is escaped for mrkdwn, and
the view stays within Block Kit's limits (at most 10 conversations, 10 approvals and 10 jobs:
about 40 blocks of the 100 allowed; every text cut to 3,000 characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from app.core.keys import ConversationKey
from app.slack.cards import CardSummary, escape, mention, one_line
from app.store.base import Approval, Job, SpokenIn

_CHANNEL_ID: Final = re.compile(r"^[CDG][A-Z0-9]{1,31}$")
_TS: Final = re.compile(r"^\d{1,12}\.\d{1,9}$")


@dataclass(frozen=True)
class Conversation:
    channel: str
    in_dm: bool
    thread: bool  # a thread (of a channel or of the DM), not the DM's top level
    link: str | None
    last_active: datetime


@dataclass(frozen=True)
class Budget:
    label: str  # "You" / "The team"
    used: int
    budget: int


@dataclass(frozen=True)
class HomeContent:
    conversations: list[Conversation] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)
    dashboard_url: str | None = None
    workspace_url: str | None = None
    jobs: list[Job] = field(default_factory=list)


def home_view(content: HomeContent) -> dict[str, Any]:
    """The Home tab's view for ``content`` (Block Kit, well within Slack's limits)."""
    blocks: list[dict[str, Any]] = [_header("Your conversations")]
    if content.conversations:
        blocks += [_section(_conversation_line(c)) for c in content.conversations]
    else:
        blocks.append(
            _section("No conversations yet. Mention me in a channel's thread, or send me a DM.")
        )
    if content.approvals:
        blocks += [{"type": "divider"}, _header("Waiting for your approval")]
        blocks += [_section(_approval_line(a, content.workspace_url)) for a in content.approvals]
    if content.jobs:
        blocks += [{"type": "divider"}, _header("Your background jobs")]
        blocks += [_section(_job_line(j)) for j in content.jobs]
    if content.budgets:
        blocks += [{"type": "divider"}, _header("Today's usage")]
        blocks.append(_context(" · ".join(_budget_line(b) for b in content.budgets)))
    if content.dashboard_url:
        button = {
            "type": "button",
            "action_id": "home_dashboard",
            "text": {"type": "plain_text", "text": "Open the dashboard"},
            "url": content.dashboard_url,
        }
        blocks += [{"type": "divider"}, {"type": "actions", "elements": [button]}]
    return {"type": "home", "blocks": blocks}


REFUSED_TEXT: Final = (
    "I'm not available to you in this workspace. If you think you should be able to use me, "
    "ask the people who run me here."
)


def refused_view() -> dict[str, Any]:
    """The tab of someone the access policy leaves out: one neutral line, nothing read from
    the store, no invitation to talk."""
    return {"type": "home", "blocks": [_section(REFUSED_TEXT)]}


def conversation_of(spoken: SpokenIn, workspace_url: str | None) -> Conversation | None:
    """How a session the person wrote in is shown: its Slack place and link; None when no
    Slack key leads to it."""
    for key in spoken.keys:
        try:
            parsed = ConversationKey.parse(key)
        except ValueError:
            continue
        if parsed.platform != "slack":
            continue
        channel, thread = parsed.slack_place
        link = slack_link(workspace_url, channel, thread)
        in_dm = channel.startswith("D")
        return Conversation(channel, in_dm, thread is not None, link, spoken.session.last_active_at)
    return None


def slack_link(
    workspace_url: str | None, channel: str, ts: str | None, thread_ts: str | None = None
) -> str | None:
    """The web link of a channel or DM, or of a message in it (a reply: ``thread_ts``)."""
    if not workspace_url or not _CHANNEL_ID.match(channel):
        return None
    base = f"{workspace_url.rstrip('/')}/archives/{channel}"
    if ts is None:
        return base
    if not _TS.match(ts):
        return None
    link = f"{base}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts and _TS.match(thread_ts):
        link += f"?thread_ts={thread_ts}&cid={channel}"
    return link


def _conversation_line(c: Conversation) -> str:
    if c.in_dm:
        place = "A thread in our DM" if c.thread else "Our DM"
        shown = f"<{c.link}|{place}>" if c.link else place
    else:
        shown = f"<#{c.channel}>" + (f" · <{c.link}|open the thread>" if c.link else "")
    return f"{shown} · active {_slack_date(c.last_active)}"


def _approval_line(a: Approval, workspace_url: str | None) -> str:
    summary = CardSummary.from_dict(a.summary)
    line = f"*{escape(summary.headline)}*"
    if summary.title:
        line += f"\n{escape(one_line(summary.title, 200))}"
    line += f"\nAsked by {mention(a.asked_by)} · expires {_slack_date(a.expires_at)}"
    link = slack_link(workspace_url, a.channel, a.card_ts, a.thread_ts) if a.channel else None
    return line + (f" · <{link}|see the card>" if link else "")


def _job_line(job: Job) -> str:
    line = f"*{escape(one_line(job.title, 200))}*"
    if job.repo:
        line += f" in {escape(job.repo)}"
    again = f" · follow-ups: {job.resume_count}" if job.resume_count else ""
    return f"{line}\nStarted {_slack_date(job.created_at)}{again} · job `{escape(job.id)}`"


def _budget_line(b: Budget) -> str:
    verb = "have" if b.label == "You" else "has"
    return f"{b.label} {verb} used {b.used:,} of {b.budget:,} tokens today (resets at midnight UTC)"


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000], "verbatim": True}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _slack_date(when: datetime) -> str:
    epoch = int(when.timestamp())
    fallback = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


def day_start(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day, when the daily budgets start counting."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
