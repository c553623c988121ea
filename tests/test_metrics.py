"""``GET /metrics`` after real turns through the running app, parsed as Prometheus text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import CountingTransport, Metrics, outcome_of_status
from tests.fakes.anthropic import Fail, FakeAnthropic
from tests.fakes.github import FakeGitHub
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.harness import Running, base_env, dm, mention, new_ts, replies, run_app

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


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
async def bot(
    slack: FakeSlack, claude: FakeAnthropic, tmp_path: Path
) -> AsyncIterator[tuple[Running, FakeJira, FakeGitHub]]:
    """The app with Jira and GitHub configured too (both fakes on the same host)."""
    async with FakeJira() as jira, FakeGitHub() as github:
        env = base_env(slack.url, claude.root_url, f"sqlite:///{tmp_path / 'threadline.db'}")
        env.update(
            {
                "JIRA_BASE_URL": jira.url,
                "JIRA_EMAIL": jira.email,
                "JIRA_API_TOKEN": jira.token,
                "JIRA_PROJECTS": "AD",
                "GITHUB_API_URL": github.url,
                "GITHUB_TOKEN": github.token,
                "GITHUB_REPOS": "acme/widgets",
            }
        )
        async with run_app(env) as running:
            yield running, jira, github


async def scrape(bot: Running) -> Samples:
    status, text = await bot.get("/metrics")
    assert status == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_turns_tokens_latency_upstream_calls_and_sessions_are_counted(
    bot: tuple[Running, FakeJira, FakeGitHub], slack: FakeSlack, claude: FakeAnthropic
) -> None:
    running, jira, github = bot
    first, second = new_ts(), new_ts()
    await running.send_event(mention("one", ts=first))
    await slack.wait_for(lambda s: len(replies(s, "C1", first)) == 1)
    await running.send_event(mention("two", thread_ts=first))
    await slack.wait_for(lambda s: len(replies(s, "C1", first)) == 2)
    await running.send_event(mention("three", ts=second))
    await slack.wait_for(lambda s: len(replies(s, "C1", second)) == 1)
    await running.idle()

    m = await scrape(running)
    assert value(m, "threadline_turns_total", outcome="ok") == 3
    assert value(m, "threadline_turn_seconds_count") == 3
    assert value(m, "threadline_time_to_first_token_seconds_count") == 3
    assert value(m, "threadline_time_to_first_token_seconds_sum") <= value(
        m, "threadline_turn_seconds_sum"
    )
    # tokens, as the model reported them
    for kind, field in (
        ("input", "input_tokens"),
        ("output", "output_tokens"),
        ("cache_read", "cache_read_input_tokens"),
        ("cache_write", "cache_creation_input_tokens"),
    ):
        expected = sum(int(u.get(field) or 0) for u in claude.usages)
        assert value(m, "threadline_model_tokens_total", kind=kind) == expected, kind
    assert value(m, "threadline_model_tokens_total", kind="cache_read") > 0
    # upstream calls: every Slack call and model request, and the integrations' identity
    # lookups at start (Jira and GitHub share a host here, so telling them apart needs care)
    slack_ok = sum(1 for c in slack.calls if c.ok)
    slack_failed = len(slack.calls) - slack_ok
    assert value(m, "threadline_upstream_calls_total", service="slack", outcome="ok") == slack_ok
    assert (
        value(m, "threadline_upstream_calls_total", service="slack", outcome="error")
        == slack_failed
    )
    assert value(m, "threadline_upstream_calls_total", service="anthropic", outcome="ok") == len(
        claude.requests
    )
    assert value(m, "threadline_upstream_calls_total", service="jira", outcome="ok") == len(
        jira.requests
    )
    assert value(m, "threadline_upstream_calls_total", service="github", outcome="ok") == len(
        github.requests
    )
    assert len(jira.requests) == len(github.requests) == 1
    # the present: two live conversations, nothing queued or running
    assert value(m, "threadline_active_sessions") == 2
    assert value(m, "threadline_inbox_pending") == 0
    assert value(m, "threadline_turns_in_flight") == 0


async def test_a_failed_turn_and_its_retried_model_calls(
    bot: tuple[Running, FakeJira, FakeGitHub], slack: FakeSlack, claude: FakeAnthropic
) -> None:
    running, _, _ = bot
    claude.script(Fail(529, "overloaded_error", "Overloaded", retry_after=0.01, times=3))
    ts = new_ts()
    await running.send_event(dm("are you there?", ts=ts))
    await slack.wait_for(lambda s: any("try again" in m.text for m in s.messages("D1")))
    await running.idle()

    m = await scrape(running)
    assert value(m, "threadline_turns_total", outcome="transient_error") == 1
    assert value(m, "threadline_turns_total", outcome="ok") == 0
    # the SDK tried three times; each attempt is an upstream call
    assert (
        value(m, "threadline_upstream_calls_total", service="anthropic", outcome="overloaded") == 3
    )


async def test_counting_transport_counts_answers_and_failures() -> None:
    metrics = Metrics()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(int(request.url.path.strip("/")))

    transport = CountingTransport(
        httpx.MockTransport(answer), metrics, lambda url: url.host.split(".")[0]
    )
    async with httpx.AsyncClient(transport=transport) as client:
        for path in ("/200", "/201", "/404", "/429", "/503"):
            await client.get(f"http://jira.example{path}")
        with pytest.raises(httpx.ConnectError):
            await client.get("http://github.example/down")
    samples = {
        (s.labels["service"], s.labels["outcome"]): s.value
        for f in text_string_to_metric_families(metrics.render().decode())
        if f.name == "threadline_upstream_calls"
        for s in f.samples
        if s.name.endswith("_total")
    }
    assert samples == {
        ("jira", "ok"): 2,
        ("jira", "error"): 2,
        ("jira", "rate_limited"): 1,
        ("github", "unreachable"): 1,
    }


def test_outcome_of_status() -> None:
    assert [outcome_of_status(s) for s in (200, 302, 400, 401, 429, 500, 529)] == [
        "ok",
        "ok",
        "error",
        "error",
        "rate_limited",
        "error",
        "overloaded",
    ]
