"""Nothing the bot posts can ping a whole channel or a user group (pure)."""

from __future__ import annotations

import pytest

from app.slack.format import markdown_message, new_message, no_group_pings

J = "\u2060"  # what keeps "@here" from being a ping


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<!channel> deploy done", f"@{J}channel deploy done"),
        ("<!here>", f"@{J}here"),
        ("<!everyone> hi", f"@{J}everyone hi"),
        ("<!here|here> and <!channel|@channel>", f"@{J}here and @{J}channel"),
        ("ask <!subteam^S0123ABC> now", f"ask @{J}group now"),
        ("ask <!subteam^S0123ABC|@oncall-team>", f"ask @{J}oncall-team"),
        ("<!HERE>", f"@{J}here"),
        ("plain @here and @channel", f"plain @{J}here and @{J}channel"),
        # people, channels, links and e-mail addresses are kept as they are
        ("thanks <@U123> in <#C1|general>", "thanks <@U123> in <#C1|general>"),
        (
            "see <https://x.test|x> or mail ops@here.com",
            "see <https://x.test|x> or mail ops@here.com",
        ),
        ("<!date^1392734382^{date}|Feb 18>", "<!date^1392734382^{date}|Feb 18>"),
    ],
)
def test_group_pings_are_made_inert(text: str, expected: str) -> None:
    assert no_group_pings(text) == expected
    assert no_group_pings(expected) == expected  # idempotent


def test_every_message_payload_is_cleaned() -> None:
    message = markdown_message("<!here> the build is red", thread_ts="1.0")
    assert message["text"] == message["blocks"][0]["text"] == f"@{J}here the build is red"
    assert message["thread_ts"] == "1.0"
    assert "unfurl_links" not in message  # chat.update and postEphemeral take no such flags


def test_new_messages_unfurl_nothing() -> None:
    message = new_message("<!channel> see https://example.com/a.png")
    assert message["unfurl_links"] is False and message["unfurl_media"] is False
    assert "<!channel>" not in message["text"] and "thread_ts" not in message
