"""The naive bot: one handler for Slack's events, one task per mention."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from anthropic import AsyncAnthropic
from anthropic.types import MessageParam
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("baseline")
MENTION = re.compile(r"<@[A-Z0-9]+>\s*")


class NaiveBot:
    """Answers every ``app_mention`` in its thread, remembering the thread in a dict."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.verifier = SignatureVerifier(env["SLACK_SIGNING_SECRET"])
        self.slack = AsyncWebClient(
            token=env["SLACK_BOT_TOKEN"],
            base_url=env.get("SLACK_API_URL", "https://slack.com/api/"),
        )
        self.claude = AsyncAnthropic(
            api_key=env["ANTHROPIC_API_KEY"], base_url=env.get("ANTHROPIC_BASE_URL")
        )
        self.model = env.get("ANTHROPIC_MODEL", "claude-sonnet-5-5")
        self.sessions: dict[str, list[MessageParam]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def close(self, app: web.Application) -> None:
        for task in list(self.tasks):
            task.cancel()
        await self.claude.close()

    async def events(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.verifier.is_valid_request(body, dict(request.headers)):
            return web.Response(status=401)
        payload = json.loads(body)
        if payload.get("type") == "url_verification":
            return web.json_response({"challenge": payload.get("challenge")})
        event = payload.get("event") or {}
        if event.get("type") == "app_mention" and not event.get("bot_id"):
            task = asyncio.create_task(self.answer(event))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return web.Response()

    async def answer(self, event: dict[str, Any]) -> None:
        channel, thread = event["channel"], event.get("thread_ts") or event["ts"]
        history = self.sessions.setdefault(f"{channel}::{thread}", [])
        history.append({"role": "user", "content": MENTION.sub("", event.get("text", ""))})
        try:
            reply = await self.claude.messages.create(
                model=self.model, max_tokens=1024, messages=history
            )
            text = "".join(b.text for b in reply.content if b.type == "text")
            history.append({"role": "assistant", "content": text})
            await self.slack.chat_postMessage(channel=channel, thread_ts=thread, text=text)
        except Exception:
            log.exception("could not answer in %s::%s", channel, thread)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build(env: Mapping[str, str]) -> web.Application:
    bot = NaiveBot(env)
    app = web.Application()
    app.on_cleanup.append(bot.close)
    app.router.add_post("/slack/events", bot.events)
    app.router.add_get("/healthz", healthz)
    return app
