"""Fixtures for the dashboard's tests: the real app with the dashboard on, and Chromium.

* ``slack``, ``claude``: the loopback fakes (``slack.oidc`` is Sign in with Slack).
* ``dashboard_env``: the app's settings with the dashboard on: ``DASHBOARD_TOKEN`` (``TOKEN``),
  Sign in with Slack against the fake (``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET``), SQLite.
  ``PUBLIC_URL`` is added when the app starts (its port is known only then). Override this
  fixture in a module, or pass extra settings to ``start_dashboard``, for other settings.
* ``start_dashboard(extra_env)``: an async context manager running the app on
  ``127.0.0.1:<free port>`` with ``PUBLIC_URL`` pointing at it; yields a ``harness.Running``.
* ``dashboard``: the app started with ``dashboard_env``.
* ``browser``: a headless Chromium through Playwright (``CHROMIUM_PATH``, or ``chromium`` /
  ``chromium-browser`` on PATH); the test is skipped, saying why, when there is none.
* ``page``: a fresh browser context's page, not signed in, whose relative URLs go to the app
  (with the pages' Content-Security-Policy bypassed, so tests may evaluate strings).
* ``signed_in_page``: the same, signed in with ``DASHBOARD_TOKEN`` (an operator: sees all).
* ``sign_in_with_slack(page, user_id, **details)``: goes through Sign in with Slack on the
  fake as that person, and returns the page on the dashboard.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app.config import Settings
from app.main import build_app
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import Running, base_env

TOKEN = "operator-token-0123456789abcdef"
StartDashboard = Callable[..., AbstractAsyncContextManager[Running]]


def chromium_path() -> str | None:
    """Where Chromium is: ``CHROMIUM_PATH``, else on PATH; None when there is none."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.users["U1"] = {"real_name": "Ada Lovelace", "display_name": "ada"}
        yield fake


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def dashboard_env(slack: FakeSlack, claude: FakeAnthropic, sqlite_url: str) -> dict[str, str]:
    return {
        **base_env(slack.url, claude.root_url, sqlite_url),
        "DASHBOARD_TOKEN": TOKEN,
        "SLACK_CLIENT_ID": slack.oidc.client_id,
        "SLACK_CLIENT_SECRET": slack.oidc.client_secret,
    }


@pytest.fixture
def start_dashboard(dashboard_env: dict[str, str]) -> StartDashboard:
    @asynccontextmanager
    async def start(
        extra_env: Mapping[str, str] | None = None, **overrides: Any
    ) -> AsyncIterator[Running]:
        env = {**dashboard_env, **(extra_env or {})}
        async with run_on_own_port(env, **overrides) as running:
            yield running

    return start


@pytest.fixture
async def dashboard(start_dashboard: StartDashboard) -> AsyncIterator[Running]:
    async with start_dashboard() as running:
        yield running


@asynccontextmanager
async def run_on_own_port(env: Mapping[str, str], **overrides: Any) -> AsyncIterator[Running]:
    """Like ``harness.run_app``, on a port chosen first, so that ``PUBLIC_URL`` (unless ``env``
    sets one) can name it: Slack's redirect back must reach this app."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings.from_mapping({"PUBLIC_URL": url, **env})
    app = build_app(settings, shutdown_grace=overrides.pop("shutdown_grace", 5.0), **overrides)
    runner = web.AppRunner(app.web, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        async with aiohttp.ClientSession() as http:
            yield Running(app, url, http)
    finally:
        await runner.cleanup()
        sock.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: set CHROMIUM_PATH or install chromium (.ci/run does)")
    from playwright.async_api import async_playwright

    # Chromium's sandbox refuses to start as root (containers, CI).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=path, headless=True, args=args)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Any, dashboard: Running) -> AsyncIterator[Any]:
    # Playwright evaluates string predicates (``wait_for_function``) with eval, which the
    # dashboard's Content-Security-Policy forbids; the pages are checked under their real policy
    # in test_signin.
    context = await browser.new_context(base_url=dashboard.url, bypass_csp=True)
    context.set_default_timeout(10_000)
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest.fixture
async def signed_in_page(page: Any) -> Any:
    await sign_in_with_token(page)
    return page


async def sign_in_with_token(page: Any, token: str = TOKEN) -> Any:
    await page.goto("/dashboard/signin")
    await page.get_by_label("Operator token").fill(token)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_load_state()
    return page


@pytest.fixture
def sign_in_with_slack(slack: FakeSlack) -> Callable[..., Awaitable[Any]]:
    async def sign_in(page: Any, user_id: str, **details: str) -> Any:
        slack.oidc.sign_in_as(user_id, **details)
        await page.goto("/dashboard/signin")
        await page.get_by_role("link", name="Sign in with Slack").click()
        await page.wait_for_load_state()
        return page

    return sign_in
