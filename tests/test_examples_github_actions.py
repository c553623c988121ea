"""The GitHub Actions runner example: the workflow's shape, its report step run for real
(bash, jq and curl against a loopback callback), and the relay against a loopback stand-in
for GitHub's workflow_dispatch endpoint."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.server import FakeServer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "github-actions"
WORKFLOW = (EXAMPLE / "threadline-job.yml").read_text()
INPUTS = ("job_id", "title", "instructions", "repo", "callback_url", "callback_token")


def steps() -> dict[str, str]:
    """The workflow's steps by name (or ``uses``), each as its own text."""
    found: dict[str, str] = {}
    text = re.sub(r"^ *#.*\n", "", WORKFLOW.split("\n    steps:\n", 1)[1], flags=re.M)
    for chunk in re.split(r"\n(?=      - )", text):
        head = re.match(r"      - (?:name|uses): (.+)", chunk)
        assert head, chunk
        found[head.group(1).strip()] = chunk
    return found


def block(step: str, key: str) -> str:
    """The literal block (``key: |``) or mapping under ``key`` in one step, dedented."""
    lines = step.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:"))
    indent = len(lines[start]) - len(lines[start].lstrip())
    body = []
    for line in lines[start + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        body.append(line)
    return textwrap.dedent("\n".join(body)).strip("\n") + "\n"


def test_workflow_takes_the_dispatch_as_inputs_and_always_reports() -> None:
    inputs = block(block(WORKFLOW, "workflow_dispatch"), "inputs")
    assert tuple(re.findall(r"^(\w+):$", inputs, flags=re.M)) == INPUTS
    for name in INPUTS:
        required = "false" if name == "repo" else "true"
        assert f"required: {required}" in block(inputs, name), name

    by_name = steps()
    assert list(by_name) == [
        "Hide the callback token",
        "Check the job is for this repository",
        "actions/checkout@v4",
        "Claude Code",
        "Report to Threadline",
    ]
    claude = by_name["Claude Code"]
    assert "uses: anthropics/claude-code-action@v1" in claude
    assert "anthropic_api_key: ${{ secrets.ANTHROPIC_API_KEY }}" in claude
    assert "${{ inputs.instructions }}" in block(claude, "prompt")
    report = by_name["Report to Threadline"]
    assert "        if: always()\n" in report
    assert "::add-mask::" in block(by_name["Hide the callback token"], "run")


def test_no_input_is_spliced_into_a_shell_script() -> None:
    """Inputs reach scripts through env only: a title or instructions with quotes or
    ``$(...)`` cannot run as shell."""
    for name, step in steps().items():
        if re.search(r"^        run: \|", step, flags=re.M):
            assert "${{" not in block(step, "run"), name


def report_env(step: str, values: dict[str, str]) -> dict[str, str]:
    names = re.findall(r"^(\w+):", block(step, "env"), flags=re.M)
    assert sorted(names) == sorted(values), "the test gives the step what GitHub would"
    return values


class Callback(FakeServer):
    """Threadline's callback route as a runner meets it: answers scripted statuses."""

    url_path = "/jobs/job-1/callback"

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []
        self.reports: list[tuple[str, Any]] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.url_path, self._report)

    async def _report(self, request: web.Request) -> web.Response:
        self.reports.append((request.headers.get("Authorization", ""), await request.json()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 204)


@pytest.fixture
async def callback() -> AsyncIterator[Callback]:
    async with Callback() as server:
        yield server


async def run_report(
    tmp_path: Path, url: str, outcome: str, result: str, token: str = "tok-secret"
) -> tuple[int, str]:
    """The workflow's report step run by bash as GitHub would, with the step's env."""
    if not (shutil.which("jq") and shutil.which("curl")):
        pytest.skip("the report step needs jq and curl, as on GitHub's runners")
    step = steps()["Report to Threadline"]
    env = report_env(
        step,
        {
            "CALLBACK_URL": url,
            "CALLBACK_TOKEN": token,
            "CLAUDE_OUTCOME": outcome,
            "CLAUDE_RESULT": result,
            "RUN_URL": "https://github.com/acme/widgets/actions/runs/77",
        },
    )
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-e",
        "-c",
        block(step, "run"),
        env={**env, "RUNNER_TEMP": str(tmp_path), "PATH": os.environ["PATH"]},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert not (tmp_path / "threadline-auth").exists()  # the token file is removed
    return proc.returncode or 0, out.decode()


async def test_report_step_posts_the_summary_and_pr_links(
    tmp_path: Path, callback: Callback
) -> None:
    result = json.dumps(
        {
            "summary": 'Split the parser; "quotes" and $(whoami) stay text',
            "links": ["https://github.com/acme/widgets/pull/12", "javascript:alert(1)", 7],
        }
    )
    code, out = await run_report(tmp_path, callback.url, "success", result)
    assert code == 0, out
    (auth, report), *_ = callback.reports
    assert auth == "Bearer tok-secret"
    assert report == {
        "status": "succeeded",
        "summary": 'Split the parser; "quotes" and $(whoami) stay text\n\n'
        "Run: https://github.com/acme/widgets/actions/runs/77",
        "links": ["https://github.com/acme/widgets/pull/12"],
    }
    assert "::add-mask::tok-secret" in out


async def test_report_step_tells_of_a_failed_run_and_retries_a_busy_callback(
    tmp_path: Path, callback: Callback
) -> None:
    callback.statuses = [503]
    code, out = await run_report(tmp_path, callback.url, "failure", "")
    assert code == 0, out
    assert len(callback.reports) == 2
    report = callback.reports[-1][1]
    assert report["status"] == "failed" and report["links"] == []
    assert report["summary"].startswith("The run ended (failure) before Claude Code finished.")


@pytest.mark.parametrize(
    ("job_repo", "ok"),
    [("", True), ("acme/widgets", True), ("ACME/Widgets", True), ("acme/other", False)],
)
async def test_the_repository_check_ignores_case(job_repo: str, ok: bool) -> None:
    """Threadline writes repositories lowercase; GitHub keeps their capitals."""
    step = steps()["Check the job is for this repository"]
    env = {
        **report_env(step, {"JOB_REPO": job_repo}),
        "GITHUB_REPOSITORY": "Acme/Widgets",
        "PATH": os.environ["PATH"],
    }
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-e",
        "-c",
        block(step, "run"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert (proc.returncode == 0) is ok, out
    if not ok:
        assert "::error::This job is for acme/other, not Acme/Widgets" in out.decode()


async def test_report_step_refuses_a_plain_http_callback(tmp_path: Path) -> None:
    code, out = await run_report(tmp_path, "http://example.com/jobs/1/callback", "success", "{}")
    assert code != 0 and "must be an https URL" in out


# -- the relay --------------------------------------------------------------------------------


def load_relay() -> ModuleType:
    name = "threadline_example_relay"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / "relay.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


class GitHubDispatch(FakeServer):
    """GitHub's ``POST /repos/{owner}/{repo}/actions/workflows/{id}/dispatches``: 204 for a
    token it knows and string inputs, 401/404/422 as GitHub answers otherwise."""

    url_path = ""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.workflows = {("acme/widgets", "threadline-job.yml")}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(
            "/repos/{owner}/{name}/actions/workflows/{workflow}/dispatches", self._dispatch
        )

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer ghp-relay":
            return web.json_response({"message": "Bad credentials"}, status=401)
        repo = f"{request.match_info['owner']}/{request.match_info['name']}"
        if (repo, request.match_info["workflow"]) not in self.workflows:
            return web.json_response({"message": "Not Found"}, status=404)
        body = await request.json()
        inputs = body.get("inputs", {})
        if not isinstance(body.get("ref"), str) or not all(
            isinstance(v, str) for v in inputs.values()
        ):
            return web.json_response({"message": "Invalid request"}, status=422)
        self.calls.append((repo, body))
        return web.Response(status=204)


def job(**changes: Any) -> bytes:
    base = {
        "job_id": "job-1",
        "title": "Refactor",
        "instructions": "Split the parser",
        "repo": "acme/widgets",
        "callback_url": "https://bot.example.com/jobs/job-1/callback",
        "callback_token": "tok-1",
    }
    return json.dumps({**base, **changes}).encode()


async def test_relay_turns_a_job_into_a_workflow_dispatch() -> None:
    relay_module = load_relay()
    async with GitHubDispatch() as github:
        relay = relay_module.Relay.from_env(
            {
                "RELAY_SECRET": "s3cret",
                "GITHUB_TOKEN": "ghp-relay",
                "RELAY_REPOS": "acme/widgets, acme/other",
                "GITHUB_API_URL": github.url,
            }
        )

        async def post(path: str, body: bytes) -> tuple[int, str]:
            return await asyncio.to_thread(relay.handle, path, body)

        assert await post("/dispatch/s3cret", job()) == (202, "dispatched")
        repo, body = github.calls[0]
        assert repo == "acme/widgets" and body["ref"] == "main"
        assert body["inputs"] == json.loads(job())

        assert (await post("/dispatch/s3cret", job(repo=None)))[0] == 202  # the default repo
        assert github.calls[-1][1]["inputs"]["repo"] == ""
        assert (await post("/dispatch/wrong", job()))[0] == 404
        assert (await post("/dispatch/s3cret", b"{not json"))[0] == 400
        assert (await post("/dispatch/s3cret", job(extra=1)))[0] == 400
        assert (await post("/dispatch/s3cret", job(repo="Acme/Widgets")))[0] == 202
        assert github.calls[-1][0] == "acme/widgets"  # as RELAY_REPOS spells it
        assert (await post("/dispatch/s3cret", job(repo="evil/repo")))[0] == 403
        assert (await post("/dispatch/s3cret", job(instructions="x" * 70_000)))[0] == 413
        assert (await post("/dispatch/s3cret", job(repo="acme/other")))[0] == 502  # no workflow
        assert len(github.calls) == 3


async def test_relay_server_answers_over_http() -> None:
    relay_module = load_relay()
    relay = relay_module.Relay.from_env(
        {"RELAY_SECRET": "s3cret", "GITHUB_TOKEN": "t", "RELAY_REPOS": "acme/widgets"}
    )
    server = relay_module.make_server(relay, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/dispatch/wrong", data=job()) as wrong:
                assert wrong.status == 404
            async with http.post(f"{url}/dispatch/s3cret", data=b"x" * 300_000) as big:
                assert big.status == 413
            chunked = http.post(f"{url}/dispatch/s3cret", data=_chunks())
            async with chunked as unsized:
                assert unsized.status == 411
    finally:
        await asyncio.to_thread(server.shutdown)
        server.server_close()


async def _chunks() -> AsyncIterator[bytes]:
    yield job()
