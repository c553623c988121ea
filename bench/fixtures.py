"""What the scenarios run on: the real app, the loopback fakes (in this process or in their
own), a Slack fake that says when a reply is finished, and the statistics."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, Self

from tests.fakes.slack import FakeSlack
from tests.harness import SIGNING_SECRET, Running, mention, new_ts, run_app

ROOT = Path(__file__).resolve().parent.parent
AGENT = "threadline"


class TimedSlack(FakeSlack):
    """FakeSlack that resolves a future when the reply in a thread is finished (its stream
    stopped), so a scenario learns the moment without polling."""

    def __init__(self) -> None:
        super().__init__()
        self.users["U1"] = {"real_name": "Ada Lovelace", "display_name": "ada"}
        self._thread_of: dict[tuple[str, str], str] = {}
        self._waiting: dict[tuple[str, str], asyncio.Future[float]] = {}

    def expect(self, channel: str, thread_ts: str) -> asyncio.Future[float]:
        """A future set to ``time.monotonic()`` when the reply in the thread finishes."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[(channel, thread_ts)] = future
        return future

    def _dispatch(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        status, body, extra = super()._dispatch(method, params, headers)
        if body.get("ok") and method == "chat.startStream":
            self._thread_of[(str(params["channel"]), str(body["ts"]))] = str(params["thread_ts"])
        elif body.get("ok") and method == "chat.stopStream":
            channel = str(params["channel"])
            thread = self._thread_of.pop((channel, str(params["ts"])), None)
            future = self._waiting.pop((channel, thread or ""), None)
            if future is not None and not future.done():
                future.set_result(time.monotonic())
        return status, body, extra

    def forget(self) -> None:
        """Drop what the fake recorded (it would otherwise grow with every turn)."""
        self.calls.clear()
        self._messages.clear()
        self._statuses.clear()
        self._current_status.clear()


class Timed(Protocol):
    """A fake Slack that tells when the reply in a thread is finished."""

    @property
    def url(self) -> str: ...

    def expect(self, channel: str, thread_ts: str) -> asyncio.Future[float]: ...


class FakeProcess:
    """A fake run as its own process (``python -m tests.fakes.anthropic --port 0``), so its
    work neither shares the app's event loop nor counts in the app's memory."""

    def __init__(self, module: str, *args: str) -> None:
        self._argv = [sys.executable, "-m", module, "--port", "0", *args]
        self._proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        self._proc = await asyncio.create_subprocess_exec(
            *self._argv,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), timeout=30)
        self.url = line.decode().strip()
        if not self.url.startswith("http"):
            raise RuntimeError(f"{self._argv[2]} did not start: {line!r}")
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    async def __aexit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._proc.wait(), timeout=10)
            if self._proc.returncode is None:
                self._proc.kill()
                await self._proc.wait()


class SlackProcess(FakeProcess):
    """``bench.timed_slack`` in its own process; its report lines resolve ``expect`` futures."""

    def __init__(self) -> None:
        super().__init__("bench.timed_slack")
        self._waiting: dict[tuple[str, str], asyncio.Future[float]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def expect(self, channel: str, thread_ts: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[(channel, thread_ts)] = future
        return future

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            kind, channel, thread, when = line.decode().split()
            if kind != "done":
                continue
            future = self._waiting.pop((channel, thread), None)
            if future is not None and not future.done():
                future.set_result(float(when))


def app_env(slack_url: str, anthropic_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The app's configuration: production defaults except where the fakes live, and no
    hourly rates (the benchmark sends far more than 60 messages an hour from one person)."""
    return {
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_url,
        "ANTHROPIC_API_KEY": "sk-ant-bench",
        "ANTHROPIC_BASE_URL": anthropic_url,
        "DATABASE_URL": database_url,
        "AGENT_NAME": AGENT,
        "USER_TURNS_PER_HOUR": "0",
        "CHANNEL_TURNS_PER_HOUR": "0",
        **extra,
    }


@asynccontextmanager
async def app(
    slack_url: str, anthropic_url: str, workdir: Path, name: str, **extra: str
) -> AsyncIterator[Running]:
    """The real app on a fresh SQLite file in ``workdir``."""
    url = f"sqlite:///{workdir / name}.db"
    async with run_app(app_env(slack_url, anthropic_url, url, **extra)) as running:
        yield running


async def timed_turn(
    bot: Running, slack: Timed, text: str, *, channel: str = "C1", thread: str | None = None
) -> tuple[float, str]:
    """Send one signed mention (a new thread, or into ``thread``) and wait for the finished
    reply; returns (seconds from the POST to the finished reply, the thread's ts)."""
    ts = new_ts()
    root = thread or ts
    done = slack.expect(channel, root)
    start = time.monotonic()
    status = await bot.send_event(mention(text, channel=channel, ts=ts, thread_ts=thread))
    if status != 200:
        raise RuntimeError(f"event answered {status}")
    finished = await asyncio.wait_for(done, timeout=60)
    return finished - start, root


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def rss_mb() -> float:
    """Resident set size of this process (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")
