"""Who may speak to the bot in Slack: the access policy and the trust facts read from events
(pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.config import TrustSettings
from app.core import Audience
from app.slack.events import BotIdentity, inbound_from_event
from app.slack.policy import (
    NOTE_CHANNEL,
    NOTE_DM,
    NOTE_DMS_OFF,
    NOTE_EXTERNAL_COMMAND,
    NOTE_USER,
    Speaker,
    command_speaker,
    decide,
)
from tests.harness import dm, event_body, mention

BOT = BotIdentity("UBOT", "BBOT", "T1")
OPEN = TrustSettings()
IN_C1 = Speaker(user="U1", channel="C1", is_dm=False, external=False)
IN_DM = Speaker(user="U1", channel="D1", is_dm=True, external=False)
GUEST = Speaker(user="U9", channel="C1", is_dm=False, external=True)


@pytest.mark.parametrize(
    ("speaker", "trust", "reason", "note"),
    [
        (IN_C1, OPEN, None, None),
        (IN_DM, OPEN, None, None),
        # ALLOWED_CHANNELS
        (IN_C1, TrustSettings(allowed_channels=frozenset({"C1"})), None, None),
        (
            IN_C1,
            TrustSettings(allowed_channels=frozenset({"C2"})),
            "channel_not_allowed",
            NOTE_CHANNEL,
        ),
        # a DM passes a list of channels, unless the list names DMs
        (IN_DM, TrustSettings(allowed_channels=frozenset({"C2"})), None, None),
        (IN_DM, TrustSettings(allowed_channels=frozenset({"D1"})), None, None),
        (
            IN_DM,
            TrustSettings(allowed_channels=frozenset({"C2", "D7"})),
            "channel_not_allowed",
            NOTE_DM,
        ),
        (
            IN_C1,
            TrustSettings(allowed_channels=frozenset({"D7"})),
            "channel_not_allowed",
            NOTE_CHANNEL,
        ),
        # ALLOW_DMS
        (IN_DM, TrustSettings(allow_dms=False), "dms_off", NOTE_DMS_OFF),
        (IN_C1, TrustSettings(allow_dms=False), None, None),
        (
            IN_DM,
            TrustSettings(allow_dms=False, allowed_channels=frozenset({"D1"})),
            "dms_off",
            NOTE_DMS_OFF,
        ),
        # ALLOWED_USERS
        (IN_C1, TrustSettings(allowed_users=frozenset({"U1"})), None, None),
        (IN_C1, TrustSettings(allowed_users=frozenset({"U2"})), "user_not_allowed", NOTE_USER),
        (IN_DM, TrustSettings(allowed_users=frozenset({"U2"})), "user_not_allowed", NOTE_USER),
        # EXTERNAL_USERS
        (GUEST, TrustSettings(external_users="ignore"), "external_ignored", None),
        (GUEST, TrustSettings(external_users="chat"), None, None),
        (GUEST, TrustSettings(external_users="full"), None, None),
        (IN_C1, TrustSettings(external_users="ignore"), None, None),
        # an external user is held to the lists too
        (GUEST, TrustSettings(allowed_users=frozenset({"U1"})), "user_not_allowed", NOTE_USER),
    ],
)
def test_messages(
    speaker: Speaker, trust: TrustSettings, reason: str | None, note: str | None
) -> None:
    decision = decide(speaker, trust)
    assert (decision.reason, decision.note) == (reason, note)
    assert decision.allowed is (reason is None)


@pytest.mark.parametrize(
    ("external_users", "reason", "note"),
    [
        ("chat", "external_command", NOTE_EXTERNAL_COMMAND),
        ("full", None, None),
        ("ignore", "external_ignored", None),
    ],
)
def test_commands_of_external_users(
    external_users: str, reason: str | None, note: str | None
) -> None:
    decision = decide(GUEST, TrustSettings(external_users=external_users), command=True)
    assert (decision.reason, decision.note) == (reason, note)
    assert decide(IN_C1, TrustSettings(external_users="chat"), command=True).allowed


def test_notes_name_the_setting_and_nothing_else() -> None:
    for note, setting in [
        (NOTE_CHANNEL, "ALLOWED_CHANNELS"),
        (NOTE_DM, "ALLOWED_CHANNELS"),
        (NOTE_DMS_OFF, "ALLOW_DMS"),
        (NOTE_USER, "ALLOWED_USERS"),
    ]:
        assert f"({setting})" in note and len(note) < 120


def test_the_speaker_of_a_slash_command() -> None:
    ours = {"user_id": "U1", "channel_id": "C1", "channel_name": "general", "team_id": "T1"}
    assert command_speaker(ours, BOT) == IN_C1
    in_dm = {**ours, "channel_id": "D1", "channel_name": "directmessage"}
    assert command_speaker(in_dm, BOT) == IN_DM
    guest = {**ours, "user_id": "U9", "team_id": "T2"}
    assert command_speaker(guest, BOT) == GUEST
    assert command_speaker({**guest, "user_team_id": "T1"}, BOT).external is False
    # an unknown own team decides nothing
    assert command_speaker(guest, BotIdentity("UBOT", "BBOT", None)).external is False


# Trust facts read from events ---------------------------------------------------------------


def parse(event: dict[str, Any], **wrapper: Any) -> Any:
    body = {**event_body(event), **wrapper}
    return inbound_from_event(body, agent="tl", bot=BOT)


def test_a_member_of_the_workspace_is_not_external() -> None:
    inbound = parse(mention("hi"))
    assert inbound.external is False and inbound.audience is None  # the surface asks Slack


@pytest.mark.parametrize("field", ["user_team", "team", "source_team"])
def test_a_user_of_another_team_is_external(field: str) -> None:
    event = {k: v for k, v in mention("hi").items() if k != "team"}
    event[field] = "T2"
    assert parse(event).external is True


def test_user_team_names_the_author_s_team_before_source_team() -> None:
    # Enterprise Grid: a colleague posting from another workspace of the same org.
    event = {**mention("hi"), "team": "T1", "user_team": "T1", "source_team": "T222"}
    assert parse(event).external is False


def test_a_slack_connect_channel_marks_the_guest_external_and_the_place_public() -> None:
    event = {**mention("hi"), "team": "T2", "user_team": "T2", "source_team": "T2"}
    inbound = parse(event, is_ext_shared_channel=True)
    assert inbound.external is True and inbound.audience == Audience.PUBLIC
    member = parse(mention("hi"), is_ext_shared_channel=True)
    assert member.external is False and member.audience == Audience.PUBLIC


def test_a_channel_not_shared_outside_holds_no_external_user() -> None:
    event = {**mention("hi"), "user_team": "T222"}  # another workspace of the same org
    inbound = parse(event, is_ext_shared_channel=False)
    assert inbound.external is False and inbound.audience == Audience.INTERNAL


def test_teams_the_event_was_authorised_for_are_ours() -> None:
    event = {**mention("hi"), "team": "T5"}
    body = {**event_body(event), "authorizations": [{"team_id": "T5", "user_id": "UBOT"}]}
    inbound = inbound_from_event(body, agent="tl", bot=replace(BOT, team_id=None))
    assert inbound is not None and inbound.external is False
    # the wrapper's team_id is not trusted: in a shared channel it can be the other side's
    body = {**event_body(event), "team_id": "T5", "authorizations": []}
    inbound = inbound_from_event(body, agent="tl", bot=BOT)
    assert inbound is not None and inbound.external is True


def test_a_dm_is_internal_unless_the_person_in_it_is_external() -> None:
    assert parse(dm("hi")).audience == Audience.INTERNAL
    guest = parse(dm("hi", user="U9", team="T2"))
    assert guest.external is True and guest.audience == Audience.PUBLIC
