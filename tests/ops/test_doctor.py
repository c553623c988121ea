"""``python -m app doctor`` against the loopback fakes of Slack, Anthropic, Jira and GitHub,
healthy and broken in the ways operators break it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.github import FakeGitHub
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.ops.conftest import Cli, child_env, repo_root

SLACK_FIX = (
    "set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…) from your Slack app's OAuth page"
)
HEALTHY = [
    "config",
    "slack",
    "slack scopes",
    "slack events",
    "anthropic",
    "model",
    "database",
    "schema",
    "jira",
    "jira webhook",
    "github",
    "github webhook",
    "public replies",
    "github associations",
]


def by_name(lines: list[str]) -> dict[str, str]:
    """``{"slack": "PASS slack: …"}`` (a check's first line)."""
    out: dict[str, str] = {}
    for line in lines:
        name = line.split(" ", 1)[1].split(":", 1)[0]
        out.setdefault(name, line)
    return out


async def test_healthy_setup_passes_every_check(cli: Cli, env: dict[str, str]) -> None:
    result = await cli("doctor")
    assert result.code == 0, result.out + result.err
    checks = by_name(result.lines)
    assert list(checks) == HEALTHY
    assert all(line.startswith("PASS ") for line in result.lines), result.out
    assert (
        checks["slack"] == "PASS slack: authenticated as @threadline (UBOT) in Threadline Test (T1)"
    )
    assert "claude-sonnet-5-5" in checks["model"]
    assert "signed in as 557058:bot-account" in checks["jira"]
    assert "signed in as threadline-bot" in checks["github"]


async def test_json_output(cli: Cli, env: dict[str, str], slack: FakeSlack) -> None:
    slack.token_prefixes = ("xoxb-good",)
    result = await cli("doctor", "--json")
    assert result.code == 1
    doc = json.loads(result.out)
    assert doc["ok"] is False
    statuses = {c["name"]: c["status"] for c in doc["checks"]}
    assert statuses["slack"] == "fail" and statuses["database"] == "pass"
    [slack_check] = [c for c in doc["checks"] if c["name"] == "slack"]
    assert slack_check == {
        "name": "slack",
        "status": "fail",
        "detail": "invalid_auth",
        "fix": SLACK_FIX,
    }


async def test_bad_slack_token(cli: Cli, env: dict[str, str], slack: FakeSlack) -> None:
    slack.token_prefixes = ("xoxb-the-real-one",)
    result = await cli("doctor")
    assert result.code == 1
    assert f"FAIL slack: invalid_auth — {SLACK_FIX}" in result.lines
    # the rest is still checked
    assert by_name(result.lines)["anthropic"].startswith("PASS")


async def test_unreachable_slack(cli: Cli, env: dict[str, str]) -> None:
    env["SLACK_API_URL"] = "http://127.0.0.1:9/api/"
    result = await cli("doctor")
    assert result.code == 1
    line = by_name(result.lines)["slack"]
    assert line.startswith("FAIL slack: cannot reach the Slack API at http://127.0.0.1:9/api/")
    assert "check SLACK_API_URL" in line


async def test_unknown_model(cli: Cli, env: dict[str, str]) -> None:
    env["ANTHROPIC_MODEL"] = "claude-nonexistent-1"
    result = await cli("doctor")
    assert result.code == 1
    checks = by_name(result.lines)
    assert checks["anthropic"].startswith("PASS anthropic: API key accepted")
    assert checks["model"].startswith("FAIL model: model 'claude-nonexistent-1' not found — set")
    assert "ANTHROPIC_MODEL" in checks["model"]


async def test_refused_anthropic_key(cli: Cli, env: dict[str, str], claude: FakeAnthropic) -> None:
    claude.api_keys = {"sk-ant-the-real-one"}
    result = await cli("doctor")
    assert result.code == 1
    line = by_name(result.lines)["anthropic"]
    assert line.startswith("FAIL anthropic: the API key was refused (401)")
    assert "set ANTHROPIC_API_KEY" in line
    assert "model" not in by_name(result.lines)


async def test_database_path_that_cannot_be_created(
    cli: Cli, env: dict[str, str], tmp_path: Path
) -> None:
    # A regular file where a folder should be: not creatable by anyone, root included.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env["DATABASE_URL"] = f"sqlite:///{blocker}/data/threadline.db"
    result = await cli("doctor")
    assert result.code == 1
    line = by_name(result.lines)["database"]
    assert line.startswith("FAIL database: ")
    assert "is not a folder" in line and "check DATABASE_URL" in line
    assert not (blocker.parent / "data").exists()


async def test_unreachable_postgres(cli: Cli, env: dict[str, str]) -> None:
    env["DATABASE_URL"] = "postgresql://threadline:hunter2@127.0.0.1:9/threadline"
    result = await cli("doctor")
    assert result.code == 1
    line = by_name(result.lines)["database"]
    assert line.startswith("FAIL database: cannot use postgresql://threadline:***@127.0.0.1:9/")
    assert "hunter2" not in result.out + result.err


async def test_unmigrated_database(cli: Cli, env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    env["DATABASE_URL"] = f"sqlite:///{empty}"
    result = await cli("doctor")
    assert result.code == 1
    checks = by_name(result.lines)
    assert checks["database"].startswith("PASS")
    assert checks["schema"].startswith("FAIL schema: no tables yet")
    assert "run `python -m app migrate`" in checks["schema"]


async def test_database_file_not_created_yet(cli: Cli, env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "data" / "fresh.db"
    env["DATABASE_URL"] = f"sqlite:///{path}"
    result = await cli("doctor")
    assert result.code == 1
    checks = by_name(result.lines)
    assert checks["database"].startswith("PASS database: ")
    assert "no file yet" in checks["database"]
    assert checks["schema"].startswith("FAIL schema: no database yet")
    assert "run `python -m app migrate`" in checks["schema"]
    assert not path.exists() and not path.parent.exists()  # checking changed nothing


async def test_missing_jira_webhook_secret(cli: Cli, env: dict[str, str]) -> None:
    del env["JIRA_WEBHOOK_SECRET"]
    result = await cli("doctor")
    assert result.code == 1
    checks = by_name(result.lines)
    assert checks["jira"].startswith("PASS")
    line = checks["jira webhook"]
    assert line.startswith("FAIL jira webhook: JIRA_WEBHOOK_SECRET is not set")
    assert "set JIRA_WEBHOOK_SECRET" in line
    assert checks["github webhook"].startswith("PASS")


async def test_wrong_jira_and_github_credentials(
    cli: Cli, env: dict[str, str], jira: FakeJira, github: FakeGitHub
) -> None:
    env["JIRA_API_TOKEN"] = "not-the-token"
    env["GITHUB_TOKEN"] = "not-the-token"
    result = await cli("doctor")
    assert result.code == 1
    checks = by_name(result.lines)
    assert checks["jira"].startswith("FAIL jira: GET /rest/api/3/myself:")
    assert "check JIRA_EMAIL and JIRA_API_TOKEN" in checks["jira"]
    assert checks["github"].startswith("FAIL github: GET /user:")
    assert "check GITHUB_TOKEN" in checks["github"]
    assert "not-the-token" not in result.out


async def test_malformed_setting_is_a_failed_check_and_the_rest_still_runs(
    cli: Cli, env: dict[str, str]
) -> None:
    env["PORT"] = "abc"
    result = await cli("doctor")
    assert result.code == 2
    assert result.lines[0] == (
        "FAIL config: PORT must be a whole number, got 'abc' — fix PORT in the environment "
        "(see .env.example)"
    )
    assert "Traceback" not in result.err
    checks = by_name(result.lines)
    for name in HEALTHY[1:]:
        assert checks[name].startswith("PASS"), checks[name]


async def test_missing_required_setting_skips_what_depends_on_it(
    cli: Cli, env: dict[str, str]
) -> None:
    del env["SLACK_BOT_TOKEN"]
    env["JIRA_EMAIL"] = "not-an-email"
    result = await cli("doctor")
    assert result.code == 2
    lines = result.lines
    assert "FAIL config: SLACK_BOT_TOKEN is required but not set" in lines[0]
    assert lines[1].startswith("FAIL config: JIRA_EMAIL must be the email address")
    checks = by_name(lines)
    assert checks["slack"] == "SKIP slack: not checked until SLACK_BOT_TOKEN is fixed"
    assert checks["jira"] == "SKIP jira: not checked until JIRA_EMAIL is fixed"
    assert checks["anthropic"].startswith("PASS")
    assert checks["github"].startswith("PASS")


async def test_socket_mode_app_token(cli: Cli, env: dict[str, str], slack: FakeSlack) -> None:
    env["SLACK_APP_TOKEN"] = "xapp-1-test"
    slack.token_prefixes = ("xoxb-", "xapp-")
    slack.on("apps.connections.open", lambda params: {"ok": True, "url": "wss://fake/link"})
    result = await cli("doctor")
    assert by_name(result.lines)["slack events"] == (
        "PASS slack events: Socket Mode: the app-level token opens a connection"
    )
    # the app token is refused now
    slack.token_prefixes = ("xoxb-",)
    slack.app_token_prefixes = ("xapp-another-",)  # type: ignore[attr-defined,unused-ignore]
    result = await cli("doctor")
    assert result.code == 1
    assert by_name(result.lines)["slack events"].startswith(
        "FAIL slack events: Socket Mode token refused (invalid_auth) — set SLACK_APP_TOKEN"
    )


async def test_bad_env_file_in_a_subprocess(
    env: dict[str, str], tmp_path: Path, slack: FakeSlack
) -> None:
    """The real entry point: settings from a .env file, a malformed one among them."""
    env_file = tmp_path / "threadline.env"
    file_settings = {k: v for k, v in env.items() if k != "THREADLINE_ENV_FILE"}
    env_file.write_text(
        "".join(f"{k}={v}\n" for k, v in file_settings.items()) + "PORT=abc\n", encoding="utf-8"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "doctor",
        cwd=repo_root(),
        env=child_env({"THREADLINE_ENV_FILE": str(env_file)}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2, err.decode()
    lines = out.decode().splitlines()
    assert lines[0] == (
        f"FAIL config: PORT must be a whole number, got 'abc' — fix PORT in {env_file} and the "
        "environment (see .env.example)"
    )
    assert by_name(lines)["slack"].startswith("PASS slack: authenticated as @threadline")
    assert b"Traceback" not in err
    assert slack.calls_to("auth.test")


async def test_every_bad_setting_is_reported_in_one_run(cli: Cli, env: dict[str, str]) -> None:
    del env["SLACK_BOT_TOKEN"]
    env.update({"PORT": "abc", "AGENT_NAME": "-bot", "LOG_LEVEL": "LOUD", "GITHUB_REPOS": "x"})
    result = await cli("doctor")
    assert result.code == 2
    where = "in the environment (see .env.example)"
    assert [line for line in result.lines if line.startswith("FAIL config:")] == [
        f"FAIL config: SLACK_BOT_TOKEN is required but not set — fix SLACK_BOT_TOKEN {where}",
        f"FAIL config: PORT must be a whole number, got 'abc' — fix PORT {where}",
        "FAIL config: AGENT_NAME must be 1 to 40 characters of a-z, 0-9, '_' or '-' (capitals "
        f"count as lower case), the first a letter or a digit — fix AGENT_NAME {where}",
        "FAIL config: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got "
        f"'LOUD' — fix LOG_LEVEL {where}",
        "FAIL config: GITHUB_REPOS must be a comma-separated list of owner/name pairs like "
        f"acme/widgets — fix GITHUB_REPOS {where}",
    ]
    checks = by_name(result.lines)
    assert checks["slack"] == "SKIP slack: not checked until SLACK_BOT_TOKEN is fixed"
    assert checks["github"] == "SKIP github: not checked until GITHUB_REPOS is fixed"
    for name in ("anthropic", "model", "database", "schema", "jira", "jira webhook"):
        assert checks[name].startswith("PASS"), checks[name]


async def test_json_output_lists_every_bad_setting(cli: Cli, env: dict[str, str]) -> None:
    env.update({"PORT": "abc", "LOG_FORMAT": "xml"})
    result = await cli("doctor", "--json")
    assert result.code == 2
    doc = json.loads(result.out)
    config = [c for c in doc["checks"] if c["name"] == "config"]
    assert [c["detail"] for c in config] == [
        "PORT must be a whole number, got 'abc'",
        "LOG_FORMAT must be one of text, json, got 'xml'",
    ]
    assert all(c["status"] == "fail" for c in config)


async def test_slack_token_without_the_audience_scopes_warns(
    cli: Cli, env: dict[str, str], slack: FakeSlack
) -> None:
    slack.oauth_scopes = [
        s for s in slack.oauth_scopes if s not in ("groups:read", "channels:read")
    ]
    result = await cli("doctor")
    assert result.code == 0, result.out  # a warning is not a failure
    line = by_name(result.lines)["slack scopes"]
    assert line.startswith("WARN slack scopes: the token lacks channels:read, groups:read: ")
    assert "treats the channel as public" in line
    assert line.endswith(
        "add them under OAuth & Permissions → Bot Token Scopes, then reinstall the app"
    )


async def test_slack_token_without_a_required_scope_fails(
    cli: Cli, env: dict[str, str], slack: FakeSlack
) -> None:
    slack.oauth_scopes = [s for s in slack.oauth_scopes if s not in ("chat:write", "groups:read")]
    result = await cli("doctor")
    assert result.code == 1
    line = by_name(result.lines)["slack scopes"]
    assert line.startswith("FAIL slack scopes: the token lacks chat:write, groups:read — add them")


async def test_opened_up_trust_settings_warn(cli: Cli, env: dict[str, str]) -> None:
    env["PUBLIC_REPLIES"] = "allow"
    env["GITHUB_TRUSTED_ASSOCIATIONS"] = "OWNER,MEMBER,COLLABORATOR,CONTRIBUTOR,NONE"
    result = await cli("doctor")
    assert result.code == 0, result.out
    checks = by_name(result.lines)
    assert checks["public replies"].startswith(
        "WARN public replies: PUBLIC_REPLIES=allow: internal conversations can be posted on "
        "public repositories and customer-visible Jira comments — "
    )
    assert checks["github associations"].startswith(
        "WARN github associations: GITHUB_TRUSTED_ASSOCIATIONS includes CONTRIBUTOR, NONE: "
        "comments from outside the organisation can start turns — "
    )
    assert [name for name, line in checks.items() if line.startswith("WARN")] == [
        "public replies",
        "github associations",
    ]

    doc = json.loads((await cli("doctor", "--json")).out)
    assert doc["ok"] is True
    statuses = {c["name"]: c["status"] for c in doc["checks"]}
    assert statuses["public replies"] == statuses["github associations"] == "warn"
