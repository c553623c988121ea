"""Settings, read once from a mapping (the environment plus ``.env`` at the entry point).

``Settings.from_mapping`` validates everything and raises one ``InvalidSettings`` listing every
missing or malformed setting, so an operator fixes them in one round. Tests build settings from
a plain dict; nothing here reads the process environment by itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from app.config.reader import Reader
from app.config.secret import Secret
from app.errors import InvalidSettings

DEFAULT_MODEL: Final = "claude-sonnet-5-5"
DEFAULT_DATABASE_URL: Final = "sqlite:///./data/threadline.db"
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_PUBLIC_REPLY_NOTE: Final = "Thanks, the team has been notified and will follow up here."
# GitHub's author_association values, and those trusted by default.
ASSOCIATIONS: Final = frozenset(
    {
        "OWNER",
        "MEMBER",
        "COLLABORATOR",
        "CONTRIBUTOR",
        "FIRST_TIME_CONTRIBUTOR",
        "FIRST_TIMER",
        "MANNEQUIN",
        "NONE",
    }
)
DEFAULT_TRUSTED_ASSOCIATIONS: Final = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
EXTERNAL_USERS: Final = ("ignore", "chat", "full")
PUBLIC_REPLIES: Final = ("redirect", "allow")

_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_JIRA_PROJECT_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,19}$")
# What a bad required setting reads as in ``Settings.best_effort`` (".invalid" never resolves).


@dataclass(frozen=True)
class JiraSettings:
    base_url: str
    email: str
    api_token: Secret
    projects: frozenset[str]
    webhook_secret: Secret | None


@dataclass(frozen=True)
class GitHubSettings:
    api_url: str
    token: Secret
    repos: frozenset[str]
    webhook_secret: Secret | None
    # author_association values whose comments may start a turn
    trusted_associations: frozenset[str] = DEFAULT_TRUSTED_ASSOCIATIONS


@dataclass(frozen=True)
class ActionSettings:
    """What Claude may do, and how much: approvals for write tools, caps and budgets."""

    tool_approval: str = "untrusted"  # always | untrusted | never
    approvers: frozenset[str] = frozenset()  # Slack user ids who may approve anything
    approval_ttl_seconds: int = 3600
    max_writes_per_turn: int = 3
    user_turns_per_hour: int = 60  # 0: unlimited
    channel_turns_per_hour: int = 300  # 0: unlimited
    daily_token_budget: int = 0  # input + output tokens a day, whole workspace; 0: unlimited
    user_daily_token_budget: int = 0  # the same per Slack user; 0: unlimited
    max_message_chars: int = 40_000
    max_pending_per_conversation: int = 50


@dataclass(frozen=True)
class TrustSettings:
    """Who may speak to the bot in Slack, and where internal content may go."""

    allowed_channels: frozenset[str] = frozenset()  # empty: every channel
    allowed_users: frozenset[str] = frozenset()  # empty: everyone
    allow_dms: bool = True
    external_users: str = "chat"  # ignore | chat | full (people of another organisation)
    public_replies: str = "redirect"  # redirect | allow
    public_reply_note: str = DEFAULT_PUBLIC_REPLY_NOTE  # "" posts nothing
    session_max_age_days: int = 180


JOB_RUNNERS: Final = ("managed", "callback")
RESULT_SURFACES: Final = ("jira", "slack", "github")
DEFAULT_SUGGESTED_PROMPTS: Final = (
    "Summarise this thread",
    "File a GitHub issue for this",
    "What did we decide?",
)


@dataclass(frozen=True)
class JobsSettings:
    """Background jobs: who runs them and how their results come back."""

    runner: str  # managed | callback
    agent_id: str | None = None  # JOBS_AGENT_ID (managed)
    environment_id: str | None = None  # JOBS_ENVIRONMENT_ID (managed)
    webhook_secret: Secret | None = None  # ANTHROPIC_WEBHOOK_SECRET; None: poll instead
    poll_seconds: float = 30.0
    timeout_seconds: int = 3600
    dispatch_url: str | None = None  # JOBS_DISPATCH_URL (callback)


@dataclass(frozen=True)
class DashboardSettings:
    """Who may sign in to ``/dashboard``: Slack OpenID Connect, an operator token, or both."""

    client_id: str | None = None  # SLACK_CLIENT_ID
    client_secret: Secret | None = None  # SLACK_CLIENT_SECRET
    token: Secret | None = None  # DASHBOARD_TOKEN
    admins: frozenset[str] = frozenset()  # DASHBOARD_ADMINS: Slack user ids who see everything

    @property
    def slack_sign_in(self) -> bool:
        return self.client_id is not None and self.client_secret is not None


@dataclass(frozen=True)
class AgentExperienceSettings:
    """Slack's agent features: suggested prompts, and answering a followed thread unmentioned."""

    suggested_prompts: tuple[str, ...] = DEFAULT_SUGGESTED_PROMPTS
    follow_threads: bool = False


@dataclass(frozen=True)
class Settings:
    slack_bot_token: Secret
    slack_signing_secret: Secret | None = None
    slack_app_token: Secret | None = None
    slack_api_url: str = "https://slack.com/api/"
    anthropic_api_key: Secret | None = None
    anthropic_base_url: str | None = None
    anthropic_model: str = DEFAULT_MODEL
    anthropic_max_tokens: int = 4096
    # May hold a password: kept out of the repr; print ``database_url_masked`` instead.
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    port: int = 3000
    host: str = "0.0.0.0"
    agent_name: str = "threadline"
    session_ttl_days: int = 30
    turn_timeout_seconds: float = 180.0
    lease_seconds: float = 30.0
    worker_concurrency: int = 32
    retention_days: int = 14
    prune_interval_seconds: float = 3600.0
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    log_format: str = "text"
    jira: JiraSettings | None = None
    github: GitHubSettings | None = None
    trust: TrustSettings = field(default_factory=TrustSettings)
    actions: ActionSettings = field(default_factory=ActionSettings)
    compaction: str = "server"  # server | client | off
    compact_at_tokens: int = 150_000
    anthropic_thinking: str = "off"  # off | adaptive
    # The address Slack, runners and browsers reach this bot at (no trailing slash), or None.
    public_url: str | None = None
    jobs: JobsSettings | None = None
    result_route: tuple[str, ...] = RESULT_SURFACES
    dashboard: DashboardSettings | None = None
    experience: AgentExperienceSettings = field(default_factory=AgentExperienceSettings)
    extra: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def database_url_masked(self) -> str:
        """``DATABASE_URL`` fit to print or log: ``postgresql://user:***@host/db``."""
        return mask_url_password(self.database_url)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        """Validate ``env`` and build settings; raise ``InvalidSettings`` listing every bad one."""
        settings, invalid = cls.best_effort(env)
        if invalid is not None:
            raise invalid
        return settings

    @classmethod
    def best_effort(cls, env: Mapping[str, str]) -> tuple[Settings, InvalidSettings | None]:
        """Settings even from a broken ``env``, with what is wrong in it (None: nothing).

        Each bad setting is replaced by its default, or by a placeholder when it has none, so
        that ``doctor`` can still check what does not depend on it. Never serve with these:
        ``from_mapping`` raises instead.
        """
        r = Reader(env)
        bot_token = r.secret("SLACK_BOT_TOKEN", required=True, prefix="xoxb-")
        assert bot_token is not None
        app_token = r.secret("SLACK_APP_TOKEN", prefix="xapp-")
        signing = r.secret("SLACK_SIGNING_SECRET", required=not r.present("SLACK_APP_TOKEN"))
        public_url = r.optional_url("PUBLIC_URL")
        public_url = public_url.rstrip("/") if public_url else None
        settings = cls(
            slack_bot_token=bot_token,
            slack_signing_secret=signing,
            slack_app_token=app_token,
            slack_api_url=_with_slash(r.url("SLACK_API_URL", "https://slack.com/api/")),
            anthropic_api_key=r.secret("ANTHROPIC_API_KEY", required=True),
            anthropic_base_url=r.optional_url("ANTHROPIC_BASE_URL"),
            anthropic_model=r.text("ANTHROPIC_MODEL", DEFAULT_MODEL),
            anthropic_max_tokens=r.integer("ANTHROPIC_MAX_TOKENS", 4096, low=256, high=128_000),
            database_url=r.database_url("DATABASE_URL", DEFAULT_DATABASE_URL),
            port=r.integer("PORT", 3000, low=0, high=65535),
            host=r.text("HOST", "0.0.0.0"),
            agent_name=r.agent_name("AGENT_NAME", "threadline"),
            session_ttl_days=r.integer("SESSION_TTL_DAYS", 30, low=1, high=3650),
            turn_timeout_seconds=r.number("TURN_TIMEOUT_SECONDS", 180.0, low=5, high=3600),
            lease_seconds=r.number("LEASE_SECONDS", 30.0, low=1, high=600),
            worker_concurrency=r.integer("WORKER_CONCURRENCY", 32, low=1, high=256),
            retention_days=r.integer("RETENTION_DAYS", 14, low=1, high=3650),
            prune_interval_seconds=r.number("PRUNE_INTERVAL_SECONDS", 3600.0, low=1, high=86400),
            max_body_bytes=r.integer("MAX_BODY_BYTES", 1_048_576, low=1024, high=26_214_400),
            log_level=r.choice("LOG_LEVEL", "INFO", LOG_LEVELS),
            log_format=r.choice("LOG_FORMAT", "text", ("text", "json")),
            jira=_jira(r),
            github=_github(r),
            trust=_trust(r),
            actions=_actions(r),
            compaction=r.choice("COMPACTION", "server", ("server", "client", "off")),
            compact_at_tokens=r.integer("COMPACT_AT_TOKENS", 150_000, low=50_000, high=10_000_000),
            anthropic_thinking=r.choice("ANTHROPIC_THINKING", "off", ("off", "adaptive")),
            public_url=public_url,
            jobs=_jobs(r, public_url),
            result_route=_result_route(r),
            dashboard=_dashboard(r, public_url),
            experience=_experience(r),
            extra=dict(env),
        )
        return settings, (InvalidSettings(r.problems) if r.problems else None)


def _jira(r: Reader) -> JiraSettings | None:
    names = ("JIRA_BASE_URL", "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_PROJECTS")
    if not any(r.present(n) for n in names):
        return None
    base_url = r.url("JIRA_BASE_URL", None).rstrip("/")
    email = r.text("JIRA_EMAIL", None)
    if "@" not in email and r.present("JIRA_EMAIL"):
        r.fail("JIRA_EMAIL", "must be the email address of the Jira account")
    token = r.secret("JIRA_API_TOKEN", required=True)
    assert token is not None
    projects = r.listing("JIRA_PROJECTS", _JIRA_PROJECT_RE, "project keys like AD,OPS")
    return JiraSettings(base_url, email, token, projects, r.secret("JIRA_WEBHOOK_SECRET"))


def _github(r: Reader) -> GitHubSettings | None:
    if not any(r.present(n) for n in ("GITHUB_TOKEN", "GITHUB_REPOS")):
        return None
    token = r.secret("GITHUB_TOKEN", required=True)
    assert token is not None
    repos = r.listing("GITHUB_REPOS", _REPO_RE, "owner/name pairs like acme/widgets")
    return GitHubSettings(
        api_url=r.url("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        token=token,
        repos=frozenset(x.lower() for x in repos),
        webhook_secret=r.secret("GITHUB_WEBHOOK_SECRET"),
        trusted_associations=r.words(
            "GITHUB_TRUSTED_ASSOCIATIONS", DEFAULT_TRUSTED_ASSOCIATIONS, ASSOCIATIONS
        ),
    )


def _actions(r: Reader) -> ActionSettings:
    return ActionSettings(
        tool_approval=r.choice("TOOL_APPROVAL", "untrusted", ("always", "untrusted", "never")),
        approvers=r.ids("APPROVERS"),
        approval_ttl_seconds=r.integer("APPROVAL_TTL_SECONDS", 3600, low=60, high=7 * 86400),
        max_writes_per_turn=r.integer("MAX_WRITES_PER_TURN", 3, low=0, high=100),
        user_turns_per_hour=r.integer("USER_TURNS_PER_HOUR", 60, low=0, high=1_000_000),
        channel_turns_per_hour=r.integer("CHANNEL_TURNS_PER_HOUR", 300, low=0, high=1_000_000),
        daily_token_budget=r.integer("DAILY_TOKEN_BUDGET", 0, low=0, high=10**12),
        user_daily_token_budget=r.integer("USER_DAILY_TOKEN_BUDGET", 0, low=0, high=10**12),
        max_message_chars=r.integer("MAX_MESSAGE_CHARS", 40_000, low=1000, high=1_000_000),
        max_pending_per_conversation=r.integer(
            "MAX_PENDING_PER_CONVERSATION", 50, low=1, high=100_000
        ),
    )


def _trust(r: Reader) -> TrustSettings:
    return TrustSettings(
        allowed_channels=r.ids("ALLOWED_CHANNELS"),
        allowed_users=r.ids("ALLOWED_USERS"),
        allow_dms=r.boolean("ALLOW_DMS", True),
        external_users=r.choice("EXTERNAL_USERS", "chat", EXTERNAL_USERS),
        public_replies=r.choice("PUBLIC_REPLIES", "redirect", PUBLIC_REPLIES),
        public_reply_note=r.text_or_empty("PUBLIC_REPLY_NOTE", DEFAULT_PUBLIC_REPLY_NOTE, 500),
        session_max_age_days=r.integer("SESSION_MAX_AGE_DAYS", 180, low=1, high=3650),
    )


_JOB_SETTINGS: Final = (
    "JOBS_RUNNER",
    "JOBS_AGENT_ID",
    "JOBS_ENVIRONMENT_ID",
    "JOBS_DISPATCH_URL",
)


def _jobs(r: Reader, public_url: str | None) -> JobsSettings | None:
    """Jobs are on when a runner is named or implied (``JOBS_AGENT_ID`` means managed)."""
    if not any(r.present(n) for n in _JOB_SETTINGS):
        if r.present("ANTHROPIC_WEBHOOK_SECRET"):
            r.fail("ANTHROPIC_WEBHOOK_SECRET", "is set but jobs are off: set JOBS_AGENT_ID too")
        return None
    default = "managed" if r.present("JOBS_AGENT_ID") or not r.present("JOBS_DISPATCH_URL") else ""
    runner = r.choice("JOBS_RUNNER", default or "callback", JOB_RUNNERS)
    poll = r.number("JOB_POLL_SECONDS", 30.0, low=1, high=3600)
    timeout = r.integer("JOB_TIMEOUT_SECONDS", 3600, low=60, high=7 * 86400)
    if runner == "managed":
        return JobsSettings(
            runner=runner,
            agent_id=r.text("JOBS_AGENT_ID", None),
            environment_id=r.text("JOBS_ENVIRONMENT_ID", None),
            webhook_secret=r.secret("ANTHROPIC_WEBHOOK_SECRET"),
            poll_seconds=poll,
            timeout_seconds=timeout,
        )
    dispatch_url = r.url("JOBS_DISPATCH_URL", None)
    if public_url is None:
        r.fail("PUBLIC_URL", "is required by JOBS_RUNNER=callback (the runner reports there)")
    return JobsSettings(
        runner=runner, poll_seconds=poll, timeout_seconds=timeout, dispatch_url=dispatch_url
    )


def _result_route(r: Reader) -> tuple[str, ...]:
    value = r.text("RESULT_ROUTE", ",".join(RESULT_SURFACES))
    items = tuple(x.strip().lower() for x in value.split(",") if x.strip())
    if not items or len(set(items)) < len(items) or any(x not in RESULT_SURFACES for x in items):
        r.fail("RESULT_ROUTE", "must be a comma-separated order of jira, slack, github")
        return RESULT_SURFACES
    return items


def _dashboard(r: Reader, public_url: str | None) -> DashboardSettings | None:
    """The dashboard is on with Slack sign-in (client id and secret), an operator token, or both."""
    oidc = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
    if not any(r.present(n) for n in (*oidc, "DASHBOARD_TOKEN")):
        return None
    client_id = client_secret = None
    if any(r.present(n) for n in oidc):
        client_id = r.text("SLACK_CLIENT_ID", None)
        client_secret = r.secret("SLACK_CLIENT_SECRET", required=True)
        if public_url is None:
            r.fail("PUBLIC_URL", "is required by Sign in with Slack (the redirect address)")
    token = r.secret("DASHBOARD_TOKEN")
    if token is not None and len(token.reveal()) < 16:
        r.fail("DASHBOARD_TOKEN", "must be at least 16 characters (it is a password)")
    return DashboardSettings(client_id, client_secret, token, r.ids("DASHBOARD_ADMINS"))


def _experience(r: Reader) -> AgentExperienceSettings:
    prompts: tuple[str, ...] = DEFAULT_SUGGESTED_PROMPTS
    value = r.text("SUGGESTED_PROMPTS", "")
    if value:
        prompts = tuple(" ".join(x.split()) for x in value.split("|") if x.strip())
        if len(prompts) > 4 or any(len(x) > 100 for x in prompts):
            r.fail("SUGGESTED_PROMPTS", "must be 1 to 4 prompts separated by '|', each ≤ 100 chars")
            prompts = DEFAULT_SUGGESTED_PROMPTS
    return AgentExperienceSettings(prompts, r.boolean("FOLLOW_THREADS", False))


# scheme://user:password@rest; the password runs to the last "@" (masking too much is safe).
_URL_PASSWORD = re.compile(
    r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):(?P<password>.*)@(?P<rest>[^@]*)$", re.DOTALL
)


def mask_url_password(url: str) -> str:
    """``url`` with the password in its user info replaced by ``***`` (unchanged without one)."""
    found = _URL_PASSWORD.match(url)
    if found is None or not found["password"]:
        return url
    return f"{found['head']}:***@{found['rest']}"


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


__all__ = [
    "ActionSettings",
    "AgentExperienceSettings",
    "DashboardSettings",
    "GitHubSettings",
    "JiraSettings",
    "JobsSettings",
    "Secret",
    "Settings",
    "TrustSettings",
    "mask_url_password",
]
