"""The store's roles for what Slack shows one person: threads muted while the bot follows
threads, and what a person's App Home reads.

Both are part of ``Store`` (``app.store.base``, which re-exports them); they live here to keep
each module to one job. Times come from the store's injected clock, as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.store.types import Approval, Session


@dataclass(frozen=True)
class SpokenIn:
    """A live session a person has written in, with the keys that lead to it."""

    session: Session
    keys: list[str]


class Mutes(Protocol):
    """Slack threads muted with ``@bot mute`` (``FOLLOW_THREADS``), by conversation key.

    Invariants: a key is muted at most once (the first mute's author and time are kept, a
    second mute changes nothing) until it is unmuted; muting does not depend on the key
    leading to a session, so a thread stays muted across a reset.
    """

    async def mute_thread(self, key: str, by: str) -> bool:
        """Mute ``key``; True when this call muted it, False when it was muted already."""
        ...

    async def unmute_thread(self, key: str) -> bool:
        """Unmute ``key``; True when it was muted."""
        ...

    async def is_muted(self, key: str) -> bool: ...


class HomeReads(Protocol):
    """What one person's App Home reads across sessions; nothing here writes."""

    async def sessions_spoken_in(
        self, agent: str, source: str, author_id: str, *, limit: int
    ) -> list[SpokenIn]:
        """Live sessions of ``agent`` holding a transcript message of ``source`` by
        ``author_id``, most recently active first (ties by id), at most ``limit``, each with
        its keys in the order they were linked."""
        ...

    async def approvals_waiting_for(
        self, agent: str, user_id: str, *, approver: bool, limit: int
    ) -> list[Approval]:
        """Approvals still ``pending`` and not past their expiry that ``user_id`` may decide,
        newest first (ties by id), at most ``limit``: with ``approver`` (in ``APPROVERS``)
        every one; otherwise those they asked for that their asker decides, and those their
        channel decides in a channel where they wrote to the bot (a Slack transcript message
        of theirs in a session of ``agent`` with a key in that channel: they are in it)."""
        ...
