"""The network clients, built in one place for the server and for ``python -m app doctor``.

| client | built by | counted in metrics as | timeouts and retries |
|---|---|---|---|
| Slack Web API | ``slack_client`` | ``slack`` (``CountingWebClient``), and by method | 15 s; connection errors 2, 5xx 2, 429 3 (after the full ``Retry-After``, up to 30 s) |
| Anthropic | ``anthropic_client`` | ``anthropic`` (SDK middleware, every attempt) | the turn's timeout, at most 600 s; 2 retries |
| Jira, GitHub | ``http_client`` | ``jira`` / ``github`` by base URL (``CountingTransport``) | 15 s, 5 s to connect |

Each takes ``metrics``; without it (doctor) nothing is counted. Each is closed by whoever built
it: the app's lifespan, or the doctor check that used it. Nothing here opens a connection.

The Slack client keeps one aiohttp session (connection pool) for all its calls, opened on the
first call inside the running loop and closed by ``CountingWebClient.close``; slack_sdk alone
would open a session and a TCP connection for every call.
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import aiohttp
import anthropic
import httpx
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from app.config import Settings
from app.metrics import CountingTransport, Metrics
from app.slack.retry import RetryAfterHandler

SLACK_TIMEOUT: Final = 15
ANTHROPIC_MAX_TIMEOUT: Final = 600.0
HTTP_TIMEOUT: Final = httpx.Timeout(15.0, connect=5.0)


class CountingWebClient(AsyncWebClient):
    """``AsyncWebClient`` that counts every Slack API call by outcome and method (when given
    metrics), over one long-lived aiohttp session."""

    metrics: Metrics | None = None

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        if self.session is None or self.session.closed:
            # Opened here, inside the running loop; reopened if a close came before a call.
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        if self.metrics:
            self.metrics.slack_call(api_method)
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            if self.metrics:
                limited = exc.response.status_code == 429
                self.metrics.upstream("slack", "rate_limited" if limited else "error")
            raise
        except (SlackClientError, aiohttp.ClientError, TimeoutError):
            if self.metrics:
                self.metrics.upstream("slack", "unreachable")
            raise
        if self.metrics:
            self.metrics.upstream("slack", "ok")
        return response

    async def close(self) -> None:
        """Close the session and its connections (the next call would open a new one)."""
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()


def slack_client(
    settings: Settings,
    metrics: Metrics | None = None,
    *,
    timeout: int = SLACK_TIMEOUT,
    retries: bool = True,
) -> CountingWebClient:
    """The bot token's Web API client; ``retries=False`` gives a one-shot verdict (doctor)."""
    handlers: list[AsyncRetryHandler] = []
    if retries:
        handlers = [
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            RetryAfterHandler(max_retry_count=3, max_wait=30.0),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ]
    client = CountingWebClient(
        token=settings.slack_bot_token.reveal(),
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=handlers,
    )
    client.metrics = metrics
    return client


def anthropic_client(
    settings: Settings,
    metrics: Metrics | None = None,
    *,
    timeout: float | None = None,
    max_retries: int = 2,
) -> anthropic.AsyncAnthropic:
    """The Messages API client; ``timeout`` defaults to the turn's, capped at 600 s."""
    key = settings.anthropic_api_key
    return anthropic.AsyncAnthropic(
        api_key=key.reveal() if key else None,
        base_url=settings.anthropic_base_url,
        max_retries=max_retries,
        middleware=[metrics.anthropic_middleware] if metrics is not None else None,
        timeout=timeout or min(settings.turn_timeout_seconds, ANTHROPIC_MAX_TIMEOUT),
    )


def http_client(settings: Settings, metrics: Metrics | None = None) -> httpx.AsyncClient:
    """The client Jira and GitHub calls share (one connection pool)."""
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport()
    if metrics is not None:
        transport = CountingTransport(transport, metrics, service_of(settings))
    return httpx.AsyncClient(timeout=HTTP_TIMEOUT, transport=transport)


def service_of(settings: Settings) -> Callable[[httpx.URL], str]:
    """Which integration a URL belongs to, by the configured base URLs (the fakes share a
    host, so the host alone cannot tell)."""
    bases = [
        (service, base.rstrip("/") + "/")
        for service, base in (
            ("jira", settings.jira.base_url if settings.jira else None),
            ("github", settings.github.api_url if settings.github else None),
        )
        if base is not None
    ]

    def service(url: httpx.URL) -> str:
        target = str(url)
        return next((name for name, base in bases if target.startswith(base)), "other")

    return service
