"""Background jobs for operators, through ``python -m app`` run in-process: ``jobs list``,
``jobs show`` and ``jobs cancel`` (the runner told, the key unlinked, the conversation told
through the inbox), jobs in ``sessions show``, and ``doctor``'s checks of the agent, the
environment and the webhook secret against the fake API."""

from __future__ import annotations

import json

import anthropic

from app.store import SqlStore
from app.store.base import Job
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.anthropic_agents import DEFAULT_AGENT_ID, DEFAULT_ENVIRONMENT_ID
from tests.ops.conftest import Cli
from tests.ops.test_doctor import by_name

AGENT = "threadline"


async def seeded_job(url: str, *, runner: str = "callback", runner_id: str | None = None) -> Job:
    store = SqlStore(url)
    try:
        await store.migrate()
        session = await store.create_session(AGENT)
        await store.register_key(f"{AGENT}:slack:C1::1763700000.000100", session.id)
        await store.register_key(f"{AGENT}:job:{'a' * 20}", session.id)
        job = await store.create_job(
            job_id="a" * 20,
            session_id=session.id,
            runner=runner,
            title="Refactor\x1b[31m the parser",
            instructions="Split parse().",
            repo="acme/widgets",
            asked_by="U1",
            token_hash="ab" * 32,
            ttl_seconds=3600,
        )
        if runner_id:
            await store.set_job_runner_id(job.id, runner_id)
        return job
    finally:
        await store.close()


async def test_list_and_show(cli: Cli, cli_env: dict[str, str]) -> None:
    job = await seeded_job(cli_env["DATABASE_URL"])
    listed = await cli("jobs", "list")
    assert listed.code == 0 and job.id in listed.out and "running" in listed.out
    assert "\x1b" not in listed.out  # stored text cannot drive the terminal
    as_json = json.loads((await cli("jobs", "list", "--json", "--status", "running")).out)
    assert [j["id"] for j in as_json["jobs"]] == [job.id]
    assert "token_hash" not in as_json["jobs"][0] and as_json["jobs"][0]["callback_token"] == "set"
    assert json.loads((await cli("jobs", "list", "--json", "--status", "failed")).out) == {
        "jobs": []
    }
    shown = await cli("jobs", "show", job.id)
    assert shown.code == 0 and "Split parse()." in shown.out and "ab" * 32 not in shown.out
    assert (await cli("jobs", "show", "nope")).code == 1
    session = await cli("sessions", "show", job.session_id)
    assert session.code == 0 and "Jobs" in session.out and job.id in session.out
    as_json = json.loads((await cli("sessions", "show", job.session_id, "--json")).out)
    assert [j["id"] for j in as_json["jobs"]] == [job.id]


async def test_cancel_a_callback_job(cli: Cli, cli_env: dict[str, str]) -> None:
    job = await seeded_job(cli_env["DATABASE_URL"])
    cli_env |= {
        "JOBS_RUNNER": "callback",
        "JOBS_DISPATCH_URL": "http://127.0.0.1:9/dispatch",
        "PUBLIC_URL": "https://threadline.example.com",
    }
    done = await cli("jobs", "cancel", job.id)
    assert done.code == 0, done.err
    assert "cannot be told to stop" in done.out  # a callback runner may still finish its work
    assert (await cli("jobs", "cancel", job.id)).code == 1  # not running any more
    store = SqlStore(cli_env["DATABASE_URL"])
    try:
        cancelled = await store.get_job(job.id)
        assert cancelled is not None and cancelled.status == "cancelled"
        assert await store.resolve(f"{AGENT}:job:{job.id}") is None
        # the running bot tells the conversation: a result delivery waits in the inbox
        delivery = await store.claim_delivery("test", 30)
        assert delivery is not None and delivery.payload["kind"] == "job_result"
        assert delivery.payload["status"] == "cancelled"
        # no metrics here: the bot that tells the conversation counts it
        assert delivery.payload["uncounted"]["runner"] == "callback"
    finally:
        await store.close()


async def test_cancel_a_managed_job_stops_its_session(
    cli: Cli, cli_env: dict[str, str], claude: FakeAnthropic
) -> None:
    sdk = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=claude.root_url)
    created = await sdk.beta.sessions.create(
        agent=DEFAULT_AGENT_ID,
        environment_id=DEFAULT_ENVIRONMENT_ID,
        initial_events=[{"type": "user.message", "content": [{"type": "text", "text": "go"}]}],
    )
    await sdk.close()
    job = await seeded_job(cli_env["DATABASE_URL"], runner="managed", runner_id=created.id)
    cli_env |= {
        "ANTHROPIC_BASE_URL": claude.root_url,
        "JOBS_AGENT_ID": DEFAULT_AGENT_ID,
        "JOBS_ENVIRONMENT_ID": DEFAULT_ENVIRONMENT_ID,
    }
    done = await cli("jobs", "cancel", job.id, "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["status"] == "cancelled"
    session = claude.managed.sessions[created.id]
    assert session.archived and session.status == "terminated"


async def test_doctor_checks_the_agent_environment_and_webhook_secret(
    cli: Cli, env: dict[str, str], claude: FakeAnthropic
) -> None:
    env |= {"JOBS_AGENT_ID": DEFAULT_AGENT_ID, "JOBS_ENVIRONMENT_ID": DEFAULT_ENVIRONMENT_ID}
    result = await cli("doctor")
    checks = by_name(result.lines)
    assert result.code == 0, result.out
    assert checks["jobs agent"].startswith("PASS") and checks["jobs environment"].startswith("PASS")
    assert checks["jobs webhook"].startswith("WARN") and "polled" in checks["jobs webhook"]

    env["ANTHROPIC_WEBHOOK_SECRET"] = claude.managed.webhook_secret
    checks = by_name((await cli("doctor")).lines)
    assert checks["jobs webhook"].startswith("PASS"), checks["jobs webhook"]

    env |= {"JOBS_AGENT_ID": "agent_unknown", "ANTHROPIC_WEBHOOK_SECRET": "not-a-secret!"}
    result = await cli("doctor")
    checks = by_name(result.lines)
    assert result.code == 1
    assert checks["jobs agent"].startswith("FAIL") and "agent_unknown" in checks["jobs agent"]
    assert checks["jobs environment"].startswith("PASS")
    assert checks["jobs webhook"].startswith("FAIL")
    assert "not-a-secret" not in result.out  # a secret is never printed
