"""The webhook handlers served over real HTTP, on a real SqlStore in a temporary SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.config import DEFAULT_TRUSTED_ASSOCIATIONS, Secret
from app.store import SqlStore, open_store
from app.store.base import Store
from app.webhooks.github import make_github_handler
from app.webhooks.jira import make_jira_handler

AGENT = "threadline"
GITHUB_SECRET = "gh-webhook-secret"
JIRA_SECRET = "jira-webhook-secret"
MAX_BODY = 64 * 1024
BOT_LOGIN = "threadline-bot"
BOT_ACCOUNT = "557058:bot-account"


@dataclass
class Hooks:
    """A running webhook server and what its handlers did."""

    server: TestServer
    http: aiohttp.ClientSession
    store: SqlStore
    wakes: list[None] = field(default_factory=list)
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (surface, reason)

    async def post(
        self, path: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        async with self.http.post(self.server.make_url(path), data=body, headers=headers) as r:
            return r.status, await r.json()

    async def link(self, key: str) -> str:
        """A live session owning ``key``; returns its id."""
        session = await self.store.create_session(AGENT)
        claim = await self.store.register_key(key, session.id)
        assert claim.registered
        return session.id

    async def queued(self) -> list[Any]:
        """Every delivery waiting in the inbox (claimed here, so call once per test)."""
        found = []
        while (delivery := await self.store.claim_delivery("test", 30)) is not None:
            found.append(delivery)
        return found


def build_app(
    store: Store,
    wake: Callable[[], None],
    on_refused: Callable[[str, str], None],
    **bounds: int,
) -> web.Application:
    """Both webhook routes over ``store``; ``bounds``: ``max_chars`` / ``max_pending`` when a
    test wants them small."""
    app = web.Application()
    app.router.add_post(
        "/webhooks/github",
        make_github_handler(
            secret=Secret(GITHUB_SECRET),
            store=store,
            agent=AGENT,
            identity=lambda: BOT_LOGIN,
            max_body=MAX_BODY,
            wake=wake,
            trusted=DEFAULT_TRUSTED_ASSOCIATIONS,
            on_refused=on_refused,
            **bounds,
        ),
    )
    app.router.add_post(
        "/webhooks/jira",
        make_jira_handler(
            secret=Secret(JIRA_SECRET),
            store=store,
            agent=AGENT,
            identity=lambda: BOT_ACCOUNT,
            max_body=MAX_BODY,
            wake=wake,
            on_refused=on_refused,
            **bounds,
        ),
    )
    return app


@pytest.fixture
async def sql_store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = await open_store(f"sqlite:///{tmp_path / 'threadline.db'}", ttl_days=30)
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()


async def _serve(store: SqlStore) -> AsyncIterator[Hooks]:
    wakes: list[None] = []
    refusals: list[tuple[str, str]] = []
    server = TestServer(
        build_app(
            store,
            lambda: wakes.append(None),
            lambda surface, reason: refusals.append((surface, reason)),
        )
    )
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Hooks(server, http, store, wakes, refusals)
    finally:
        await server.close()


@pytest.fixture
async def hooks(sql_store: SqlStore) -> AsyncIterator[Hooks]:
    async for running in _serve(sql_store):
        yield running


@pytest.fixture
async def broken_hooks(tmp_path: Path) -> AsyncIterator[Hooks]:
    """Handlers on a store whose database file cannot be opened: every call fails."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database's directory should be")
    store = await open_store(f"sqlite:///{blocker / 'x.db'}", ttl_days=30)
    try:
        async for running in _serve(store):
            yield running
    finally:
        await store.close()
