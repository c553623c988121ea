"""Threadline's exceptions.

Every error the application raises on purpose derives from ``ThreadlineError``::

    ThreadlineError
    ├── ConfigError          a setting is missing or malformed (names the setting)
    │   └── InvalidSettings  every bad setting of one reading, one ``SETTING: problem`` line each
    ├── StoreError           the database is unreachable, locked or failed a statement
    │   └── LeaseLost        a turn lost its session lease (another holder fenced it off)
    ├── IntegrationError     Jira / GitHub / Slack answered with an error or timed out
    │   ├── NotAllowed       the item is outside the configured allow-list
    │   └── NotFound         the item does not exist upstream
    └── BadRequest           an inbound payload is malformed, unsigned or too large

Only the outermost handlers catch broadly; they log with the turn id and answer users with a
short human sentence, never with the exception text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class ThreadlineError(Exception):
    """Base class of every error Threadline raises deliberately."""


class ConfigError(ThreadlineError):
    """A setting is missing or malformed."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class SettingProblem(NamedTuple):
    """One bad setting: its name and what is wrong with it (``"must be a whole number…"``)."""

    setting: str
    problem: str


class InvalidSettings(ConfigError):
    """Everything wrong with the settings, found in one reading rather than one at a time.

    ``problems`` lists each bad setting once, in the order they are read. The message has one
    ``SETTING: problem`` line per problem; ``setting`` and ``problem`` are the first one's, so
    a handler written for a single ``ConfigError`` still names a real setting.
    """

    def __init__(self, problems: Sequence[SettingProblem]) -> None:
        if not problems:
            raise ValueError("InvalidSettings needs at least one problem")
        super().__init__(*problems[0])
        self.problems: tuple[SettingProblem, ...] = tuple(problems)
        self.args = ("\n".join(f"{p.setting}: {p.problem}" for p in self.problems),)


class StoreError(ThreadlineError):
    """The store could not complete an operation (unreachable, locked, failed)."""


class LeaseLost(StoreError):
    """A turn's session lease was taken over; its results must not be committed."""


class LaneFull(ThreadlineError):
    """A delivery was not recorded: its conversation already has as many waiting as allowed."""


class IntegrationError(ThreadlineError):
    """An upstream service (Jira, GitHub, Slack) failed or refused a call."""

    def __init__(self, service: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message
        self.status = status


class NotAllowed(IntegrationError):
    """The item is outside the allow-list configured for this integration."""


class NotFound(IntegrationError):
    """The item does not exist (or is not visible to our credentials)."""


class BadRequest(ThreadlineError):
    """An inbound request is malformed, unsigned, stale or too large."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
