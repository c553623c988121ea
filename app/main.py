"""The composition root: ``build_app(settings)`` wires every part of Threadline.

Nothing opens a connection at import time. Resources are opened in the aiohttp application's
lifespan (``cleanup_ctx``) and closed in reverse order, so the same object serves
``python -m app``, the tests (on port 0 against loopback fakes) and the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import anthropic
import httpx
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from app.agent.model import AnthropicModel, Model
from app.agent.tools.base import Tool, ToolRegistry
from app.config import Settings
from app.errors import BadRequest, ConfigError, StoreError
from app.metrics import CountingTransport, Metrics
from app.slack.app import build_bolt_app
from app.slack.events import BotIdentity
from app.slack.names import UserNames
from app.slack.retry import RetryAfterHandler
from app.store.base import Store
from app.surfaces import SurfaceRegistry, configured_integrations
from app.surfaces.slack import SlackSurface
from app.turns.pipeline import PipelineConfig, TurnPipeline
from app.turns.worker import Worker
from app.webhooks.common import read_body

log = logging.getLogger(__name__)

WEBHOOK_DEADLINE_SECONDS = 8.0


class CountingWebClient(AsyncWebClient):
    """``AsyncWebClient`` that counts every Slack API call by outcome."""

    metrics: Metrics | None = None

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
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


@dataclass
class _Identity:
    slack: BotIdentity


class Threadline:
    """One running instance: the HTTP app, the Bolt app, the worker and their resources."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        slack_client: AsyncWebClient | None = None,
        model: Model | None = None,
        http: httpx.AsyncClient | None = None,
        holder: str | None = None,
        clock: Callable[[], datetime] | None = None,
        shutdown_grace: float = 20.0,
    ) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._store = store
        self._owns_store = store is None
        self._http = http
        self._owns_http = http is None
        self._model = model
        # The Anthropic client we create (never one passed in); closed in stop().
        self._anthropic: anthropic.AsyncAnthropic | None = None
        self._grace = shutdown_grace
        self.identity = _Identity(BotIdentity(None, None, None))
        self.slack = slack_client or self._slack_client()
        if isinstance(self.slack, CountingWebClient):
            self.slack.metrics = self.metrics
        self.worker: Worker | None = None
        self.bolt: AsyncApp | None = None
        self._background: list[asyncio.Task[None]] = []
        self._socket_handler: Any = None
        self._hooks: dict[str, Callable[[web.Request], Any]] = {}
        self._stopping = asyncio.Event()
        self.web = self._web_app()

    # assembly ------------------------------------------------------------------------------
    def _slack_client(self) -> AsyncWebClient:
        return CountingWebClient(
            token=self.settings.slack_bot_token.reveal(),
            base_url=self.settings.slack_api_url,
            timeout=15,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
                RetryAfterHandler(max_retry_count=3, max_wait=30.0),
                AsyncServerErrorRetryHandler(max_retry_count=2),
            ],
        )

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the store is opened when the app starts")
        return self._store

    def _web_app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.router.add_post("/slack/events", self._slack_events)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        # Webhook routes exist only for configured integrations (others answer 404); their
        # handlers are built at start, when the store is open.
        s = self.settings
        if s.github is not None and s.github.webhook_secret is not None:
            app.router.add_post("/webhooks/github", self._webhook("github"))
        if s.jira is not None and s.jira.webhook_secret is not None:
            app.router.add_post("/webhooks/jira", self._webhook("jira"))
        app.cleanup_ctx.append(self._lifespan)
        return app

    async def _lifespan(self, _: web.Application) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    # lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        if self._store is None:
            from app.store import open_store

            self._store = await open_store(s.database_url, ttl_days=s.session_ttl_days)
        version = await self.store.migrate()
        log.info("store ready (schema %s)", version)
        await self._identify_slack()
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(15.0, connect=5.0),
                transport=CountingTransport(
                    httpx.AsyncHTTPTransport(), self.metrics, self._service_of
                ),
            )
        if self._model is None:
            self._anthropic = anthropic.AsyncAnthropic(
                api_key=s.anthropic_api_key.reveal() if s.anthropic_api_key else None,
                base_url=s.anthropic_base_url,
                max_retries=2,
                middleware=[self.metrics.anthropic_middleware],
                timeout=min(s.turn_timeout_seconds, 600.0),
            )
            self._model = AnthropicModel(self._anthropic, s.anthropic_model, s.anthropic_max_tokens)
        surfaces, tools = await self._surfaces()
        pipeline = TurnPipeline(
            config=PipelineConfig(
                agent=s.agent_name,
                holder=self.holder,
                lease_seconds=s.lease_seconds,
                turn_timeout=s.turn_timeout_seconds,
            ),
            store=self.store,
            model=self._model,
            tools=tools,
            surfaces=surfaces,
            observer=self.metrics,
            clock=self.clock,
        )
        self.worker = Worker(
            self.store,
            pipeline.handle,
            holder=self.holder,
            lease_seconds=s.lease_seconds,
            concurrency=s.worker_concurrency,
        )
        self.bolt = build_bolt_app(
            client=self.slack,
            signing_secret=s.slack_signing_secret.reveal() if s.slack_signing_secret else None,
            store=self.store,
            agent=s.agent_name,
            bot=lambda: self.identity.slack,
            wake=self.worker.wake,
        )
        self.worker.start()
        self._background.append(asyncio.create_task(self._housekeeping()))
        if s.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket_handler = AsyncSocketModeHandler(self.bolt, s.slack_app_token.reveal())
            await self._socket_handler.connect_async()
            log.info("connected to Slack in Socket Mode")
        log.info(
            "Threadline %s ready as %s (holder %s)",
            s.agent_name,
            self.identity.slack.user_id,
            self.holder,
        )

    async def stop(self) -> None:
        """Stop taking work, let running turns finish (bounded), close everything."""
        if self._socket_handler is not None:
            with contextlib.suppress(Exception):
                await self._socket_handler.close_async()
        if self.worker is not None:
            await self.worker.stop(self._grace)
        self._stopping.set()
        if self._background:
            # Housekeeping (the first task) sees the flag after its current statement and
            # ends; the rest only sleep between retries and are cancelled at once.
            housekeeping, *others = self._background
            for task in others:
                task.cancel()
            _, pending = await asyncio.wait({housekeeping}, timeout=5)
            for task in [*pending, *others]:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._http is not None and self._owns_http:
            await self._http.aclose()
        # Close the Anthropic client's connection pool after the worker's last turn; left
        # open, its sockets leak and its __del__ later schedules aclose() in whatever event
        # loop is running then ("Event loop is closed" errors, unclosed transports).
        if self._anthropic is not None:
            await self._anthropic.close()
        if self._store is not None and self._owns_store:
            await self._store.close()
        log.info("stopped")

    async def _identify_slack(self) -> None:
        try:
            auth = await self.slack.auth_test()
        except SlackApiError as exc:
            raise ConfigError(
                "SLACK_BOT_TOKEN", f"Slack rejected the token ({exc.response.get('error')})"
            ) from None
        except SlackClientError as exc:
            raise ConfigError(
                "SLACK_API_URL", f"cannot reach Slack ({type(exc).__name__})"
            ) from None
        except OSError as exc:
            raise ConfigError("SLACK_API_URL", f"cannot reach Slack ({exc})") from None
        self.identity.slack = BotIdentity(
            user_id=auth.get("user_id"), bot_id=auth.get("bot_id"), team_id=auth.get("team_id")
        )

    async def _surfaces(self) -> tuple[SurfaceRegistry, ToolRegistry]:
        """The surfaces (Slack, and each configured integration's), their tools and webhooks."""
        assert self._http is not None
        surfaces = SurfaceRegistry(
            home=SlackSurface(self.slack, UserNames(self.slack), lambda: self.identity.slack)
        )
        tools: list[Tool] = []
        for integration in configured_integrations(
            self.settings, self._http, self.store.remember_posted
        ):
            surfaces.register(integration.surface)
            tools.extend(integration.tools)
            keep_trying = await integration.connect()
            if keep_trying is not None:
                self._background.append(asyncio.create_task(keep_trying()))
            if integration.webhook is not None:
                self._hooks[integration.webhook.spec.source] = integration.webhook.handler(
                    store=self.store,
                    agent=self.settings.agent_name,
                    max_body=self.settings.max_body_bytes,
                    wake=self._wake,
                )
        return surfaces, ToolRegistry(tools)

    def _webhook(self, name: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            handler = self._hooks.get(name)
            if handler is None:
                return web.json_response({"error": "starting"}, status=503)
            try:
                # GitHub gives up on a delivery after 10 s (and does not retry it): answer
                # in time, with a 503 if the store is too slow, rather than not at all.
                async with asyncio.timeout(WEBHOOK_DEADLINE_SECONDS):
                    response: web.StreamResponse = await handler(request)
            except TimeoutError:
                log.error("%s webhook not recorded in time", name)
                return web.json_response({"error": "store too slow"}, status=503)
            return response

        return handle

    def _wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    async def _housekeeping(self) -> None:
        s = self.settings
        while not self._stopping.is_set():
            try:
                stats = await self.store.stats()
                self.metrics.active_sessions.set(stats.active_sessions)
                result = await self.store.prune(s.retention_days)
                if any(vars(result).values()):
                    log.info("pruned %s", result)
            except StoreError as exc:
                log.warning("housekeeping skipped: %s", exc)
            except Exception:
                log.exception("housekeeping failed; trying again next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), s.prune_interval_seconds)

    def _service_of(self, url: httpx.URL) -> str:
        """Which integration a request goes to, by the configured base URLs (the fakes share
        a host, so the host alone cannot tell)."""
        target = str(url)
        for service, base in (
            ("jira", self.settings.jira.base_url if self.settings.jira else None),
            ("github", self.settings.github.api_url if self.settings.github else None),
        ):
            if base is not None and target.startswith(base.rstrip("/") + "/"):
                return service
        return "other"

    # HTTP handlers ---------------------------------------------------------------------------
    async def _slack_events(self, request: web.Request) -> web.StreamResponse:
        if self.bolt is None:
            return web.json_response({"error": "starting"}, status=503)
        try:
            body = await read_body(request, self.settings.max_body_bytes)
        except BadRequest as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        secret = self.settings.slack_signing_secret
        if secret is None:
            return web.json_response({"error": "HTTP events are off in Socket Mode"}, status=404)
        verifier = SignatureVerifier(secret.reveal())
        try:
            valid = verifier.is_valid_request(body, dict(request.headers))
        except (UnicodeDecodeError, ValueError):
            valid = False
        if not valid:
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            text = body.decode("utf-8")
            _check_slack_payload(text)
            bolt_request = await to_bolt_request(_Replay(request, text))  # type: ignore[arg-type]
        except (UnicodeDecodeError, ValueError):
            return web.json_response({"error": "malformed payload"}, status=400)
        try:
            bolt_response = await self.bolt.async_dispatch(bolt_request)
        except (KeyError, TypeError, AttributeError, ValueError):
            # A payload of a shape Slack never sends; it was signed, so log it loudly.
            log.exception("unprocessable Slack payload")
            return web.json_response({"error": "unprocessable payload"}, status=422)
        return await to_aiohttp_response(bolt_response)

    async def _healthz(self, _: web.Request) -> web.Response:
        if self._store is None:
            return web.json_response({"status": "starting"}, status=503)
        try:
            await self.store.ping()
            current, head = await self.store.schema_version(), await self.store.head_version()
        except StoreError:
            return web.json_response({"status": "unavailable", "store": "unreachable"}, status=503)
        worker = self.worker
        if worker is None or not worker.alive:
            worker_state = "stopped"
        else:
            worker_state = "ok" if worker.store_healthy else "retrying"
        ok = current == head and worker_state != "stopped"
        return web.json_response(
            {
                "status": "ok" if ok else "degraded",
                "store": "ok",
                "schema": current,
                "schema_head": head,
                "worker": worker_state,
            },
            status=200 if ok else 503,
        )

    async def _metrics(self, _: web.Request) -> web.Response:
        if self._store is not None:
            with contextlib.suppress(StoreError):
                stats = await self.store.stats()
                self.metrics.observe_state(
                    active_sessions=stats.active_sessions,
                    inbox_pending=stats.pending_deliveries,
                    in_flight=self.worker.in_flight if self.worker else 0,
                )
        return web.Response(
            body=self.metrics.render(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )


class _Replay:
    """The slice of ``web.Request`` that Bolt's adapter reads, over an already-read body."""

    def __init__(self, request: web.Request, text: str) -> None:
        self.query_string = request.query_string
        self.headers = request.headers
        self._text = text

    async def text(self) -> str:
        return self._text


def _check_slack_payload(text: str) -> None:
    """Raise ValueError unless ``text`` is a JSON object or a form Slack would send."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        if not isinstance(json.loads(stripped), dict):
            raise ValueError("not a JSON object")
        return
    form = parse_qs(text, strict_parsing=bool(text))
    if "payload" in form:
        if not isinstance(json.loads(form["payload"][0]), dict):
            raise ValueError("payload is not a JSON object")
    elif "command" not in form and "ssl_check" not in form:
        raise ValueError("neither an event, a command nor an interaction")


def build_app(settings: Settings, **overrides: Any) -> Threadline:
    """Build the whole app from settings; ``overrides`` replace collaborators in tests."""
    return Threadline(settings, **overrides)
