"""Starting the bot the way operators do (the Procfile's ``python -m app``) as a child process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


def procfile_command() -> list[str]:
    line = (ROOT / "Procfile").read_text().strip()
    assert line.startswith("web: ")
    words = line.removeprefix("web: ").split()
    assert words[0] == "python"
    return [sys.executable, *words[1:]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BotProcess:
    def __init__(self, env: Mapping[str, str], *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "THREADLINE_ENV_FILE": "/nonexistent/.env",
            **env,
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self, *, wait: bool = True) -> BotProcess:
        self.proc = await asyncio.create_subprocess_exec(
            *procfile_command(),
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        if wait:
            await self.wait_healthy()
        return self

    async def wait_healthy(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        assert self.proc is not None
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as http:
            while asyncio.get_running_loop().time() < deadline:
                if self.proc.returncode is not None:
                    out = await self.output()
                    raise AssertionError(f"bot exited {self.proc.returncode}:\n{out}")
                try:
                    async with http.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("bot did not become healthy")

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError("bot did not stop in time") from None

    async def output(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        if self.proc.returncode is None:
            return ""
        return (await self.proc.stdout.read()).decode(errors="replace")
