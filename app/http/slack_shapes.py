"""What Slack sends to ``/slack/events``, read as Bolt reads it and checked before Bolt sees it.

Bolt and the middleware read these payloads with ``body["event"]["type"]``, ``"id" in team``,
``body["actions"][0]``, regular expressions over ids: a signed payload of a shape Slack never
sends would raise inside Bolt, which logs a traceback and answers 500. So the edge reads the
body the way Bolt will (JSON, or a form whose ``payload`` field holds JSON, or a slash
command's form) and checks the fields anything downstream reads::

    every payload ........ "type" a string (JSON body, interaction), or a form with "command"
                           (or "ssl_check"); the ids Bolt reads for its context (team, user,
                           channel, enterprise, authorizations, thread_ts, response_urls, view,
                           event, ...) of the types Slack sends, at every level Bolt looks
    event_callback ....... "event" an object with a string "type"; its message fields
                           (user, text, ts, subtype, bot_id, ...) strings
    url_verification ..... "challenge" a string
    block_actions ........ "actions", if there, a non-empty list of objects with a string
                           "action_id" (interactive_message: "callback_id" and actions)
    view_submission/closed "view" an object with a string "callback_id" (and, submitted, a
                           string "type")
    shortcuts, dialogs ... "callback_id" a string

``null`` passes wherever a field may be absent: Slack sends ``"enterprise": null``. Fields not
named here pass unchecked. Anything else raises ``ValueError`` naming the field, answered 400.
The JSON itself is read strictly (``app.webhooks.common.loads_object``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs

from app.webhooks.common import loads_object

JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Obj:
    """An object whose named fields, when present and not null, have these shapes."""

    fields: dict[str, Spec] = field(default_factory=dict)
    required: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ListOf:
    item: Spec
    non_empty: bool = False


Spec = type | Obj | ListOf | tuple["Spec", ...]  # a tuple: any one of these

_ID_OBJECT = Obj({"id": str, "team_id": str, "enterprise_id": str, "name": str})
# The fields Bolt's context reads, at the top and again inside every object it descends into
# (event, message, previous_message, item, assistant_thread).
_NESTED: dict[str, Spec] = {
    "type": str,
    "subtype": str,
    "enterprise": (str, _ID_OBJECT),
    "enterprise_id": str,
    "is_enterprise_install": (bool, str),
    "authorizations": ListOf(
        Obj({"enterprise_id": str, "team_id": str, "user_id": str, "is_enterprise_install": bool})
    ),
    "team": (str, _ID_OBJECT),
    "team_id": str,
    "user_team": str,
    "source_team": str,
    "user": (str, _ID_OBJECT),
    "user_id": str,
    "channel": (str, _ID_OBJECT),
    "channel_id": str,
    "channel_type": str,
    "text": str,
    "ts": str,
    "thread_ts": str,
    "event_ts": str,
    "deleted_ts": str,
    "bot_id": str,
    "edited": Obj({"user": str, "ts": str}),
    "function_execution_id": str,
    "function_data": Obj({"execution_id": str, "inputs": dict}),
    "function": Obj({"callback_id": str}),
    "bot_access_token": str,
    "inputs": dict,
}
NESTED: Final = Obj(_NESTED)
for _name in ("message", "previous_message", "item", "assistant_thread"):
    _NESTED[_name] = NESTED

VIEW: Final = Obj(
    {
        "id": str,
        "type": str,
        "callback_id": str,
        "team_id": str,
        "app_installed_team_id": str,
        "state": Obj({"values": dict}),
        "private_metadata": str,
    }
)
PAYLOAD: Final = Obj(
    {
        **_NESTED,
        "event": NESTED,
        "event_id": str,
        "api_app_id": str,
        "token": str,
        "is_ext_shared_channel": bool,
        "response_url": str,
        "response_urls": ListOf(Obj({"response_url": str})),
        "view": VIEW,
        "actions": ListOf(Obj({"action_id": str, "block_id": str, "type": str})),
        "callback_id": str,
        "action_id": str,
        "block_id": str,
        "trigger_id": str,
        "container": dict,
        "workflow_step": dict,
    },
    required=frozenset({"type"}),
)
_ACTIONS: Final = ListOf(Obj(required=frozenset({"action_id"})), non_empty=True)
# What each payload type must have besides; a type not named here needs only PAYLOAD.
BY_TYPE: Final[Mapping[str, Obj]] = {
    "event_callback": Obj(
        {"event": Obj(_NESTED, required=frozenset({"type"}))}, required=frozenset({"event"})
    ),
    "url_verification": Obj({"challenge": str}, required=frozenset({"challenge"})),
    # Without "actions" Bolt leaves it unhandled (a 404); with them, it reads the first one's.
    "block_actions": Obj({"actions": _ACTIONS}),
    "interactive_message": Obj(
        {"actions": ListOf(Obj(), non_empty=True)}, required=frozenset({"callback_id", "actions"})
    ),
    # Bolt reads the submitted view's "type" (a workflow step's save, or not).
    "view_submission": Obj(
        {"view": Obj(required=frozenset({"callback_id", "type"}))}, required=frozenset({"view"})
    ),
    "view_closed": Obj(
        {"view": Obj(required=frozenset({"callback_id"}))}, required=frozenset({"view"})
    ),
    **{
        kind: Obj(required=frozenset({"callback_id"}))
        for kind in (
            "shortcut",
            "message_action",
            "dialog_submission",
            "dialog_cancellation",
            "dialog_suggestion",
            "workflow_step_edit",
        )
    },
    "block_suggestion": Obj(required=frozenset({"action_id"})),
}


def read_slack_body(text: str, content_type: str) -> tuple[dict[str, Any], str]:
    """The payload Bolt will read from ``text`` and the content type to hand Bolt with it, so
    that Bolt reads it the same way; ``ValueError`` (with the reason) unless Slack could have
    sent it."""
    if content_type == JSON or text.lstrip().startswith(("{", "[")):
        payload = loads_object(text)
        check_payload(payload)
        return payload, JSON
    form = parse_qs(text, strict_parsing=bool(text))
    if "payload" in form:
        if len(form["payload"]) != 1:
            raise ValueError("more than one payload field")
        payload = loads_object(form["payload"][0])
        check_payload(payload)
        return payload, FORM
    if "command" in form or "ssl_check" in form:
        # Bolt keeps the last value of each field, as here.
        return {name: values[-1] for name, values in form.items()}, FORM
    raise ValueError("neither an event, a command nor an interaction")


def check_payload(payload: dict[str, Any]) -> None:
    """``ValueError`` naming the first field of ``payload`` of a shape Slack never sends."""
    check(payload, PAYLOAD, "payload")
    kind = payload["type"]
    if kind in BY_TYPE:
        check(payload, BY_TYPE[kind], kind)


def check(value: Any, spec: Spec, path: str) -> None:
    """``ValueError`` unless ``value`` has the shape ``spec``."""
    if isinstance(spec, tuple):
        problems = []
        for option in spec:
            try:
                check(value, option, path)
                return
            except ValueError as exc:
                problems.append(str(exc))
        raise ValueError(problems[0])
    if isinstance(spec, type):
        # bool is an int in Python, never in Slack's payloads
        if not isinstance(value, spec) or (spec is int and isinstance(value, bool)):
            raise ValueError(f"{path} must be {_name_of(spec)}")
        return
    if isinstance(spec, ListOf):
        if not isinstance(value, list) or (spec.non_empty and not value):
            raise ValueError(f"{path} must be a {'non-empty ' if spec.non_empty else ''}list")
        for index, item in enumerate(value):
            check(item, spec.item, f"{path}[{index}]")
        return
    if not isinstance(value, dict):
        raise ValueError(f"{path} must be an object")
    for name in spec.required:
        if value.get(name) is None:
            raise ValueError(f"{path}.{name} is missing")
    for name, inner in spec.fields.items():
        if value.get(name) is not None:
            check(value[name], inner, f"{path}.{name}")


def _name_of(kind: type) -> str:
    return {str: "a string", bool: "true or false", dict: "an object", list: "a list"}.get(
        kind, kind.__name__
    )
