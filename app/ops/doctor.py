"""``doctor``: checks every configured dependency for real and says how to fix what fails.

One line per check, ``PASS``, ``WARN``, ``FAIL`` or ``SKIP`` (``app.ops.checks``), then
``name: what was found``, and for a warning or a failure `` — what to do``. The configuration
is read once, with ``Settings.best_effort``: each malformed or missing setting it reports is a
failed check naming it, and every check that does not depend on one still runs (on the default
or placeholder put in its place). Warnings never change the exit status.

Checks: the settings; Slack ``auth.test`` with the token's scopes (and the app-level token in
Socket Mode); the Anthropic key and model (``GET /v1/models/{model}``); the database and its
schema version (``doctor_db``); Jira ``GET /rest/api/3/myself`` and GitHub ``GET /user`` when
configured, with their webhook secrets; the background-job runner (``doctor_jobs``); and the
trust settings that open the bot up
(``doctor_trust``), which warn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

import anthropic
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.config import Secret, Settings
from app.errors import IntegrationError, SettingProblem
from app.integrations import clients
from app.ops.checks import Check, Status, failed, passed, skipped, warned
from app.ops.doctor_db import database
from app.ops.doctor_jobs import job_checks
from app.ops.doctor_trust import REQUIRED_SLACK_SCOPES, missing_scopes, slack_scopes, trust_checks

__all__ = [
    "REQUIRED_SLACK_SCOPES",
    "Check",
    "Status",
    "failed",
    "missing_scopes",
    "passed",
    "run_checks",
    "skipped",
    "warned",
]

CHECK_TIMEOUT: Final = 20.0
SLACK_TOKEN_FIX: Final = (
    "set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…) from your Slack app's OAuth page"
)
# The settings each check depends on: it is skipped while one of them is broken.
NEEDS: Final = {
    "slack": ("SLACK_BOT_TOKEN", "SLACK_API_URL", "SLACK_APP_TOKEN"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL"),
    "database": ("DATABASE_URL",),
    "jira": ("JIRA_BASE_URL", "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_PROJECTS"),
    "github": ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_REPOS"),
    "jobs": ("JOBS_RUNNER", "JOBS_AGENT_ID", "JOBS_ENVIRONMENT_ID", "ANTHROPIC_API_KEY"),
}

CheckFn = Callable[[Settings], Awaitable[list[Check]]]


async def run_checks(env: Mapping[str, str]) -> list[Check]:
    """Every check, in a fixed order; the network ones run concurrently."""
    settings, invalid = Settings.best_effort(env)
    problems = invalid.problems if invalid is not None else ()
    broken = {p.setting for p in problems}
    planned: dict[str, CheckFn] = {"slack": _slack, "anthropic": _anthropic, "database": database}
    # Broken Jira or GitHub settings still describe an integration: best_effort keeps it.
    if settings.jira is not None:
        planned["jira"] = _jira
    if settings.github is not None:
        planned["github"] = _github
    if settings.jobs is not None:
        planned["jobs"] = job_checks

    async def guarded(name: str, check: CheckFn) -> list[Check]:
        bad = [s for s in NEEDS[name] if s in broken]
        if bad:
            return [skipped(name, f"not checked until {', '.join(bad)} is fixed")]
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                return await check(settings)
        except TimeoutError:
            return [failed(name, f"no answer within {CHECK_TIMEOUT:g}s", "check the network path")]

    results = await asyncio.gather(*(guarded(*p) for p in planned.items()))
    return [
        *_config_checks(settings, problems, env),
        *(c for group in results for c in group),
        *trust_checks(settings, broken),
    ]


# -- configuration -----------------------------------------------------------------------------


def _config_checks(
    s: Settings, problems: Sequence[SettingProblem], env: Mapping[str, str]
) -> list[Check]:
    """One failed check per bad setting (``Settings.best_effort`` found them all at once)."""
    env_file = env.get("THREADLINE_ENV_FILE", ".env")
    source = f"{env_file} and the environment" if Path(env_file).is_file() else "the environment"
    if problems:
        return [
            failed(
                "config", f"{setting} {problem}", f"fix {setting} in {source} (see .env.example)"
            )
            for setting, problem in problems
        ]
    mode = "Socket Mode" if s.socket_mode else "HTTP mode"
    extras = [name for name, on in (("Jira", s.jira), ("GitHub", s.github)) if on is not None]
    with_ = f", with {' and '.join(extras)}" if extras else ""
    return [passed("config", f"settings from {source} are valid ({mode}{with_})")]


# -- Slack -------------------------------------------------------------------------------------


async def _slack(s: Settings) -> list[Check]:
    client = clients.slack_client(s, timeout=10, retries=False)
    try:
        return await _slack_checks(s, client)
    finally:
        await client.close()


async def _slack_checks(s: Settings, client: clients.CountingWebClient) -> list[Check]:
    try:
        auth = await client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "error")
        if error in ("invalid_auth", "not_authed", "account_inactive", "token_expired"):
            return [failed("slack", error, SLACK_TOKEN_FIX)]
        if error == "token_revoked":
            return [failed("slack", error, "reinstall the Slack app and " + SLACK_TOKEN_FIX)]
        return [failed("slack", f"auth.test answered {error}", SLACK_TOKEN_FIX)]
    except Exception as exc:  # the outermost handler of this check: any failure is a FAIL line
        detail = f"cannot reach the Slack API at {s.slack_api_url} ({type(exc).__name__})"
        fix = "check SLACK_API_URL (normally https://slack.com/api/) and the network"
        return [failed("slack", detail, fix)]
    who = (
        f"@{auth.get('user')} ({auth.get('user_id')}) in {auth.get('team')} ({auth.get('team_id')})"
    )
    scopes = slack_scopes(auth.headers.get("x-oauth-scopes"))
    return [passed("slack", f"authenticated as {who}"), scopes, await _slack_events(s, client)]


async def _slack_events(s: Settings, client: AsyncWebClient) -> Check:
    if s.slack_app_token is None:
        return passed(
            "slack events",
            "HTTP mode: SLACK_SIGNING_SECRET is set; Slack must send events to POST /slack/events",
        )
    try:
        # The app-level token goes with the call, in place of the bot token.
        await client.apps_connections_open(app_token=s.slack_app_token.reveal())
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "error")
        return failed(
            "slack events",
            f"Socket Mode token refused ({error})",
            "set SLACK_APP_TOKEN to an app-level token (xapp-…) with connections:write, from "
            "your Slack app's Basic Information page, and enable Socket Mode",
        )
    except Exception as exc:
        return failed(
            "slack events",
            f"cannot open a Socket Mode connection ({type(exc).__name__})",
            "check SLACK_API_URL and the network",
        )
    return passed("slack events", "Socket Mode: the app-level token opens a connection")


# -- Anthropic ---------------------------------------------------------------------------------


MODEL_FIX: Final = "set ANTHROPIC_MODEL to a model id your key can use (GET /v1/models lists them)"
ANTHROPIC_URL_FIX: Final = "check ANTHROPIC_BASE_URL (empty for the public API) and the network"
KEY_FIX: Final = "set ANTHROPIC_API_KEY to a key from console.anthropic.com → API keys"
KEY_SCOPE_FIX: Final = "check the key's workspace and permissions, or set another ANTHROPIC_API_KEY"


async def _anthropic(s: Settings) -> list[Check]:
    where = s.anthropic_base_url or "https://api.anthropic.com"
    async with clients.anthropic_client(s, timeout=15.0, max_retries=1) as client:
        try:
            info = await client.models.retrieve(s.anthropic_model)
        except anthropic.AuthenticationError:
            return [failed("anthropic", "the API key was refused (401)", KEY_FIX)]
        except anthropic.PermissionDeniedError:
            return [failed("anthropic", "the API key may not use the API (403)", KEY_SCOPE_FIX)]
        except anthropic.NotFoundError:
            unknown = failed("model", f"model {s.anthropic_model!r} not found", MODEL_FIX)
            return [passed("anthropic", f"API key accepted by {where}"), unknown]
        except anthropic.APIConnectionError as exc:
            detail = f"cannot reach {where} ({type(exc).__name__})"
            return [failed("anthropic", detail, ANTHROPIC_URL_FIX)]
        except anthropic.APIStatusError as exc:
            detail = f"{where} answered {exc.status_code}"
            return [failed("anthropic", detail, "try again later; check status.anthropic.com")]
    name = getattr(info, "display_name", None) or info.id
    available = passed("model", f"{info.id} ({name}) is available")
    return [passed("anthropic", f"API key accepted by {where}"), available]


# -- Jira and GitHub ---------------------------------------------------------------------------


async def _jira(s: Settings) -> list[Check]:
    from app.integrations.jira import JiraClient

    jira = s.jira
    assert jira is not None
    async with clients.http_client(s) as http:
        account = await _signed_in(
            "jira",
            "GET /rest/api/3/myself",
            JiraClient(jira, http).myself,
            f"projects {', '.join(sorted(jira.projects))}",
            credentials="JIRA_EMAIL and JIRA_API_TOKEN (an API token from id.atlassian.com → "
            "Security → API tokens)",
            url_setting="JIRA_BASE_URL (https://your-site.atlassian.net)",
        )
    return [account, _webhook_check("jira", "JIRA_WEBHOOK_SECRET", jira.webhook_secret)]


async def _github(s: Settings) -> list[Check]:
    from app.integrations.github import GitHubClient

    github = s.github
    assert github is not None
    async with clients.http_client(s) as http:
        account = await _signed_in(
            "github",
            "GET /user",
            GitHubClient(github, http).whoami,
            f"repos {', '.join(sorted(github.repos))}",
            credentials="GITHUB_TOKEN (a token with Issues read/write on the allowed repos)",
            url_setting="GITHUB_API_URL",
        )
    return [account, _webhook_check("github", "GITHUB_WEBHOOK_SECRET", github.webhook_secret)]


async def _signed_in(
    name: str,
    call: str,
    whoami: Callable[[], Awaitable[str]],
    scope: str,
    *,
    credentials: str,
    url_setting: str,
) -> Check:
    try:
        account = await whoami()
    except IntegrationError as exc:
        if exc.status in (401, 403):
            fix = f"check {credentials}"
        elif exc.status == 404 or exc.status is None:
            fix = f"check {url_setting} and the network"
        else:
            fix = "try again later"
        return failed(name, f"{call}: {exc.message}", fix)
    return passed(name, f"signed in as {account} ({scope})")


def _webhook_check(service: str, setting: str, secret: Secret | None) -> Check:
    name = f"{service} webhook"
    route = f"POST /webhooks/{service}"
    if secret is not None:
        return passed(name, f"{setting} is set; deliveries go to {route}")
    title = "Jira" if service == "jira" else "GitHub"
    return failed(
        name,
        f"{setting} is not set, so {route} answers 404 and comments on {title} items never "
        "reach the conversation",
        f"create a {title} webhook to https://<your host>/webhooks/{service} with a secret and "
        f"set {setting} to it",
    )
