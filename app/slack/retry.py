"""Slack rate limits: wait as long as ``Retry-After`` says (slack_sdk's built-in handler reads
only the header's first digit), within a cap so one reply never stalls a turn for minutes."""

from __future__ import annotations

import asyncio

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState


def retry_after_seconds(value: str | None, *, default: float = 1.0) -> float:
    """Seconds from a ``Retry-After`` value (Slack sends whole seconds); pure."""
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return max(seconds, 0.0)


class RetryAfterHandler(AsyncRetryHandler):
    """Retries 429 answers after the full ``Retry-After``; gives up when asked to wait longer
    than ``max_wait`` (the caller then treats the call as failed and retries later)."""

    def __init__(self, max_retry_count: int = 3, max_wait: float = 30.0) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        return _retry_after(response) <= self.max_wait

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        await asyncio.sleep(_retry_after(response) if response is not None else 1.0)
        state.increment_current_attempt()


def _retry_after(response: HttpResponse) -> float:
    for name, value in response.headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            return retry_after_seconds(str(raw))
    return 1.0
