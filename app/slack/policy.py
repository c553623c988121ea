"""Who may speak to the bot in Slack, and where: one pure decision at the edge.

A message that is refused is acknowledged but never recorded (no transcript, no model call);
the person gets a short ephemeral note saying which setting keeps the bot quiet, at most once
an hour (the Bolt middleware does that), except people of another organisation under
``EXTERNAL_USERS=ignore``, who are ignored without a word.

The checks, in order (the first that fails decides):

========================  ===========================================  =====================
check                     refused when                                 reason (metric label)
========================  ===========================================  =====================
``EXTERNAL_USERS``        the author is external and it is ``ignore``  ``external_ignored``
``ALLOW_DMS``             a DM, and DMs are off                        ``dms_off``
``ALLOWED_CHANNELS``      the place is not listed (see below)          ``channel_not_allowed``
``ALLOWED_USERS``         the list is set and the author is not in it  ``user_not_allowed``
commands (``/reset``)     external author under ``chat``               ``external_command``
========================  ===========================================  =====================

``ALLOWED_CHANNELS`` lists Slack conversation ids of any kind. Empty, it allows every place.
DMs are governed by ``ALLOW_DMS`` and pass the list unless it names DMs (``D…`` ids): then only
the DMs named are allowed. Any other place must be listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from app.config import TrustSettings
from app.core import Inbound
from app.slack.events import BotIdentity

NOTE_CHANNEL: Final = (
    "I'm not set up to answer in this channel. An admin can change that (ALLOWED_CHANNELS)."
)
NOTE_DM: Final = "I'm not set up to answer in this DM. An admin can change that (ALLOWED_CHANNELS)."
NOTE_DMS_OFF: Final = "I don't answer direct messages. An admin can change that (ALLOW_DMS)."
NOTE_USER: Final = "I'm not set up to answer you. An admin can change that (ALLOWED_USERS)."
NOTE_EXTERNAL_COMMAND: Final = (
    "I can chat with people from other organisations here, but commands are for members "
    "of this workspace only."
)


@dataclass(frozen=True)
class Speaker:
    """Who is speaking, and where: what the policy looks at."""

    user: str
    channel: str
    is_dm: bool
    external: bool


@dataclass(frozen=True)
class Decision:
    """``reason`` None: allowed. Otherwise refused, and ``note`` (if any) tells the person."""

    reason: str | None = None
    note: str | None = None

    @property
    def allowed(self) -> bool:
        return self.reason is None


ALLOWED: Final = Decision()


def decide(speaker: Speaker, trust: TrustSettings, *, command: bool = False) -> Decision:
    """Whether ``speaker`` may be answered (``command``: may run a command) (pure)."""
    if speaker.external and trust.external_users == "ignore":
        return Decision("external_ignored")
    if speaker.is_dm and not trust.allow_dms:
        return Decision("dms_off", NOTE_DMS_OFF)
    if not _place_allowed(speaker, trust.allowed_channels):
        return Decision("channel_not_allowed", NOTE_DM if speaker.is_dm else NOTE_CHANNEL)
    if trust.allowed_users and speaker.user not in trust.allowed_users:
        return Decision("user_not_allowed", NOTE_USER)
    if command and speaker.external and trust.external_users != "full":
        return Decision("external_command", NOTE_EXTERNAL_COMMAND)
    return ALLOWED


def may_click_approvals(user: str, trust: TrustSettings, approvers: frozenset[str]) -> bool:
    """Whether ``user``'s decision on an approval card counts at all (pure): someone
    ``ALLOWED_USERS`` leaves out decides nothing, unless they are one of ``APPROVERS``. Which
    approvals a person may then decide is the worker's rule (``app.turns.approvals``)."""
    return not trust.allowed_users or user in trust.allowed_users or user in approvers


def _place_allowed(speaker: Speaker, allowed: frozenset[str]) -> bool:
    if not allowed or speaker.channel in allowed:
        return True
    # A DM passes a list of channels; a list that names DMs allows only those.
    return speaker.is_dm and not any(place.startswith("D") for place in allowed)


def inbound_speaker(inbound: Inbound) -> Speaker:
    return Speaker(
        user=inbound.author_id,
        channel=inbound.channel or "",
        is_dm=inbound.is_dm,
        external=inbound.external,
    )


def command_speaker(command: dict[str, Any], bot: BotIdentity) -> Speaker:
    """The speaker of a slash command. A command names the team it came from; one that is
    not the bot's is another organisation's (a Slack Connect member)."""
    channel = str(command.get("channel_id") or "")
    team = command.get("user_team_id") or command.get("user_team") or command.get("team_id")
    return Speaker(
        user=str(command.get("user_id") or ""),
        channel=channel,
        is_dm=channel.startswith("D") or command.get("channel_name") == "directmessage",
        external=bool(bot.team_id and isinstance(team, str) and team and team != bot.team_id),
    )
