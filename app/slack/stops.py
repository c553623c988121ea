"""Requests to stop a turn in progress, read from Slack payloads (pure).

Two doors: Slack's native stop button of an agent session (the ``agent_session_stopped``
event: channel, thread_ts, user) and the Stop button on an answer (a ``block_actions`` click
with action_id ``threadline_stop`` whose value is the conversation key). Either names the
conversation; the turn running there is asked to stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from app.core import ConversationKey
from app.core.keys import DM_MAIN

STOP_ACTION: Final = "threadline_stop"


@dataclass(frozen=True)
class StopRequest:
    user: str
    team: str | None  # the person's team, when the payload says
    lanes: tuple[str, ...]  # conversation keys the turn may be running in


def stop_request(body: Mapping[str, Any], *, agent: str) -> StopRequest | None:
    """The stop request in a Slack payload, or None when it is not one."""
    if body.get("type") == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or event.get("type") != "agent_session_stopped":
            return None
        user, channel, thread = event.get("user"), event.get("channel"), event.get("thread_ts")
        if not (isinstance(user, str) and isinstance(channel, str) and isinstance(thread, str)):
            return None
        lanes = [str(ConversationKey.slack(agent, channel, thread))]
        if channel.startswith("D"):  # a DM's top level is one rolling conversation
            lanes.append(str(ConversationKey.slack(agent, channel, DM_MAIN)))
        team = event.get("user_team") or body.get("team_id")
        return StopRequest(user, team if isinstance(team, str) else None, tuple(lanes))
    if body.get("type") != "block_actions":
        return None
    actions = body.get("actions")
    person = body.get("user")
    if not isinstance(actions, list) or not isinstance(person, dict):
        return None
    for action in actions:
        if not isinstance(action, dict) or action.get("action_id") != STOP_ACTION:
            continue
        value, user = action.get("value"), person.get("id")
        if not isinstance(value, str) or not isinstance(user, str):
            return None
        try:
            key = ConversationKey.parse(value)
        except ValueError:
            return None
        if key.agent != agent or key.platform != "slack":
            return None
        team = person.get("team_id")
        return StopRequest(user, team if isinstance(team, str) else None, (value,))
    return None


def stop_button(key: str) -> dict[str, Any]:
    """An actions block with the Stop button for the answer in conversation ``key``."""
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": STOP_ACTION,
                "text": {"type": "plain_text", "text": "Stop"},
                "value": key,
            }
        ],
    }
