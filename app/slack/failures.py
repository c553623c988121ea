"""What a failed Slack Web API call can raise, and how to name it in a log line."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

# slack_sdk's async client raises SlackApiError for error answers, SlackClientError for its
# own problems, and lets aiohttp's connection errors and timeouts through unwrapped.
SLACK_FAILURES: tuple[type[BaseException], ...] = (
    SlackApiError,
    SlackClientError,
    aiohttp.ClientError,
    TimeoutError,
)


def describe(exc: BaseException) -> str:
    """A short, secret-free description for logs (never shown to users)."""
    if isinstance(exc, SlackApiError):
        return f"Slack {exc.response.get('error', 'error')}"
    return f"Slack {type(exc).__name__}"
