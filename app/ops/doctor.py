"""``doctor``: checks every configured dependency for real and says how to fix what fails.

One line per check, ``PASS``, ``FAIL`` or ``SKIP``, then ``name: what was found``, and for a
failure `` — what to do``. The configuration is read once, with ``Settings.best_effort``: each
malformed or missing setting it reports is a failed check naming it, and every check that does
not depend on one still runs (on the default or placeholder put in its place).

Checks: the settings; Slack ``auth.test`` (and the app-level token in Socket Mode); the
Anthropic key and model (``GET /v1/models/{model}``); the database and its schema version;
Jira ``GET /rest/api/3/myself`` and GitHub ``GET /user`` when configured, with their webhook
secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import anthropic
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.config import Secret, Settings
from app.errors import IntegrationError, SettingProblem, StoreError
from app.integrations import clients

Status = Literal["pass", "fail", "skip"]

CHECK_TIMEOUT: Final = 20.0
MIGRATE: Final = "run `python -m app migrate` (serve also migrates when it starts)"
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
}
# Bot scopes the app cannot work without (manifest.json has the full list).
REQUIRED_SLACK_SCOPES: Final = (
    "app_mentions:read",
    "assistant:write",
    "chat:write",
    "im:history",
    "users:read",
)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def line(self) -> str:
        text = f"{self.status.upper()} {self.name}: {self.detail}"
        return f"{text} — {self.fix}" if self.fix else text


def passed(name: str, detail: str) -> Check:
    return Check(name, "pass", detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, "fail", detail, fix)


CheckFn = Callable[[Settings], Awaitable[list[Check]]]


async def run_checks(env: Mapping[str, str]) -> list[Check]:
    """Every check, in a fixed order; the network ones run concurrently."""
    settings, invalid = Settings.best_effort(env)
    problems = invalid.problems if invalid is not None else ()
    broken = {p.setting for p in problems}
    planned: dict[str, CheckFn] = {"slack": _slack, "anthropic": _anthropic, "database": _database}
    # Broken Jira or GitHub settings still describe an integration: best_effort keeps it.
    if settings.jira is not None:
        planned["jira"] = _jira
    if settings.github is not None:
        planned["github"] = _github

    async def guarded(name: str, check: CheckFn) -> list[Check]:
        bad = [s for s in NEEDS[name] if s in broken]
        if bad:
            return [Check(name, "skip", f"not checked until {', '.join(bad)} is fixed")]
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                return await check(settings)
        except TimeoutError:
            return [failed(name, f"no answer within {CHECK_TIMEOUT:g}s", "check the network path")]

    results = await asyncio.gather(*(guarded(*p) for p in planned.items()))
    return _config_checks(settings, problems, env) + [c for group in results for c in group]


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


def missing_scopes(granted_header: str | None) -> list[str]:
    """Required bot scopes absent from an ``x-oauth-scopes`` header (none when no header)."""
    if not granted_header:
        return []
    granted = {s.strip() for s in granted_header.split(",")}
    return [s for s in REQUIRED_SLACK_SCOPES if s not in granted]


async def _slack(s: Settings) -> list[Check]:
    client = clients.slack_client(s, timeout=10, retries=False)
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
    checks = [passed("slack", f"authenticated as {who}")]
    missing = missing_scopes(auth.headers.get("x-oauth-scopes"))
    if missing:
        checks.append(
            failed(
                "slack scopes",
                f"the token lacks {', '.join(missing)}",
                "add them under OAuth & Permissions → Bot Token Scopes, then reinstall the app",
            )
        )
    checks.append(await _slack_events(s, client))
    return checks


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


# -- database ----------------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    _, _, rest = url.partition(":///")
    return Path(rest.split("?", 1)[0]) if rest else None


async def _database(s: Settings) -> list[Check]:
    from app.store import open_store

    shown = s.database_url_masked
    fix_url = "check DATABASE_URL (sqlite:///path/to/file.db or postgresql://user@host/db)"
    path = _sqlite_path(s.database_url)
    if path is not None:
        problem = _sqlite_problem(path)
        if problem is not None:
            return [failed("database", f"{shown}: {problem}", fix_url + " and the file's folder")]
    try:
        store = await open_store(s.database_url, ttl_days=s.session_ttl_days)
    except StoreError as exc:
        return [failed("database", f"{shown}: {exc}", fix_url)]
    try:
        if path is not None and not path.exists():
            # Checking must not create the file (connecting to SQLite would).
            head = await store.head_version()
            return [
                passed("database", f"{shown}: no file yet; it can be created there"),
                failed("schema", f"no database yet (this version needs schema {head})", MIGRATE),
            ]
        await store.ping()
        current = await store.schema_version()
        head = await store.head_version()
    except StoreError as exc:
        return [failed("database", f"cannot use {shown}: {exc}", fix_url)]
    finally:
        with contextlib.suppress(StoreError):
            await store.close()
    reachable = passed("database", f"{shown} is reachable")
    if current == head:
        return [reachable, passed("schema", f"at {head}, the current version")]
    if current is None:
        detail, fix = f"no tables yet (this version needs schema {head})", MIGRATE
    elif not _known_revision(current):
        detail = f"at {current}, which this version of Threadline does not know (newest: {head})"
        fix = "upgrade Threadline: a newer version migrated this database"
    else:
        detail, fix = f"at {current}, behind this version's {head}", MIGRATE
    return [reachable, failed("schema", detail, fix)]


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    from app.store.sql import MIGRATIONS_DIR

    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    try:
        return scripts.get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown revision
        return False


def _sqlite_problem(path: Path) -> str | None:
    """Why Threadline could not write the SQLite file at ``path`` (None: it can)."""
    folder = path.parent
    if path.exists():
        if not path.is_file():
            return "the path exists but is not a file"
        if not os.access(path, os.R_OK | os.W_OK):
            return "the file is not readable and writable by this user"
    else:
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            return f"{folder} is not a folder, so the database file cannot be created"
    # SQLite keeps its WAL and lock files next to the database.
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable by this user"
    return None


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
