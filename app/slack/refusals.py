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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from slack_sdk.web.async_client import AsyncWebClient

from app.slack.failures import SLACK_FAILURES, describe
from app.slack.format import markdown_message

log = logging.getLogger(__name__)


class OnceStore(Protocol):
    async def remember_once(self, ref: str) -> bool:
        """True for the first caller with ``ref`` only."""
        ...


def note_ref(user: str, now: datetime) -> str:
    """The once-an-hour claim of a note to ``user`` (hours in UTC)."""
    return f"slack:refusal:{user}:{now.astimezone(UTC):%Y%m%d%H}"


class RefusalNotes:
    def __init__(
        self, client: AsyncWebClient, store: OnceStore, clock: Callable[[], datetime]
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, *, user: str, channel: str, thread_ts: str | None, note: str) -> None:
        """Post ``note`` to ``user`` in ``channel`` later, unless they had one this hour."""
        task = asyncio.create_task(self._post(user, channel, thread_ts, note))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait for the notes under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _post(self, user: str, channel: str, thread_ts: str | None, note: str) -> None:
        try:
            if not await self._store.remember_once(note_ref(user, self._clock())):
                return
            await self._client.chat_postEphemeral(
                channel=channel, user=user, **markdown_message(note, thread_ts=thread_ts)
            )
        except SLACK_FAILURES as exc:
            log.warning("refusal note to %s not posted: %s", user, describe(exc))
        except Exception:
            # The store or anything else: the note is a courtesy, the refusal stands.
            log.exception("refusal note to %s not posted", user)
