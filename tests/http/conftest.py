"""The whole app served as ``python -m app serve`` serves it (``app.http.server``), with short
limits, every route on (Slack, GitHub and Jira webhooks) against the loopback fakes.

``served`` is that app, one per test module; the module's tests run in its event loop
(``pytestmark = pytest.mark.asyncio(loop_scope="module")``). ``tests.http.raw`` talks to it
over a raw socket, for what an HTTP client library would not send.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from app.config import Settings
from app.http.server import ServerLimits, runner
from app.main import Threadline, build_app
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.github import FakeGitHub
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.harness import base_env

GITHUB_SECRET = "gh-webhook-secret"
JIRA_SECRET = "jira-webhook-secret"
MAX_BODY = 64 * 1024
# Short enough for a quick suite, long enough that a loaded machine still reads a whole
# well-behaved request in time.
TEST_LIMITS = ServerLimits(body_deadline=0.5, idle_timeout=1.0, lingering_time=0.2)


@dataclass
class Served:
    app: Threadline
    host: str
    port: int
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        async with self.http.post(self.url + path, data=body, headers=dict(headers or {})) as r:
            return r.status, await r.text()

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.url + path) as r:
            return r.status, await r.text()


@asynccontextmanager
async def running_fakes() -> AsyncIterator[dict[str, Any]]:
    async with (
        FakeSlack() as slack,
        FakeAnthropic() as claude,
        FakeGitHub() as github,
        FakeJira() as jira,
    ):
        yield {"slack": slack, "claude": claude, "github": github, "jira": jira}


def configuration(fakes: dict[str, Any], database: Path) -> dict[str, str]:
    """Every route on: Slack, and the GitHub and Jira webhooks, against ``fakes``."""
    github: FakeGitHub = fakes["github"]
    jira: FakeJira = fakes["jira"]
    return {
        **base_env(fakes["slack"].url, fakes["claude"].root_url, f"sqlite:///{database}"),
        "MAX_BODY_BYTES": str(MAX_BODY),
        "GITHUB_TOKEN": github.token,
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOS": "acme/widgets",
        "GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
        "JIRA_BASE_URL": jira.url,
        "JIRA_EMAIL": jira.email,
        "JIRA_API_TOKEN": jira.token,
        "JIRA_PROJECTS": "AD",
        "JIRA_WEBHOOK_SECRET": JIRA_SECRET,
    }


@asynccontextmanager
async def serve(env: Mapping[str, str], limits: ServerLimits) -> AsyncIterator[Served]:
    """The app, started the way ``python -m app serve`` starts it, on 127.0.0.1:<random>."""
    app = build_app(Settings.from_mapping(env), shutdown_grace=2.0)
    serving = runner(app.web, limits, access_log=None, shutdown_timeout=1.0)
    await serving.setup()
    site = web.TCPSite(serving, "127.0.0.1", 0)
    await site.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Served(app, "127.0.0.1", serving.addresses[0][1], http)
    finally:
        await serving.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    """One app for a whole module, whose tests run in the module's event loop and each leave
    it as they found it."""
    database = tmp_path_factory.mktemp("served") / "tl.db"
    async with running_fakes() as fakes, serve(configuration(fakes, database), TEST_LIMITS) as app:
        yield app
