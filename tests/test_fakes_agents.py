"""The fake Managed Agents API proven through the real ``anthropic`` SDK: sessions, events,
errors, and Standard Webhooks deliveries that the SDK's own ``webhooks.unwrap`` accepts (and
forgeries it refuses); and the fake dispatch receiver of the callback runner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest
import standardwebhooks
from aiohttp import web

from tests.fakes.anthropic import Fail, FakeAnthropic, Hang
from tests.fakes.anthropic_agents import (
    DEFAULT_AGENT_ID,
    DEFAULT_ENVIRONMENT_ID,
    FakeManagedAgents,
)
from tests.fakes.dispatch import Answer, FakeDispatch
from tests.fakes.server import FakeServer

REPO = "https://github.com/acme/widgets"


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
async def llm(claude: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(base_url=claude.url, api_key="test", max_retries=0)
    yield client
    await client.close()


def message(text: str) -> dict[str, Any]:
    return {"type": "user.message", "content": [{"type": "text", "text": text}]}


async def start(llm: anthropic.AsyncAnthropic, text: str = "Refactor the parser") -> Any:
    return await llm.beta.sessions.create(
        agent=DEFAULT_AGENT_ID,
        environment_id=DEFAULT_ENVIRONMENT_ID,
        title="Refactor",
        metadata={"threadline_job": "job-1", "threadline_session": "s-1"},
        resources=[{"type": "github_repository", "url": REPO, "authorization_token": "ghp_x"}],
        initial_events=[message(text)],
    )


class Receiver(FakeServer):
    """A webhook endpoint that verifies like an app would and answers a scripted status."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret
        self.statuses: list[int] = []  # answered in turn; 204 once used up
        self.accepted: list[Any] = []
        self.refused: list[str] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/hook", self._hook)

    async def _hook(self, request: web.Request) -> web.Response:
        payload = await request.text()
        client = anthropic.Anthropic(api_key="unused")
        try:
            event = client.beta.webhooks.unwrap(payload, headers=request.headers, key=self.secret)
        except (standardwebhooks.WebhookVerificationError, ValueError) as err:
            self.refused.append(str(err))
            return web.Response(status=400)
        self.accepted.append(event)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 204)


@pytest.fixture
async def receiver(claude: FakeAnthropic) -> AsyncIterator[Receiver]:
    async with Receiver(claude.managed.webhook_secret) as server:
        yield server


async def test_create_session_runs_its_initial_message(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    session = await start(llm)
    assert session.status == "running" and session.title == "Refactor"
    assert session.agent.id == DEFAULT_AGENT_ID and session.agent.version == 1
    assert session.metadata == {"threadline_job": "job-1", "threadline_session": "s-1"}
    (repo,) = session.resources
    assert repo.type == "github_repository" and repo.url == REPO
    assert repo.mount_path == "/workspace/widgets"
    assert "ghp_x" not in session.model_dump_json()  # the token is never answered back
    assert claude.managed.calls[-1].headers["anthropic-beta"] == "managed-agents-2026-04-01"
    assert claude.managed.session_for(threadline_job="job-1").id == session.id
    again = await llm.beta.sessions.retrieve(session.id)
    assert again.status == "running" and again.id == session.id


async def test_finish_and_read_the_final_messages(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    session = await start(llm)
    claude.managed.say(session.id, "Looking at the parser.")
    emitted = claude.managed.finish(
        session.id, "Done: opened https://github.com/acme/widgets/pull/7"
    )
    assert [e["data"]["type"] for e in emitted] == ["session.status_idled"]
    assert (await llm.beta.sessions.retrieve(session.id)).status == "idle"

    events = [e async for e in llm.beta.sessions.events.list(session.id, limit=2)]
    kinds = [e.type for e in events]
    assert kinds == [
        "user.message",
        "session.status_running",
        "agent.message",
        "agent.tool_use",
        "agent.tool_result",
        "agent.message",
        "session.status_idle",
    ]
    assert events[4].tool_use_id == events[3].id and events[3].name == "bash"
    assert events[-1].stop_reason.type == "end_turn"
    newest = await llm.beta.sessions.events.list(
        session.id, order="desc", types=["agent.message"], limit=1
    )
    assert newest.data[0].content[0].text.endswith("/pull/7")


async def test_continue_interrupt_and_archive(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    session = await start(llm)
    claude.managed.finish(session.id, "First pass done.")
    await llm.beta.sessions.events.send(session.id, events=[message("Now add tests")])
    assert (await llm.beta.sessions.retrieve(session.id)).status == "running"
    assert claude.managed.sessions[session.id].user_texts()[-1] == "Now add tests"

    await llm.beta.sessions.events.send(session.id, events=[{"type": "user.interrupt"}])
    assert (await llm.beta.sessions.retrieve(session.id)).status == "idle"

    archived = await llm.beta.sessions.archive(session.id)
    assert archived.status == "terminated" and archived.archived_at is not None
    assert [s.id async for s in llm.beta.sessions.list()] == []
    assert [s.id async for s in llm.beta.sessions.list(include_archived=True)] == [session.id]
    with pytest.raises(anthropic.BadRequestError, match="archived"):
        await llm.beta.sessions.events.send(session.id, events=[message("more")])
    assert (await llm.beta.sessions.archive(session.id)).archived_at == archived.archived_at


async def test_bad_requests_unknown_ids_and_scripted_errors(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    with pytest.raises(anthropic.NotFoundError):
        await llm.beta.sessions.retrieve("sesn_nope")
    with pytest.raises(anthropic.NotFoundError):
        await llm.beta.sessions.create(agent="agent_nope", environment_id=DEFAULT_ENVIRONMENT_ID)
    with pytest.raises(anthropic.NotFoundError):
        await llm.beta.sessions.create(agent=DEFAULT_AGENT_ID, environment_id="env_nope")
    with pytest.raises(anthropic.BadRequestError, match="metadata"):
        await llm.beta.sessions.create(
            agent=DEFAULT_AGENT_ID,
            environment_id=DEFAULT_ENVIRONMENT_ID,
            metadata={"n": 1},  # type: ignore[dict-item]
        )
    with pytest.raises(anthropic.BadRequestError, match="content"):
        await llm.beta.sessions.create(
            agent=DEFAULT_AGENT_ID,
            environment_id=DEFAULT_ENVIRONMENT_ID,
            initial_events=[{"type": "user.message", "content": []}],
        )
    with pytest.raises(anthropic.BadRequestError, match="anthropic-beta"):
        await llm.post("/v1/sessions", body={}, cast_to=object)
    session = await start(llm)
    with pytest.raises(anthropic.BadRequestError, match="events"):
        await llm.beta.sessions.events.send(session.id, events=[])

    claude.managed.fail("events.list", Fail(429, "rate_limit_error", "Slow down"))
    claude.managed.fail("*", Fail(500, "api_error", "Internal server error"))
    with pytest.raises(anthropic.RateLimitError):
        await llm.beta.sessions.events.list(session.id)
    with pytest.raises(anthropic.InternalServerError):
        await llm.beta.sessions.retrieve(session.id)
    assert (await llm.beta.sessions.retrieve(session.id)).id == session.id
    assert (await llm.beta.agents.retrieve(DEFAULT_AGENT_ID)).id == DEFAULT_AGENT_ID
    assert (await llm.beta.environments.retrieve(DEFAULT_ENVIRONMENT_ID)).type == "environment"
    claude.api_keys = {"test"}
    stranger = anthropic.AsyncAnthropic(base_url=claude.url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        await stranger.beta.sessions.retrieve(session.id)
    await stranger.close()


async def test_outcomes_a_job_can_end_with(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    managed = claude.managed
    waiting = await start(llm)
    hooks = managed.require_action(waiting.id, tool="bash")
    assert [e["data"]["type"] for e in hooks] == [
        "session.requires_action",
        "session.status_idled",
    ]
    idle = [e async for e in llm.beta.sessions.events.list(waiting.id)][-1]
    assert idle.stop_reason.type == "requires_action" and idle.stop_reason.event_ids

    failed = await start(llm)
    assert [e["data"]["type"] for e in managed.terminate(failed.id)] == [
        "session.status_terminated"
    ]
    assert (await llm.beta.sessions.retrieve(failed.id)).status == "terminated"
    (error,) = (await llm.beta.sessions.events.list(failed.id, types=["session.error"])).data
    assert error.error.type == "unknown_error" and error.error.retry_status.type == "terminal"

    capped = await start(llm)
    with pytest.raises(ValueError, match="no budget"):
        managed.reach_budget(capped.id)
    budgeted = await llm.beta.sessions.create(
        agent=DEFAULT_AGENT_ID,
        environment_id=DEFAULT_ENVIRONMENT_ID,
        budget={"type": "limit", "max_list_cost": {"amount": "1.00", "currency": "USD"}},
        initial_events=[message("go")],
    )
    hooks = managed.reach_budget(budgeted.id, "Half done.")
    assert hooks[0]["data"]["type"] == "session.budget_reached"
    with pytest.raises(ValueError, match="not running"):
        managed.finish(budgeted.id, "too late")


async def test_subscribed_webhooks_verify_with_the_sdk_and_retry(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic, receiver: Receiver
) -> None:
    managed = claude.managed
    managed.subscribe(receiver.url + "hook")
    receiver.statuses = [204, 204, 503]  # created, run started, then idled fails once
    session = await start(llm)
    managed.finish(session.id, "PR: https://github.com/acme/widgets/pull/9")
    await managed.settled()
    kinds = [e.data.type for e in receiver.accepted]
    assert kinds == [
        "session.created",
        "session.status_run_started",
        "session.status_idled",
        "session.status_idled",
    ]
    assert receiver.accepted[-1].id == receiver.accepted[-2].id  # a retry keeps its id
    assert {e.data.id for e in receiver.accepted} == {session.id}
    assert [d.status for d in managed.deliveries] == [204, 204, 503, 204]


@pytest.mark.parametrize("forgery", ["bad_signature", "stale", "unsigned", "tampered", "malformed"])
async def test_forged_webhooks_fail_verification(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic, receiver: Receiver, forgery: str
) -> None:
    session = await start(llm)
    (event,) = claude.managed.finish(session.id, "done")
    delivery = await claude.managed.deliver(event, url=receiver.url + "hook", forge=forgery)
    assert delivery.status == 400 and receiver.refused and not receiver.accepted


async def test_replay_resends_the_same_bytes(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic, receiver: Receiver
) -> None:
    session = await start(llm)
    (event,) = claude.managed.finish(session.id, "done")
    first = await claude.managed.deliver(event, url=receiver.url + "hook")
    second = await claude.managed.replay(first)
    assert (first.status, second.status) == (204, 204)
    assert second.headers == first.headers and second.body == first.body
    assert [e.id for e in receiver.accepted] == [event["id"], event["id"]]


async def test_unreachable_endpoint_is_recorded_not_raised() -> None:
    managed = FakeManagedAgents(lambda headers, is_json: None)
    event = managed.webhook_event("sesn_x", "session.status_idled")
    delivery = await managed.deliver(event, url="http://127.0.0.1:9/hook")
    assert delivery.status is None and "Error" in delivery.answer


class Callback(FakeServer):
    """Stands in for the app's callback route: records what a runner reports."""

    def __init__(self) -> None:
        super().__init__()
        self.reports: list[tuple[str, str, Any]] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/jobs/{job_id}/callback", self._report)

    async def _report(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        self.reports.append((request.match_info["job_id"], auth, await request.json()))
        return web.Response(status=204 if auth == "Bearer tok-1" else 401)


async def test_dispatch_records_jobs_and_reports_back() -> None:
    async with FakeDispatch() as runner, Callback() as app:
        job = {
            "job_id": "job-1",
            "title": "Refactor",
            "instructions": "Split the parser",
            "repo": "acme/widgets",
            "callback_url": f"{app.url}jobs/job-1/callback",
            "callback_token": "tok-1",
        }
        runner.answer(Answer(503))
        async with aiohttp.ClientSession() as http:
            async with http.post(runner.url, json=job) as first:
                assert first.status == 503
            async with http.post(runner.url, json=job) as second:
                assert second.status == 202
            async with http.post(runner.url, json={**job, "extra": 1}) as bad:
                assert bad.status == 400
            async with http.post(runner.url, data=b"job_id=1") as bad:
                assert bad.status == 400
        dispatched = await runner.wait_for_dispatches(2)
        assert [d.status for d in dispatched] == [503, 202] and len(runner.rejected) == 2
        assert dispatched[-1]["instructions"] == "Split the parser"

        pr = "https://github.com/acme/widgets/pull/3"
        assert (await runner.report(dispatched[-1], links=[pr]))[0] == 204
        assert (await runner.report(dispatched[-1], token="forged"))[0] == 401
        assert (await runner.report(dispatched[-1], token=""))[0] == 401
        assert app.reports[0] == (
            "job-1",
            "Bearer tok-1",
            {"status": "succeeded", "summary": "Done.", "links": [pr]},
        )
        assert [auth for _, auth, _ in app.reports[1:]] == ["Bearer forged", ""]


async def test_a_private_repository_without_credentials_fails_to_clone(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    claude.managed.private_repos.add("acme/widgets")
    bare = await llm.beta.sessions.create(
        agent=DEFAULT_AGENT_ID,
        environment_id=DEFAULT_ENVIRONMENT_ID,
        resources=[{"type": "github_repository", "url": REPO}],
        initial_events=[message("go")],
    )
    errors = await llm.beta.sessions.events.list(bare.id, types=["session.error"])
    (error,) = errors.data
    assert error.error.type == "repository_authentication_error"
    assert error.error.retry_status.type == "retrying"
    assert (await llm.beta.sessions.retrieve(bare.id)).status == "running"

    with_token = await start(llm)  # mounts the repository with a token
    assert (await llm.beta.sessions.events.list(with_token.id, types=["session.error"])).data == []


async def test_a_slow_or_rate_limited_api_as_the_sdk_meets_it(claude: FakeAnthropic) -> None:
    patient = anthropic.AsyncAnthropic(base_url=claude.url, api_key="test", max_retries=1)
    session = await start(patient)
    claude.managed.fail("sessions.retrieve", Fail(429, "rate_limit_error", "Slow down", 0.01))
    assert (await patient.beta.sessions.retrieve(session.id)).id == session.id  # retried
    assert [c.status for c in claude.managed.calls[-2:]] == [429, 200]

    claude.managed.fail("events.send", Hang(1.0))
    hasty = patient.with_options(timeout=0.1, max_retries=0)
    with pytest.raises(anthropic.APITimeoutError):
        await hasty.beta.sessions.events.send(session.id, events=[message("more")])
    await patient.close()


async def test_runs_can_finish_by_themselves(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    claude.managed.auto_finish = 0.05
    session = await start(llm, "Rename the module")
    await claude.wait_for(lambda f: f.managed.sessions[session.id].status == "idle")
    assert claude.managed.sessions[session.id].texts() == ["Done: Rename the module"]
    await llm.beta.sessions.events.send(session.id, events=[message("And the tests")])
    await claude.wait_for(lambda f: len(f.managed.sessions[session.id].texts()) == 2)
    assert claude.managed.sessions[session.id].texts()[-1] == "Done: And the tests"


async def test_a_message_may_leave_a_session_idle_for_a_while(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    session = await start(llm)
    claude.managed.finish(session.id, "First pass done.")
    claude.managed.hold_runs = True
    await llm.beta.sessions.events.send(session.id, events=[message("Now add tests")])
    assert (await llm.beta.sessions.retrieve(session.id)).status == "idle"
    newest = [e async for e in llm.beta.sessions.events.list(session.id, order="desc")]
    assert newest[0].type == "user.message" and newest[0].processed_at is None
    assert newest[1].type == "session.status_idle"  # the previous run's

    claude.managed.begin(session.id)
    assert (await llm.beta.sessions.retrieve(session.id)).status == "running"
    newest = [e async for e in llm.beta.sessions.events.list(session.id, order="desc")]
    assert [e.type for e in newest[:2]] == ["session.status_running", "user.message"]
    assert newest[1].processed_at is not None
    with pytest.raises(ValueError, match="holds no message"):
        claude.managed.begin(session.id)
