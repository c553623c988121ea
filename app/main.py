"""The composition root: ``build_app(settings)`` wires every part of Threadline.

Nothing opens a connection at import time. The aiohttp application's lifespan (``cleanup_ctx``)
opens the resources on one ``AsyncExitStack``, each pushed with its close as it is opened, so
they close in reverse order when the app stops, or as far as it got when starting fails::

    opened, in this order             closed, in this order
    store (migrated)                  Socket Mode connection
    Anthropic client                  worker (running turns finish within the grace period)
    httpx client (Jira, GitHub)       housekeeping
    background tasks                  background tasks
    housekeeping                      httpx client
    worker                            Anthropic client
    Socket Mode connection            store

A collaborator passed to ``build_app`` (a test's store, model or httpx client) belongs to the
caller: it is used, never pushed onto the stack, so the app never closes it. The same object
serves ``python -m app``, the tests (on port 0 against loopback fakes) and the benchmark.

The optional features that touch several of these steps, the dashboard and background jobs,
are wired by ``app.wiring``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from app.agent.model import AnthropicModel, Model
from app.agent.tools.base import Tool, ToolRegistry
from app.config import Settings
from app.errors import ConfigError
from app.http import Handler
from app.http.bolt import build_bolt_app
from app.http.routes import Started, add_routes
from app.integrations import clients
from app.integrations.jobs import JobService
from app.metrics import Metrics
from app.ops.housekeeping import housekeeping
from app.slack.assistant import AssistantThreads
from app.slack.events import BotIdentity
from app.slack.follow import Following
from app.slack.home import HomeTab
from app.slack.names import UserNames
from app.store.base import Store
from app.surfaces import SurfaceRegistry, configured_integrations
from app.surfaces.dashboard import LiveFeed
from app.surfaces.slack import SlackSurface
from app.turns.actions import build_turn_actions
from app.turns.pipeline import PipelineConfig, TurnPipeline
from app.turns.routing import AudiencePolicy
from app.turns.worker import Worker
from app.wiring.dashboard import dashboard_surface, wire_dashboard
from app.wiring.jobs import job_tools, job_turns, job_upkeep, open_jobs

log = logging.getLogger(__name__)


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
        self._http = http
        self._model = model
        self._grace = shutdown_grace
        self.identity = _Identity(BotIdentity(None, None, None))
        self.slack = slack_client or clients.slack_client(settings, self.metrics)
        if isinstance(self.slack, clients.CountingWebClient):
            self.slack.metrics = self.metrics
        self.worker: Worker | None = None
        self.assistant = AssistantThreads(self.slack, settings.experience.suggested_prompts)
        self.bolt: AsyncApp | None = None
        self.home: HomeTab | None = None
        # Tasks of the integrations (retrying to learn our identity); cancelled at stop.
        self._background: list[asyncio.Task[None]] = []
        self._hooks: dict[str, Handler] = {}
        self.jobs: JobService | None = None  # when background jobs are configured
        self.web = web.Application(client_max_size=settings.max_body_bytes)
        add_routes(
            self.web,
            settings,
            self.metrics,
            Started(
                store=lambda: self._store,
                worker=lambda: self.worker,
                bolt=lambda: self.bolt,
                webhook=self._hooks.get,
            ),
        )
        # The answers of dashboard turns run here, for the dashboard's live pages.
        self.live = LiveFeed()
        wire_dashboard(
            self.web,
            settings,
            slack=self.slack,
            metrics=self.metrics,
            open_store=lambda: self._store,
            bot=lambda: self.identity.slack,
            wake=self._wake,
            clock=self.clock,
            live=self.live,
        )
        self.web.cleanup_ctx.append(self._lifespan)

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the store is opened when the app starts")
        return self._store

    # lifecycle -----------------------------------------------------------------------------
    async def _lifespan(self, _: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as resources:
            resources.callback(log.info, "stopped")
            await self._start(resources)
            yield

    async def _start(self, resources: contextlib.AsyncExitStack) -> None:
        """Open everything, pushing each close onto ``resources`` as soon as it is open."""
        s = self.settings
        if self._store is None:
            from app.store import open_store

            self._store = await open_store(
                s.database_url,
                ttl_days=s.session_ttl_days,
                max_age_days=s.trust.session_max_age_days,
                clock=self.clock,
                activity=self.metrics.store_activity,
                # PostgreSQL: a delivery recorded by another replica wakes this one at once.
                on_inbox=self._wake,
            )
            resources.push_async_callback(self._store.close)
        version = await self.store.migrate()
        log.info("store ready (schema %s)", version)
        if isinstance(self.slack, clients.CountingWebClient):
            # Its connections are kept between calls; closed after the worker's last turn.
            resources.push_async_callback(self.slack.close)
        await self._identify_slack()
        if self._model is None:
            # Closed after the worker's last turn; left open, its sockets leak and its
            # __del__ later schedules aclose() in whatever event loop runs then.
            claude = clients.anthropic_client(s, self.metrics)
            resources.push_async_callback(claude.close)
            self._model = AnthropicModel(
                claude,
                s.anthropic_model,
                s.anthropic_max_tokens,
                compaction=s.compaction,
                compact_at_tokens=s.compact_at_tokens,
                thinking=s.anthropic_thinking,
            )
        if self._http is None:
            self._http = clients.http_client(s, self.metrics)
            resources.push_async_callback(self._http.aclose)
        if s.jobs is not None:
            self.jobs, hooks = open_jobs(
                s,
                store=self.store,
                http=self._http,
                metrics=self.metrics,
                wake=self._wake,
                resources=resources,
            )
            self._hooks.update(hooks)
        resources.push_async_callback(self._cancel_background)
        # People's App Home tabs; refreshes still waiting are dropped after the worker stops.
        self.home = HomeTab(self.slack, self.store, s, clock=self.clock)
        resources.push_async_callback(self.home.close)
        self.worker = await self._build_turns()
        self.bolt = build_bolt_app(
            client=self.slack,
            signing_secret=s.slack_signing_secret.reveal() if s.slack_signing_secret else None,
            store=self.store,
            agent=s.agent_name,
            bot=lambda: self.identity.slack,
            wake=self.worker.wake,
            trust=s.trust,
            actions=s.actions,
            metrics=self.metrics,
            clock=self.clock,
            assistant=self.assistant,
            following=(
                Following(self.store, agent=s.agent_name) if s.experience.follow_threads else None
            ),
            home=self.home,
        )
        await resources.enter_async_context(
            housekeeping(
                self.store,
                self.metrics,
                retention_days=s.retention_days,
                interval=s.prune_interval_seconds,
            )
        )
        self.worker.start()
        resources.push_async_callback(self.worker.stop, self._grace)
        if self.jobs is not None and s.jobs is not None:
            self._background.append(asyncio.create_task(job_upkeep(self.jobs, s.jobs, self.holder)))
        if s.slack_app_token is not None:
            await self._connect_socket_mode(s.slack_app_token.reveal(), resources)
        log.info(
            "Threadline %s ready as %s (holder %s)",
            s.agent_name,
            self.identity.slack.user_id,
            self.holder,
        )

    async def _connect_socket_mode(
        self, app_token: str, resources: contextlib.AsyncExitStack
    ) -> None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        assert self.bolt is not None
        handler: Any = AsyncSocketModeHandler(self.bolt, app_token)  # its methods are untyped

        async def close() -> None:
            with contextlib.suppress(Exception):
                await handler.close_async()

        resources.push_async_callback(close)
        await handler.connect_async()
        log.info("connected to Slack in Socket Mode")

    async def _cancel_background(self) -> None:
        # These only sleep between retries: nothing is lost by cancelling them at once.
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

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

    # the turn layer --------------------------------------------------------------------------
    async def _build_turns(self) -> Worker:
        """The turn pipeline over the surfaces and tools, and the worker that runs it."""
        s = self.settings
        assert self._model is not None
        surfaces, tools = await self._surfaces()
        pipeline = TurnPipeline(
            config=PipelineConfig(
                agent=s.agent_name,
                holder=self.holder,
                lease_seconds=s.lease_seconds,
                turn_timeout=s.turn_timeout_seconds,
                external_users=s.trust.external_users,
                compact_at_tokens=s.compact_at_tokens,
                audience=AudiencePolicy(s.trust.public_replies, s.trust.public_reply_note),
                follow_threads=s.experience.follow_threads,
            ),
            store=self.store,
            model=self._model,
            tools=tools,
            surfaces=surfaces,
            actions=build_turn_actions(
                s.actions,
                store=self.store,
                slack=self.slack,
                tools=tools,
                surfaces=surfaces,
                agent=s.agent_name,
                bot=lambda: self.identity.slack,
                names=UserNames(self.slack),
                clock=self.clock,
                on_asked=None if self.home is None else self.home.approval_asked,
            ),
            observer=self.metrics,
            clock=self.clock,
            jobs=(
                job_turns(self.jobs, self.store, surfaces, s, self.holder)
                if self.jobs is not None
                else None
            ),
        )
        return Worker(
            self.store,
            pipeline.handle if self.home is None else self.home.after(pipeline.handle),
            holder=self.holder,
            lease_seconds=s.lease_seconds,
            concurrency=s.worker_concurrency,
        )

    async def _surfaces(self) -> tuple[SurfaceRegistry, ToolRegistry]:
        """The surfaces (Slack, and each configured integration's), their tools and webhooks."""
        assert self._http is not None
        surfaces = SurfaceRegistry(
            home=SlackSurface(
                self.slack,
                UserNames(self.slack),
                lambda: self.identity.slack,
                assistant=self.assistant,
                first_time=self.store.remember_once,
            )
        )
        dashboard = dashboard_surface(self.settings, self.live)
        if dashboard is not None:
            surfaces.register(dashboard)
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
                    on_refused=self.metrics.refusal,
                    max_chars=self.settings.actions.max_message_chars,
                    max_pending=self.settings.actions.max_pending_per_conversation,
                )
        if self.jobs is not None:
            tools.extend(job_tools(self.jobs, self.settings, self._http, dashboard))
        return surfaces, ToolRegistry(tools)

    def _wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()


def build_app(
    settings: Settings,
    *,
    store: Store | None = None,
    slack_client: AsyncWebClient | None = None,
    model: Model | None = None,
    http: httpx.AsyncClient | None = None,
    holder: str | None = None,
    clock: Callable[[], datetime] | None = None,
    shutdown_grace: float = 20.0,
) -> Threadline:
    """Build the whole app from settings; the others replace collaborators in tests (and are
    theirs to close: the app closes only what it opened itself)."""
    return Threadline(
        settings,
        store=store,
        slack_client=slack_client,
        model=model,
        http=http,
        holder=holder,
        clock=clock,
        shutdown_grace=shutdown_grace,
    )
