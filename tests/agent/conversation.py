"""A stand-in for the conversation a tool call runs in, shared by the GitHub and Jira tool tests."""

from __future__ import annotations

from app.agent.tools.base import ToolContext
from app.core import KeyClaim
from app.errors import StoreError

THREAD = "https://acme.slack.com/archives/C01/p1763700000000100?thread_ts=1763700000.000100"


class Conversation:
    """The ToolContext side of a turn: records link_key calls, answers as told."""

    def __init__(self, *, owner: str | None = None, link: str | None = THREAD) -> None:
        self.links: list[tuple[str, str | None]] = []
        self.owner = owner  # another session that already owns every key
        self.link = link
        self.store_down = False
        self.thread_link_fails = False

    async def link_key(self, key: str, url: str | None) -> KeyClaim:
        if self.store_down:
            raise StoreError("database is locked")
        self.links.append((key, url))
        if self.owner is not None:
            return KeyClaim(key, self.owner, False)
        return KeyClaim(key, "sess-1", True)

    async def thread_link(self) -> str | None:
        if self.thread_link_fails:
            raise RuntimeError("Slack is down")
        return self.link

    def context(self) -> ToolContext:
        return ToolContext(
            session_id="sess-1",
            turn_id="turn-1",
            agent="threadline",
            source_key="threadline:slack:C01::1763700000.000100",
            link_key=self.link_key,
            thread_link=self.thread_link,
        )
