"""Where a turn's answer goes: the Slack thread, or a comment on the GitHub issue / Jira ticket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from app.agent.loop import Progress


class Reply(Progress, Protocol):
    """A ``Progress`` sink that also opens and closes the visible answer."""

    @property
    def text_so_far(self) -> str: ...

    async def begin(self) -> None: ...

    async def finish(self, note: str | None = None) -> None: ...


class CommentReply:
    """Collects the answer and posts it as one comment when the turn is done.

    ``post`` creates the comment and returns its id; ``on_posted`` records it (so our own
    comment's webhook starts no turn, and a retried turn does not post twice).
    """

    def __init__(
        self,
        post: Callable[[str], Awaitable[str]],
        on_posted: Callable[[str], Awaitable[None]],
        *,
        already_posted: bool = False,
    ) -> None:
        self._post = post
        self._on_posted = on_posted
        self._already_posted = already_posted
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
        if self._already_posted or not self._text.strip():
            return
        self.comment_id = await self._post(self._text.strip())
        await self._on_posted(self.comment_id)
