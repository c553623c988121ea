"""The processes of the burst benchmark: a bot run as its own process (Threadline with its
Procfile command, or the naive bot), the fake Slack that reports what users would see, what
each costs in CPU (from ``/proc``), and the app as it was at an earlier commit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Self

import aiohttp

from bench.fixtures import ROOT, FakeProcess
from tests.process.bot import free_port


class BotProcess:
    """A bot as its own process, output to a log file; its CPU and memory read from /proc."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._argv, self._cwd, self._log = argv, cwd, log
        self._env = {
            "PATH": os.environ.get("PATH", ""),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "THREADLINE_ENV_FILE": "/nonexistent/.env",
            **env,
        }
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Self:
        with self._log.open("ab") as out:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv, cwd=self._cwd, env=self._env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self._proc.returncode is not None:
                    raise RuntimeError(self._failed("exited"))
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            return self
                await asyncio.sleep(0.1)
        await self.__aexit__()
        raise RuntimeError(self._failed("did not become healthy"))

    def _failed(self, what: str) -> str:
        tail = self._log.read_text(errors="replace").splitlines()[-15:]
        return "\n".join([f"{' '.join(self._argv)} {what}:", *tail])

    async def __aexit__(self, *exc: object) -> None:
        if self._proc is None or self._proc.returncode is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._proc.wait(), timeout=30)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/<pid>/status")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fakes_and_load_cpu(*fakes: FakeProcess) -> float:
    """CPU so far of the fakes' processes and of this one (the load)."""
    own = os.times()
    return own.user + own.system + sum(cpu_seconds(f.pid) for f in fakes)


class VisibleSlackProcess(FakeProcess):
    """``bench.visible_slack`` in its own process: counts calls, resolves awaited replies."""

    def __init__(self, people: int) -> None:
        super().__init__("bench.visible_slack", "--people", str(people))
        self.calls: Counter[str] = Counter()
        self.in_thread: dict[tuple[str, str], list[float]] = {}  # when each call was made
        self._waiting: dict[tuple[str, str], list[tuple[str, asyncio.Future[float]]]] = {}
        self._reader: asyncio.Task[None] | None = None

    @property
    def root(self) -> str:
        return self.url.removesuffix("/api/")

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

    def expect(self, channel: str, thread: str, token: str) -> asyncio.Future[float]:
        """A future set to the moment a bot message in the thread holding ``token`` is final."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault((channel, thread), []).append((token, future))
        return future

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            record = json.loads(line)
            self.calls[record["call"]] += 1
            if "thread" in record:
                where = (record["channel"], record["thread"])
                self.in_thread.setdefault(where, []).append(float(record["when"]))
            if "text" not in record:
                continue
            waiting = self._waiting.get((record["channel"], record["thread"]), [])
            for token, future in list(waiting):
                if token in record["text"] and not future.done():
                    future.set_result(float(record["when"]))
                    waiting.remove((token, future))


def checkout(commit: str, where: Path) -> Path | None:
    """This repository at ``commit``, cloned into ``where`` (None, said on stderr, if git
    cannot: no git, or a copy without that commit)."""
    try:
        subprocess.run(
            ["git", "clone", "-q", "--shared", "--no-checkout", str(ROOT), str(where)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["git", "-C", str(where), "checkout", "-q", commit], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"bench: burst: no run at {commit}: {err}", file=sys.stderr)
        return None
    return where
