"""Typed, validating accessors over the settings mapping (``Settings.best_effort`` uses them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlparse

from app.config.secret import Secret
from app.errors import SettingProblem

_PLACEHOLDER: Final = "placeholder"
_PLACEHOLDER_URL: Final = "https://placeholder.invalid"
_AGENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_SLACK_ID_RE = re.compile(r"^[A-Z0-9]{2,40}$")


class Reader:
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

    def text_or_empty(self, name: str, default: str, max_len: int) -> str:
        """A text that may be set to nothing on purpose (``NAME=`` means "none")."""
        if name not in self._env:
            return default
        value = " ".join(self._env[name].split())
        if len(value) > max_len:
            self.fail(name, f"must be at most {max_len} characters")
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        self.fail(name, f"must be true or false, got {value!r}")
        return default

    def ids(self, name: str) -> frozenset[str]:
        """Comma-separated Slack ids (``C…``, ``G…``, ``D…``, ``U…``, ``W…``); empty: none."""
        items = [x.strip().upper() for x in (self._raw(name) or "").split(",") if x.strip()]
        bad = [x for x in items if not _SLACK_ID_RE.match(x)]
        if bad:
            self.fail(name, f"must be comma-separated Slack ids like C0123ABC, got {bad[0]!r}")
        return frozenset(x for x in items if x not in bad)

    def words(self, name: str, default: frozenset[str], allowed: frozenset[str]) -> frozenset[str]:
        value = self._raw(name)
        if value is None:
            return default
        items = {x.strip().upper() for x in value.split(",") if x.strip()}
        unknown = sorted(items - allowed)
        if unknown or not items:
            self.fail(name, f"must be a comma-separated list of {', '.join(sorted(allowed))}")
            return default
        return frozenset(items)

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
