"""Turning Slack payloads into ``Inbound`` messages and reset plans: pure functions.

Besides what to answer, the edge reads two facts of trust from each event:

* **external**: the author belongs to another organisation (Slack Connect). Their team
  (``user_team``, else ``team``, else ``source_team`` of the event) is not the bot's team nor
  one the event was authorised for. A channel the event marks as not externally shared
  (``is_ext_shared_channel: false``) holds nobody from another organisation, so colleagues
  from another workspace of the same Enterprise Grid org are not external there.
* **audience**: ``is_ext_shared_channel: true`` makes the place ``PUBLIC``, ``false``
  ``INTERNAL``; a DM is internal unless the person in it is external. Without the flag a
  channel's audience is left to ``SlackSurface.audience`` (which asks Slack).

A message longer than ``max_chars`` (``MAX_MESSAGE_CHARS``) is cut here, at the edge
(``app.core.bounds.cut_message``), and its original length kept in ``Inbound.cut_from``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlparse

from app.config import ActionSettings
from app.core import Audience, ConversationKey, Inbound
from app.core.bounds import cut_message
from app.core.keys import DM_MAIN
from app.slack.format import strip_mentions

# Subtypes that are a person writing something new; everything else (edits, deletions,
# joins, bot messages, topic changes...) is ignored.
_USER_SUBTYPES = {None, "file_share", "thread_broadcast"}
# Slack's own system messages ("You have been removed from #channel") come from this user.
SLACKBOT: Final = "USLACKBOT"

Command = Literal["reset", "links", "mute", "unmute", "jobs"]


@dataclass(frozen=True)
class BotIdentity:
    user_id: str | None
    bot_id: str | None
    team_id: str | None = None


def delivery_id(inbound: Inbound) -> str:
    """The dedup id of a Slack message: the same message arrives as ``app_mention`` and
    ``message``, and Slack redelivers with the same ``event_id``; channel and ``ts`` name it
    uniquely in both cases."""
    return f"slack:{inbound.channel}:{inbound.ts}"


def inbound_from_event(
    body: dict[str, Any],
    *,
    agent: str,
    bot: BotIdentity,
    max_chars: int = ActionSettings.max_message_chars,
    mentioned_only: bool = True,
) -> Inbound | None:
    """The message to answer in an Events API payload, or None when it is not for us; its
    text cut to ``max_chars`` (see the module docstring). ``mentioned_only=False`` also reads
    a channel message that does not mention the bot (``app.slack.follow`` decides on those)."""
    if body.get("type") != "event_callback":
        return None
    event = body.get("event")
    if not isinstance(event, dict):
        return None
    kind = event.get("type")
    if kind not in ("app_mention", "message"):
        return None
    if event.get("subtype") not in _USER_SUBTYPES or event.get("hidden"):
        return None
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if not (isinstance(user, str) and isinstance(channel, str) and isinstance(ts, str)):
        return None
    if event.get("bot_id") or event.get("bot_profile") or user in (bot.user_id, SLACKBOT):
        return None
    raw_text = event.get("text")
    text = raw_text if isinstance(raw_text, str) else ""
    is_dm = event.get("channel_type") == "im" or channel.startswith("D")
    if kind == "message" and not is_dm and mentioned_only and not _mentions(text, bot.user_id):
        return None  # channel chatter without a mention is not addressed to us
    thread_ts = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else None
    if is_dm:
        in_thread = thread_ts is not None and thread_ts != ts
        conversation = thread_ts if in_thread and thread_ts else DM_MAIN
        reply_thread = thread_ts if in_thread else None
    else:
        # A top-level mention starts a thread under that very message.
        conversation = thread_ts or ts
        reply_thread = conversation
    team = event.get("team") or body.get("team_id")
    external = is_external(body, event, bot)
    kept, cut_from = cut_message(strip_mentions(text, bot.user_id), max_chars)
    return Inbound(
        source="slack",
        key=str(ConversationKey.slack(agent, channel, conversation)),
        text=kept,
        author_id=user,
        channel=channel,
        thread_ts=reply_thread,
        ts=ts,
        team_id=team if isinstance(team, str) else None,
        is_dm=is_dm,
        audience=_place_audience(body, is_dm=is_dm, external=external),
        external=external,
        cut_from=cut_from,
    )


def author_team(event: dict[str, Any]) -> str | None:
    """The team (workspace) of an event's author, as the event names it."""
    for field in ("user_team", "team", "source_team"):
        value = event.get(field)
        if isinstance(value, str) and value:
            return value
    return None


def our_teams(body: dict[str, Any], bot: BotIdentity) -> frozenset[str]:
    """The bot's own team and the teams this event was authorised for (never the wrapper's
    ``team_id``, which in a shared channel can be the other organisation's)."""
    teams = {bot.team_id} if bot.team_id else set()
    for grant in body.get("authorizations") or ():
        if isinstance(grant, dict) and isinstance(grant.get("team_id"), str):
            teams.add(grant["team_id"])
    return frozenset(teams)


def is_external(body: dict[str, Any], event: dict[str, Any], bot: BotIdentity) -> bool:
    """Whether the author of ``event`` belongs to another organisation (see the module doc)."""
    if body.get("is_ext_shared_channel") is False:
        return False
    team, ours = author_team(event), our_teams(body, bot)
    return bool(team and ours) and team not in ours


def _place_audience(body: dict[str, Any], *, is_dm: bool, external: bool) -> str | None:
    shared = body.get("is_ext_shared_channel")
    if shared is True or (is_dm and external):
        return Audience.PUBLIC.value
    if shared is False or is_dm:
        return Audience.INTERNAL.value
    return None  # the surface asks Slack


def _mentions(text: str, bot_user_id: str | None) -> bool:
    return bool(bot_user_id) and f"<@{bot_user_id}" in text


def command_of(text: str) -> Command | None:
    """``reset``, ``links``, ``mute``, ``unmute`` and ``jobs`` typed on their own (after the
    mention) are commands."""
    word = text.strip().strip(".!").lower()
    if word in ("reset", "/reset", "start over"):
        return "reset"
    if word in ("links", "/links"):
        return "links"
    if word == "mute":
        return "mute"
    if word == "unmute":
        return "unmute"
    if word in ("jobs", "/jobs"):
        return "jobs"
    return None


# /reset ------------------------------------------------------------------------------------

_LINK = re.compile(r"https?://[^\s<>|]+/archives/([A-Z0-9]+)/p(\d{16})[^\s<>|]*")


@dataclass(frozen=True)
class ResetPlan:
    key: str | None  # the conversation to reset; None: explain how
    where: str  # human description for the confirmation
    refusal: str | None = None  # why this reset is not allowed from here


def plan_reset(command: dict[str, Any], *, agent: str) -> ResetPlan:
    """Decide what ``/reset [thread link]`` resets. Slash commands carry no thread_ts, so a
    thread is named by its link; in a DM, ``/reset`` alone resets the DM's conversation."""
    text = str(command.get("text") or "")
    channel = str(command.get("channel_id") or "")
    match = _LINK.search(text.replace("<", " ").replace(">", " "))
    if match:
        link_channel, digits = match.group(1), match.group(2)
        query = parse_qs(urlparse(match.group(0)).query)
        thread = query.get("thread_ts", [f"{digits[:10]}.{digits[10:]}"])[0]
        if link_channel != channel:
            # Only people in the thread's own channel may reset it: a link alone must not
            # let anyone wipe a private channel's or another person's DM conversation.
            return ResetPlan(
                None,
                "",
                f"Run `/reset` with that link in <#{link_channel}>, where the thread is.",
            )
        return ResetPlan(str(ConversationKey.slack(agent, link_channel, thread)), "that thread")
    if channel.startswith("D") or command.get("channel_name") == "directmessage":
        return ResetPlan(str(ConversationKey.slack(agent, channel, DM_MAIN)), "this DM")
    return ResetPlan(None, "")


RESET_HELP = (
    "To start a conversation over, mention me in its thread with `reset` "
    "(for example `@Threadline reset`), or use `/reset <link to the thread>` here. "
    "In a DM with me, `/reset` on its own starts our DM conversation over."
)
