"""What the loopback fakes of GitHub and Jira share: a recording aiohttp app on 127.0.0.1 that
can be scripted to fail (``fail``) or to answer slowly (``delay``)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class _Script:
    pattern: re.Pattern[str]
    times: int | None
    status: int = 0
    retry_after: float | str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def matches(self, route: str) -> bool:
        return (self.times is None or self.times > 0) and bool(self.pattern.search(route))

    def use(self) -> None:
        if self.times is not None:
            self.times -= 1


class ScriptedFake:
    """An aiohttp app on 127.0.0.1:0 that records requests and can be told to misbehave.

    Routes are matched as ``"METHOD /path"`` with ``re.search``: ``"/user"``,
    ``r"POST /repos/.*/issues$"``.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[Recorded] = []
        self._host = host
        self._port = port
        self._failures: list[_Script] = []
        self._delays: list[_Script] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    # scripting ---------------------------------------------------------------------------
    def fail(
        self,
        route: str,
        status: int,
        times: int | None = 1,
        retry_after: float | str | None = None,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests matching ``route`` with ``status`` (None: always)."""
        self._failures.append(
            _Script(re.compile(route), times, status, retry_after, body, dict(headers or {}))
        )

    def delay(self, route: str, seconds: float, times: int | None = None) -> None:
        """Hold requests matching ``route`` for ``seconds`` before answering."""
        self._delays.append(_Script(re.compile(route), times, seconds=seconds))

    def requests_to(self, route: str) -> list[Recorded]:
        pattern = re.compile(route)
        return [r for r in self.requests if pattern.search(r.route)]

    # to override -------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def authorized(self, request: web.Request) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> web.Response:
        raise NotImplementedError

    def failure_body(self, status: int) -> Any:
        return {"message": f"scripted failure {status}"}

    # server ------------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        recorded = Recorded(
            request.method, request.path, dict(request.query), dict(request.headers), body
        )
        self.requests.append(recorded)
        for script in self._delays:
            if script.matches(recorded.route):
                script.use()
                await asyncio.sleep(script.seconds)
        for script in self._failures:
            if script.matches(recorded.route):
                script.use()
                headers = dict(script.headers)
                if script.retry_after is not None:
                    headers["Retry-After"] = str(script.retry_after)
                payload = (
                    script.body if script.body is not None else self.failure_body(script.status)
                )
                if isinstance(payload, str):
                    return web.Response(status=script.status, text=payload, headers=headers)
                return web.json_response(payload, status=script.status, headers=headers)
        if not self.authorized(request):
            return self.unauthorized()
        return await handler(request)

    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(self.routes())
        # Cancel a delayed handler when the client gives up, so shutdown is not held up.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
