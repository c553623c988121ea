"""Where a turn's answer goes: the Slack thread, or a comment on the GitHub issue / Jira ticket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from app.agent.loop import Progress
from app.slack.format import split_text

# GitHub takes 65,536 characters per comment and Jira 32,767; one limit well inside both.
COMMENT_LIMIT = 30_000


class Reply(Progress, Protocol):
    """A ``Progress`` sink that also opens and closes the visible answer."""

    @property
    def text_so_far(self) -> str: ...

    async def begin(self) -> None: ...

    async def finish(self, note: str | None = None) -> None: ...


class CommentReply:
    """Collects the answer and posts it as a comment (or several) when the turn is done.

    ``post`` creates the comment and returns its id; ``on_posted`` records it (so our own
    comment's webhook starts no turn, and a retried turn does not post twice).
    """

    def __init__(
        self,
        post: Callable[[str], Awaitable[str]],
        on_posted: Callable[[str], Awaitable[None]],
        *,
        already_posted: int = 0,
        limit: int = COMMENT_LIMIT,
    ) -> None:
        self._post = post
        self._on_posted = on_posted
        self._already_posted = already_posted
        self._limit = limit
        self._text = ""
        self.comment_id: str | None = None

    @property
    def text_so_far(self) -> str:
        return self._text

    async def begin(self) -> None:
        return None

    async def text(self, delta: str) -> None:
        self._text += delta

    async def tool_started(self, call_id: str, name: str) -> None:
        if self._text and not self._text.endswith("\n"):
            self._text += "\n\n"

    async def tool_finished(self, call_id: str, name: str, ok: bool) -> None:
        return None

    async def finish(self, note: str | None = None) -> None:
        if note:
            self._text += ("\n\n" if self._text.strip() else "") + note
        # A long answer becomes several comments (split between paragraphs); parts an
        # earlier attempt of this turn already posted are not posted again.
        for part in split_text(self._text.strip(), self._limit)[self._already_posted :]:
            self.comment_id = await self._post(part)
            await self._on_posted(self.comment_id)
