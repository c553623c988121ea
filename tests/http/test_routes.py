"""Which routes exist for which settings, and what each answers before the app has started."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from app.config import Settings
from app.http.routes import Started, add_routes
from app.metrics import Metrics

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "ANTHROPIC_API_KEY": "k"}
GITHUB = {"GITHUB_TOKEN": "t", "GITHUB_REPOS": "acme/widgets"}
JIRA = {
    "JIRA_BASE_URL": "https://acme.atlassian.net",
    "JIRA_EMAIL": "bot@acme.io",
    "JIRA_API_TOKEN": "t",
    "JIRA_PROJECTS": "AD",
}
ALWAYS = {("POST", "/slack/events"), ("GET", "/healthz"), ("GET", "/metrics")}
NOT_STARTED = Started(
    store=lambda: None, worker=lambda: None, bolt=lambda: None, webhook=lambda _: None
)


def web_app(env: Mapping[str, str]) -> web.Application:
    app = web.Application()
    add_routes(app, Settings.from_mapping({**BASE, **env}), Metrics(), NOT_STARTED)
    return app


def routes(env: Mapping[str, str]) -> set[tuple[str, str]]:
    found = set()
    for route in web_app(env).router.routes():
        if route.method != "HEAD":  # aiohttp adds HEAD next to every GET
            found.add((route.method, route.resource.canonical if route.resource else ""))
    return found


@pytest.mark.parametrize(
    ("env", "webhooks"),
    [
        ({}, set()),
        (GITHUB, set()),
        (JIRA, set()),
        ({**GITHUB, "GITHUB_WEBHOOK_SECRET": "gh"}, {"/webhooks/github"}),
        ({**JIRA, "JIRA_WEBHOOK_SECRET": "j"}, {"/webhooks/jira"}),
        (
            {**GITHUB, **JIRA, "GITHUB_WEBHOOK_SECRET": "gh", "JIRA_WEBHOOK_SECRET": "j"},
            {"/webhooks/github", "/webhooks/jira"},
        ),
        # a secret without the integration it belongs to opens nothing
        ({"GITHUB_WEBHOOK_SECRET": "gh", "JIRA_WEBHOOK_SECRET": "j"}, set()),
        # Socket Mode keeps the route: it answers 404 itself
        ({"SLACK_APP_TOKEN": "xapp-1", "SLACK_SIGNING_SECRET": ""}, set()),
    ],
)
def test_webhook_routes_exist_only_for_an_integration_with_its_secret(
    env: dict[str, str], webhooks: set[str]
) -> None:
    assert routes(env) == ALWAYS | {("POST", path) for path in webhooks}


async def test_before_the_app_has_started_everything_but_metrics_is_503() -> None:
    env = {**GITHUB, "GITHUB_WEBHOOK_SECRET": "gh"}
    async with TestClient(TestServer(web_app(env))) as client:
        for method, path, answer in [
            ("GET", "/healthz", {"status": "starting"}),
            ("POST", "/slack/events", {"error": "starting"}),
            ("POST", "/webhooks/github", {"error": "starting"}),
        ]:
            response = await client.request(method, path, data=b"{}")
            assert (response.status, await response.json()) == (503, answer), path
        metrics = await client.get("/metrics")
        assert metrics.status == 200
        assert "threadline_turns_in_flight 0.0" in await metrics.text()
