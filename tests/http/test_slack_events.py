"""``POST /slack/events`` before Bolt: what counts as a payload Slack would send."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from app.http.slack_events import check_slack_payload

EVENT = json.dumps({"type": "event_callback", "event": {"type": "app_mention"}})
INTERACTION = urlencode({"payload": json.dumps({"type": "block_actions"})})


@pytest.mark.parametrize(
    "text",
    [
        EVENT,
        "  \n" + EVENT,
        INTERACTION,
        urlencode({"command": "/reset", "text": ""}),
        urlencode({"ssl_check": "1", "token": "x"}),
    ],
)
def test_what_slack_sends_passes(text: str) -> None:
    check_slack_payload(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[1, 2, 3]",
        '"a string"',
        "{not json",
        urlencode({"payload": "[1]"}),
        urlencode({"payload": "{broken"}),
        urlencode({"text": "hello"}),
        "no=form&&",
        "plain text",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        check_slack_payload(text)
