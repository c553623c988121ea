"""The short note a refused person gets: ephemeral, at most once an hour each, never in the way.

``RefusalNotes.send`` returns at once; the note is posted by a background task, so Slack's
acknowledgement never waits for it. The task first claims ``slack:refusal:{user}:{hour}`` in
the store (``remember_once``: true for the first caller only, on every replica), then posts
with ``chat.postEphemeral`` to that person in that place. Nothing it does raises: a failed
claim or post is logged, and the person simply gets no note this time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from slack_sdk.web.async_client import AsyncWebClient

from app.slack.failures import SLACK_FAILURES, describe
from app.slack.format import markdown_message, new_message

log = logging.getLogger(__name__)


class OnceStore(Protocol):
    async def remember_once(self, ref: str) -> bool:
        """True for the first caller with ``ref`` only."""
        ...


def note_ref(user: str, now: datetime) -> str:
    """The once-an-hour claim of a note to ``user`` (hours in UTC)."""
    return f"slack:refusal:{user}:{now.astimezone(UTC):%Y%m%d%H}"


class CourtesyNotes:
    """Notes posted by background tasks, each at most once per claim ref on every replica
    (``remember_once``), never in the way: ``send`` returns at once, and a failed claim or
    post is logged; the person or thread simply gets no note this time."""

    def __init__(
        self, client: AsyncWebClient, store: OnceStore, clock: Callable[[], datetime]
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def idle(self) -> None:
        """Wait for the notes under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _later(self, ref: str, post: Callable[[], Awaitable[object]], what: str) -> None:
        task = asyncio.create_task(self._claim_and_post(ref, post, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _claim_and_post(
        self, ref: str, post: Callable[[], Awaitable[object]], what: str
    ) -> None:
        try:
            if await self._store.remember_once(ref):
                await post()
        except SLACK_FAILURES as exc:
            log.warning("%s not posted: %s", what, describe(exc))
        except Exception:
            # The store or anything else: the note is a courtesy, what it explains stands.
            log.exception("%s not posted", what)


class RefusalNotes(CourtesyNotes):
    """The ephemeral note of a refused person, at most once an hour each."""

    def send(self, *, user: str, channel: str, thread_ts: str | None, note: str) -> None:
        """Post ``note`` to ``user`` in ``channel`` later, unless they had one this hour."""

        async def post() -> object:
            return await self._client.chat_postEphemeral(
                channel=channel, user=user, **markdown_message(note, thread_ts=thread_ts)
            )

        self._later(note_ref(user, self._clock()), post, f"refusal note to {user}")


class BacklogNotes(CourtesyNotes):
    """The "slow down" note of a conversation with too many deliveries waiting, posted in its
    thread at most once a minute per conversation (``slack:backlog:{key}:{minute}``)."""

    def send(self, key: str, channel: str, thread_ts: str | None, note: str) -> None:
        """Post ``note`` in conversation ``key`` later, unless it had one this minute."""
        minute = self._clock().astimezone(UTC).strftime("%Y%m%d%H%M")

        async def post() -> object:
            return await self._client.chat_postMessage(
                channel=channel, **new_message(note, thread_ts=thread_ts)
            )

        self._later(f"slack:backlog:{key}:{minute}", post, f"backlog note in {key}")
