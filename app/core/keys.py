"""Conversation keys: the only place their printable format is known.

A key names one place a conversation can be reached, ``{agent}:{platform}:{external_id}``:

=============  ===============================  ==========================================
platform       external id                      example
=============  ===============================  ==========================================
``slack``      ``{channel}::{thread_ts}``       ``threadline:slack:C01ABC::1763700000.000100``
               ``{channel}::main`` (top-level   ``threadline:slack:D01XYZ::main``
               DM conversation)
``github``     ``{owner}/{repo}#{number}``      ``threadline:github:acme/widgets#42``
``jira``       issue key                        ``threadline:jira:AD-1234``
``dashboard``  session id                       ``threadline:dashboard:4f1c…`` (a message
                                                written on the session's dashboard page)
=============  ===============================  ==========================================

``agent`` (``AGENT_NAME``) never contains ``:``, so the first two colons split a key. Repository
names are stored lower-cased (GitHub ignores their case) and Jira keys upper-cased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# The thread part of a top-level DM conversation's key.
DM_MAIN: Final = "main"


@dataclass(frozen=True)
class ConversationKey:
    agent: str
    platform: str
    external_id: str

    def __str__(self) -> str:
        return f"{self.agent}:{self.platform}:{self.external_id}"

    @classmethod
    def parse(cls, key: str) -> ConversationKey:
        """The parts of a printable key; ``ValueError`` when it has no agent and platform."""
        agent, sep, rest = key.partition(":")
        platform, sep2, external = rest.partition(":")
        if not (sep and sep2 and agent and platform and external):
            raise ValueError(f"not a conversation key: {key[:80]!r}")
        return cls(agent, platform, external)

    @staticmethod
    def platform_of(key: str) -> str:
        """The platform part of a printable key, or ``""`` when it is not a key."""
        try:
            return ConversationKey.parse(key).platform
        except ValueError:
            return ""

    @property
    def label(self) -> str:
        """The item as people write it: ``acme/widgets#42``, ``AD-12``, ``C01::1763.0001``."""
        return self.external_id

    # builders, one per platform --------------------------------------------------------------
    @classmethod
    def slack(cls, agent: str, channel: str, thread: str) -> ConversationKey:
        """A Slack thread; a top-level DM conversation uses ``DM_MAIN`` as its thread."""
        return cls(agent, "slack", f"{channel}::{thread}")

    @classmethod
    def github(cls, agent: str, repo: str, number: int) -> ConversationKey:
        return cls(agent, "github", f"{repo.lower()}#{number}")

    @classmethod
    def jira(cls, agent: str, issue_key: str) -> ConversationKey:
        return cls(agent, "jira", issue_key.upper())

    @classmethod
    def dashboard(cls, agent: str, session_id: str) -> ConversationKey:
        """The dashboard page of one session (the key is registered for that session)."""
        return cls(agent, "dashboard", session_id)

    # readers ----------------------------------------------------------------------------------
    @property
    def slack_place(self) -> tuple[str, str | None]:
        """A Slack key's channel and thread (``None`` for a DM's top level)."""
        if self.platform != "slack":
            raise ValueError(f"not a Slack key: {self}")
        channel, _, thread = self.external_id.partition("::")
        return channel, None if thread in ("", DM_MAIN) else thread


@dataclass(frozen=True)
class KeyClaim:
    """Result of a first-writer-wins registration."""

    key: str
    owner_session_id: str
    registered: bool  # True: the key now points to the requested session (new or already ours)
