"""Votes on answers: the feedback buttons under every final answer, what a click and the
thumbs-down modal's submission read as, and how the worker stores them.

The buttons are a ``context_actions`` block with one ``feedback_buttons`` element; each
button's ``value`` names the vote and the turn that wrote the answer (``up:t-1a2b``). Slack
sends a click as ``block_actions``::

    an action with action_id threadline_feedback,
    type feedback_buttons, value up:<turn>|down:<turn>    otherwise: not a vote (None)
    user.id, the answer's channel and message ts          otherwise: None

A click is recorded in the inbox (in the lane of the answer's conversation) like an approval
click, and the worker stores it: one vote per person per answer, a second click changes it. A
thumbs-down also opens a short modal (``reason_modal``) asking why; its ``view_submission``
carries the answer in ``private_metadata`` (set by us, echoed back by Slack) and the optional
text, which is kept with that person's thumbs-down. Everything read from a payload is checked
for shape and length; what does not fit is not a vote.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Final

from app.core import ConversationKey
from app.core.keys import DM_MAIN
from app.store.base import Feedback
from app.store.types import MAX_REASON_CHARS, VoteValue

FEEDBACK_ACTION: Final = "threadline_feedback"
REASON_CALLBACK: Final = "threadline_feedback_reason"
REASON_BLOCK: Final = "reason"
REASON_INPUT: Final = "text"
VOTE_KIND: Final = "feedback_vote"
REASON_KIND: Final = "feedback_reason"
KINDS: Final = frozenset({VOTE_KIND, REASON_KIND})

_VALUE = re.compile(r"^(up|down)(?::([A-Za-z0-9_-]{1,100}))?$")
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,32}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,9}$")


def feedback_block(turn_id: str | None) -> dict[str, Any]:
    """The feedback buttons for an answer written by ``turn_id``."""
    tag = f":{turn_id}" if turn_id and _VALUE.match(f"up:{turn_id}") else ""
    return {
        "type": "context_actions",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK_ACTION,
                "positive_button": {
                    "text": {"type": "plain_text", "text": "Good answer"},
                    "accessibility_label": "This answer was helpful",
                    "value": f"up{tag}",
                },
                "negative_button": {
                    "text": {"type": "plain_text", "text": "Bad answer"},
                    "accessibility_label": "This answer was not helpful",
                    "value": f"down{tag}",
                },
            }
        ],
    }


@dataclass(frozen=True)
class Answer:
    """The Slack message voted on, and the thread it is in (None: a DM's top level)."""

    channel: str
    message_ts: str
    thread_ts: str | None = None

    def key(self, agent: str) -> str:
        """The conversation the answer belongs to: its thread, or a DM's top level."""
        if self.thread_ts:
            thread = self.thread_ts
        elif self.channel.startswith("D"):
            thread = DM_MAIN
        else:
            thread = self.message_ts
        return str(ConversationKey.slack(agent, self.channel, thread))


@dataclass(frozen=True)
class VoteClick:
    """A click on an answer's feedback buttons, as recorded in the inbox (``to_payload``)."""

    answer: Answer
    user_id: str
    vote: VoteValue
    turn_id: str | None
    action_ts: str
    user_team: str | None = None  # the voter's own team (another one: Slack Connect)
    trigger_id: str | None = None  # for the thumbs-down modal, valid for three seconds

    @property
    def delivery_id(self) -> str:
        return f"slack:vote:{self.user_id}:{self.action_ts}"

    def to_payload(self, agent: str) -> dict[str, Any]:
        data = asdict(self)
        data.pop("trigger_id")  # short-lived: no use to the worker
        return {"kind": VOTE_KIND, "source": "slack", "key": self.answer.key(agent), **data}


@dataclass(frozen=True)
class VoteReason:
    """What a person wrote in the thumbs-down modal, as recorded in the inbox."""

    answer: Answer
    user_id: str
    reason: str
    view_id: str
    user_team: str | None = None

    @property
    def delivery_id(self) -> str:
        return f"slack:vote-reason:{self.user_id}:{self.view_id}"

    def to_payload(self, agent: str) -> dict[str, Any]:
        return {
            "kind": REASON_KIND,
            "source": "slack",
            "key": self.answer.key(agent),
            **asdict(self),
        }


def vote_click(body: dict[str, Any]) -> VoteClick | None:
    """The vote in a ``block_actions`` payload, or None when it is not one."""
    if body.get("type") != "block_actions":
        return None
    action = next((a for a in _list(body.get("actions")) if _is_vote(a)), None)
    if action is None:
        return None
    container, message = _dict(body.get("container")), _dict(body.get("message"))
    if container.get("is_ephemeral") is True:
        return None
    user = _dict(body.get("user"))
    channel = _text(container.get("channel_id")) or _text(_dict(body.get("channel")).get("id"))
    message_ts = _ts(container.get("message_ts")) or _ts(message.get("ts"))
    user_id, action_ts = _text(user.get("id")), _ts(action.get("action_ts"))
    if not (user_id and _SLACK_ID.match(user_id) and channel and _SLACK_ID.match(channel)):
        return None
    if not (message_ts and action_ts):
        return None
    match = _VALUE.match(action["value"])
    assert match is not None  # _is_vote checked it
    vote: VoteValue = "up" if match.group(1) == "up" else "down"
    thread_ts = _ts(container.get("thread_ts")) or _ts(message.get("thread_ts"))
    return VoteClick(
        answer=Answer(channel, message_ts, thread_ts),
        user_id=user_id,
        vote=vote,
        turn_id=match.group(2),
        action_ts=action_ts,
        user_team=_text(user.get("team_id")),
        trigger_id=_text(body.get("trigger_id")),
    )


def reason_modal(click: VoteClick) -> dict[str, Any]:
    """The modal asking why an answer was not helpful (the text is optional)."""
    answer = click.answer
    metadata = {"c": answer.channel, "m": answer.message_ts, "t": answer.thread_ts}
    return {
        "type": "modal",
        "callback_id": REASON_CALLBACK,
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "title": {"type": "plain_text", "text": "Thanks for the vote"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "What was wrong with the answer?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "max_length": MAX_REASON_CHARS,
                },
            }
        ],
    }


def reason_submission(body: dict[str, Any]) -> VoteReason | None:
    """The reason in a ``view_submission`` of the thumbs-down modal, or None."""
    if body.get("type") != "view_submission":
        return None
    view = _dict(body.get("view"))
    if view.get("callback_id") != REASON_CALLBACK:
        return None
    user = _dict(body.get("user"))
    user_id, view_id = _text(user.get("id")), _text(view.get("id"))
    if not (user_id and _SLACK_ID.match(user_id) and view_id and _SLACK_ID.match(view_id)):
        return None
    answer = _answer_of(view.get("private_metadata"))
    if answer is None:
        return None
    values = _dict(_dict(view.get("state")).get("values"))
    value = _dict(_dict(values.get(REASON_BLOCK)).get(REASON_INPUT)).get("value")
    reason = value[:MAX_REASON_CHARS] if isinstance(value, str) else ""
    return VoteReason(answer, user_id, reason, view_id, user_team=_text(user.get("team_id")))


async def store_feedback(store: Feedback, payload: dict[str, Any]) -> str:
    """Store a recorded vote or reason (the worker's part); what it did, for the inbox row.
    ``ValueError`` for a payload that is neither."""
    answer = _dict(payload.get("answer"))
    channel, message_ts = _text(answer.get("channel")), _ts(answer.get("message_ts"))
    user_id = _text(payload.get("user_id"))
    if not (channel and message_ts and user_id):
        raise ValueError("a feedback delivery without its answer or person")
    if payload.get("kind") == VOTE_KIND:
        vote = payload.get("vote")
        if vote not in ("up", "down"):
            raise ValueError("a vote is up or down")
        turn = payload.get("turn_id")
        await store.record_vote(
            channel=channel,
            message_ts=message_ts,
            user_id=user_id,
            vote="up" if vote == "up" else "down",
            turn_id=turn if isinstance(turn, str) else None,
        )
        return f"vote {vote}"
    if payload.get("kind") == REASON_KIND:
        reason = payload.get("reason")
        kept = await store.record_reason(
            channel=channel,
            message_ts=message_ts,
            user_id=user_id,
            reason=reason if isinstance(reason, str) else "",
        )
        return "reason kept" if kept is not None else "no thumbs-down to explain"
    raise ValueError("not a feedback delivery")


def _answer_of(metadata: Any) -> Answer | None:
    if not isinstance(metadata, str) or len(metadata) > 300:
        return None
    try:
        data = json.loads(metadata)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    channel, message_ts, thread = _text(data.get("c")), _ts(data.get("m")), data.get("t")
    if not (channel and _SLACK_ID.match(channel) and message_ts):
        return None
    if thread is not None and _ts(thread) is None:
        return None
    return Answer(channel, message_ts, thread)


def _is_vote(action: Any) -> bool:
    return (
        isinstance(action, dict)
        and action.get("action_id") == FEEDBACK_ACTION
        and action.get("type") == "feedback_buttons"
        and isinstance(action.get("value"), str)
        and bool(_VALUE.match(action["value"]))
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _ts(value: Any) -> str | None:
    return value if isinstance(value, str) and _TS.match(value) else None
