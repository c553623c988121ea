"""Running the real app on loopback against the fakes, and signing requests to it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from app.config import Settings
from app.main import Threadline, build_app
from app.store import SqlStore
from app.store.base import Store, StoreStats

SIGNING_SECRET = "test-signing-secret"
BOT_USER = "UBOT"
TEAM = "T1"

_ts = itertools.count(1)
_event_ids = itertools.count(1)


def new_ts() -> str:
    """A unique Slack-style ts for a message the test 'types'."""
    return f"1763{next(_ts):06d}.{next(_ts):06d}"


def sign(body: bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def event_body(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_ids):08d}",
        "event_time": int(time.time()),
        "event": event,
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
    }


def mention(
    text: str,
    *,
    channel: str = "C1",
    user: str = "U1",
    ts: str | None = None,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts or new_ts(),
        "channel": channel,
        "team": TEAM,
        "event_ts": "1",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def dm(
    text: str,
    *,
    channel: str = "D1",
    user: str = "U1",
    ts: str | None = None,
    thread_ts: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts or new_ts(),
        "channel": channel,
        "team": TEAM,
        **extra,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def base_env(slack_url: str, anthropic_url: str, database_url: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_url,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": anthropic_url,
        "DATABASE_URL": database_url,
        "AGENT_NAME": "threadline",
        "TURN_TIMEOUT_SECONDS": "20",
        "LEASE_SECONDS": "5",
    }


@dataclass
class Running:
    app: Threadline
    url: str
    http: aiohttp.ClientSession

    @property
    def store(self) -> Store:
        return self.app.store

    async def post_raw(
        self, path: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        async with self.http.post(self.url + path, data=body, headers=dict(headers or {})) as r:
            await r.read()
            return r

    async def send_event(self, event: dict[str, Any], *, event_id: str | None = None) -> int:
        body = json.dumps(event_body(event, event_id=event_id)).encode()
        headers = {"Content-Type": "application/json", **sign(body)}
        response = await self.post_raw("/slack/events", body, headers)
        return response.status

    async def slash(self, command: str, text: str = "", **fields: str) -> tuple[int, str]:
        form = {
            "command": command,
            "text": text,
            "team_id": TEAM,
            "user_id": "U1",
            "channel_id": "C1",
            "channel_name": "general",
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": "1.2.3",
            **fields,
        }
        body = urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
        async with self.http.post(self.url + "/slack/events", data=body, headers=headers) as r:
            return r.status, await r.text()

    async def idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every recorded delivery has been handled and committed."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            worker = self.app.worker
            pending = (await self.store.stats()).pending_deliveries
            if pending == 0 and worker is not None and worker.in_flight == 0:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"still busy: {pending} pending deliveries")
            await asyncio.sleep(0.02)

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.url + path) as r:
            return r.status, await r.text()


@asynccontextmanager
async def run_app(env: Mapping[str, str], **overrides: Any) -> AsyncIterator[Running]:
    """Start the real app on 127.0.0.1:<random> with ``env`` as its whole configuration."""
    settings = Settings.from_mapping(env)
    app = build_app(settings, shutdown_grace=overrides.pop("shutdown_grace", 5.0), **overrides)
    runner = web.AppRunner(app.web, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            yield Running(app, f"http://127.0.0.1:{port}", http)
    finally:
        await runner.cleanup()


def said(text: str, who: str = "ada (U1)", where: str = "Slack") -> str:
    """The fake model's default echo of a message ``who`` wrote: it repeats the whole user
    turn, header included."""
    return f"echo: [{who} in {where}]\n{text}"


def replies(slack: Any, channel: str, thread_ts: str) -> list[str]:
    """The bot's finished messages in a thread (the parent and unfinished streams excluded)."""
    return [
        m.text
        for m in slack.messages(channel, thread_ts)
        if m.ts != thread_ts and (m.stopped or not m.streamed)
    ]


async def eventually(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:  # noqa: ASYNC109
    """Wait until ``predicate()`` is truthy (a wait, not a speed assertion)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.02)


async def inbox_drained(store: Store, timeout: float = 30.0) -> StoreStats:  # noqa: ASYNC109
    """Wait until no delivery in ``store``'s inbox is pending or being processed.

    Every delivery recorded before the call has then been handled to its end, so a test can
    assert that nothing else happened (no second answer) without guessing how long to sleep.
    A delivery put off for a retry is still pending, and one whose holder died is still
    processing until its lease runs out and it is answered again: both are waited for.
    Returns the drained inbox's stats.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stats = await store.stats()
        pending = stats.pending_deliveries
        processing = stats.extra.get("processing_deliveries", 0)
        if pending == 0 and processing == 0:
            return stats
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"inbox not drained within {timeout}s: "
                f"{pending} pending, {processing} processing deliveries"
            )
        await asyncio.sleep(0.05)


@asynccontextmanager
async def store_on(database_url: str) -> AsyncIterator[Store]:
    """A store of the test's own on the database a bot process uses, to read what it wrote."""
    store = SqlStore(database_url)
    try:
        yield store
    finally:
        await store.close()
