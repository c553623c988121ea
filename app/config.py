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
from urllib.parse import urlparse

from app.errors import InvalidSettings, SettingProblem

DEFAULT_MODEL: Final = "claude-sonnet-5-5"
DEFAULT_DATABASE_URL: Final = "sqlite:///./data/threadline.db"
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_AGENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_JIRA_PROJECT_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,19}$")
# What a bad required setting reads as in ``Settings.best_effort`` (".invalid" never resolves).
_PLACEHOLDER: Final = "placeholder"
_PLACEHOLDER_URL: Final = "https://placeholder.invalid"


class Secret:
    """A string that never shows itself in a repr, a log line or an f-string."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


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
    database_url: str = DEFAULT_DATABASE_URL
    port: int = 3000
    host: str = "0.0.0.0"
    agent_name: str = "threadline"
    session_ttl_days: int = 30
    turn_timeout_seconds: float = 180.0
    lease_seconds: float = 30.0
    worker_concurrency: int = 8
    retention_days: int = 14
    prune_interval_seconds: float = 3600.0
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    log_format: str = "text"
    jira: JiraSettings | None = None
    github: GitHubSettings | None = None
    extra: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

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
        r = _Reader(env)
        bot_token = r.secret("SLACK_BOT_TOKEN", required=True, prefix="xoxb-")
        assert bot_token is not None
        app_token = r.secret("SLACK_APP_TOKEN", prefix="xapp-")
        signing = r.secret("SLACK_SIGNING_SECRET", required=not r.present("SLACK_APP_TOKEN"))
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
            worker_concurrency=r.integer("WORKER_CONCURRENCY", 8, low=1, high=256),
            retention_days=r.integer("RETENTION_DAYS", 14, low=1, high=3650),
            prune_interval_seconds=r.number("PRUNE_INTERVAL_SECONDS", 3600.0, low=1, high=86400),
            max_body_bytes=r.integer("MAX_BODY_BYTES", 1_048_576, low=1024, high=26_214_400),
            log_level=r.choice("LOG_LEVEL", "INFO", LOG_LEVELS),
            log_format=r.choice("LOG_FORMAT", "text", ("text", "json")),
            jira=_jira(r),
            github=_github(r),
            extra=dict(env),
        )
        return settings, (InvalidSettings(r.problems) if r.problems else None)


def _jira(r: _Reader) -> JiraSettings | None:
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


def _github(r: _Reader) -> GitHubSettings | None:
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
    )


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


class _Reader:
    """Typed, validating accessors over a string mapping.

    A bad setting does not stop the reading: its problem is recorded in ``problems`` (once per
    setting) and the accessor answers the default, or a placeholder for a required setting.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[SettingProblem] = []

    def fail(self, name: str, problem: str) -> None:
        self.problems.append(SettingProblem(name, problem))

    def present(self, name: str) -> bool:
        return bool(self._env.get(name, "").strip())

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str | None) -> str:
        value = self._raw(name)
        if value is None:
            if default is None:
                self.fail(name, "is required but not set")
                return _PLACEHOLDER
            return default
        return value

    def secret(self, name: str, *, required: bool = False, prefix: str = "") -> Secret | None:
        value = self._raw(name)
        if value is None:
            if required:
                self.fail(name, "is required but not set")
                return Secret(prefix + _PLACEHOLDER)
            return None
        if prefix and not value.startswith(prefix):
            self.fail(name, f"must start with {prefix!r}")
            return Secret(prefix + _PLACEHOLDER)
        return Secret(value)

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.fail(name, f"must be a whole number, got {value!r}")
            return default
        if not low <= number <= high:
            self.fail(name, f"must be between {low} and {high}, got {number}")
            return default
        return number

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            self.fail(name, f"must be a number, got {value!r}")
            return default
        if not low <= number <= high:
            self.fail(name, f"must be between {low:g} and {high:g}, got {number:g}")
            return default
        return number

    def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if value.lower() in options:
            return value.lower()
        if value.upper() in options:
            return value.upper()
        self.fail(name, f"must be one of {', '.join(options)}, got {value!r}")
        return default

    def url(self, name: str, default: str | None) -> str:
        value = self._raw(name)
        if value is None:
            if default is None:
                self.fail(name, "is required but not set")
                return _PLACEHOLDER_URL
            return default
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self.fail(name, f"must be an http(s) URL, got {value!r}")
            return _PLACEHOLDER_URL if default is None else default
        return value

    def optional_url(self, name: str) -> str | None:
        return self.url(name, None) if self.present(name) else None

    def agent_name(self, name: str, default: str) -> str:
        value = self.text(name, default).lower()
        if not _AGENT_RE.match(value):
            self.fail(
                name,
                "must be 1 to 40 characters of a-z, 0-9, '_' or '-' (capitals count as lower "
                "case), the first a letter or a digit",
            )
            return default
        return value

    def database_url(self, name: str, default: str) -> str:
        value = self.text(name, default)
        # Heroku and others hand out postgres://; SQLAlchemy wants postgresql://.
        if value.startswith("postgres://"):
            value = "postgresql://" + value[len("postgres://") :]
        scheme = value.split("://", 1)[0].split("+", 1)[0]
        if "://" not in value or scheme not in ("sqlite", "postgresql"):
            self.fail(name, "must be sqlite:///path/to/file.db or postgresql://user@host/db")
            return default
        return value

    def listing(self, name: str, pattern: re.Pattern[str], what: str) -> frozenset[str]:
        value = self._raw(name)
        if value is None:
            self.fail(name, "is required but not set")
            return frozenset()
        items = [x.strip() for x in value.split(",") if x.strip()]
        good = frozenset(x for x in items if pattern.match(x))
        if len(good) < len(items) or not items:
            self.fail(name, f"must be a comma-separated list of {what}")
        return good
