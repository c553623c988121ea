"""Shared plumbing for the fake HTTP services (FakeSlack, FakeAnthropic).

A fake is a small aiohttp application bound to 127.0.0.1 on a random port. It runs in the
event loop that enters it, so pytest-asyncio tests drive the real SDK clients against it in
the same loop as the app under test. ``serve_forever`` runs one as a standalone process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import signal
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Self

from aiohttp import web

POLL_INTERVAL = 0.01


class FakeServer:
    """Base class: subclasses implement ``add_routes`` and set ``url_path``."""

    url_path = "/"
    """Appended to ``http://host:port`` to form :attr:`url`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> Self:
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=256 * 1024 * 1024)
        self.add_routes(app)
        # handler_cancellation: a handler whose client went away (e.g. a timed-out request to a
        # hanging fake) is cancelled instead of lingering; shutdown_timeout keeps close() quick.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self

    async def close(self) -> None:
        if self._closing is not None:
            self._closing.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def root_url(self) -> str:
        if self._runner is None:
            raise RuntimeError(f"{type(self).__name__} is not running (use `async with`)")
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.root_url + self.url_path

    # -- helpers for subclasses ------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        """Sleep that ends early when the fake is closed (so hangs never stall teardown)."""
        if seconds <= 0:
            return
        if self._closing is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    def describe(self) -> str:
        """Human-readable summary of recorded traffic, used in timeout messages."""
        return ""

    async def wait_for(
        self,
        predicate: Callable[[Any], Any],
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the documented API
        *,
        message: str = "",
    ) -> Any:
        """Poll ``predicate(self)`` until it returns a truthy value, and return that value.

        The predicate may be sync or async. Exceptions it raises (e.g. IndexError while a
        message does not exist yet) count as "not yet". On timeout raises AssertionError that
        describes everything the fake recorded. This is a wait, not a speed assertion.
        """
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while True:
            try:
                result = predicate(self)
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return result
                last_error = None
            except Exception as err:
                last_error = err
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_INTERVAL)
        what = message or getattr(predicate, "__name__", repr(predicate))
        lines = [f"{type(self).__name__}: condition {what!r} not met within {timeout}s"]
        if last_error is not None:
            lines.append(f"last predicate error: {type(last_error).__name__}: {last_error}")
        lines.append(self.describe() or "(nothing recorded)")
        raise AssertionError("\n".join(lines))


def short(value: object, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def add_common_arguments(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port, help="0 picks a free port")


async def serve_forever(server: FakeServer, banner: Iterable[str] = ()) -> None:
    """Run ``server`` until SIGTERM/SIGINT; prints its URL (first line of stdout) on start."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with server:
        print(server.url, flush=True)
        for line in banner:
            print(line, flush=True)
        await stop.wait()


def run(coro: Coroutine[Any, Any, None]) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(coro)
