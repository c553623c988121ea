"""What a surface is: one place a conversation can be reached, and everything about it.

A surface knows its key format (through ``ConversationKey``), how to label its items, who may
speak there and its audience, how a message is described to Claude (the author header), how
an answer is shown (streamed or posted as a comment), how a one-off notice is posted and what
a conversation that had to start over is seeded with (``seed``). The
turn pipeline and the reply router talk to surfaces only through the ``Surface`` protocol, so
a new surface (the dashboard, a background job) is one module and one registration.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

from app.agent.loop import Progress
from app.core import Audience, ConversationKey, Inbound

Command = Literal["reset", "links", "mute", "unmute", "jobs"]

# Called after each part of an answer is posted (the router uses it to tell the Slack
# thread that a comment was answered elsewhere).
OnPosted = Callable[[], Awaitable[None]]
# The message handled before this one in the same conversation, looked up only when needed.
PreviousMessage = Callable[[], Awaitable[Inbound | None]]


class Reply(Progress, Protocol):
    """A ``Progress`` sink that also opens and closes the visible answer."""

    @property
    def text_so_far(self) -> str: ...

    async def begin(self) -> None: ...

    async def finish(self, note: str | None = None) -> None: ...


class PostedLog(Protocol):
    """What earlier attempts of this delivery already posted, so a retry edits instead of
    posting again (kept with the inbox row by the turn layer)."""

    @property
    def slack_messages(self) -> list[str]: ...

    @property
    def turn_id(self) -> str | None:
        """The turn answering now (its answer names it, e.g. on feedback buttons)."""
        ...

    @property
    def comments_posted(self) -> int: ...

    async def slack_posted(self, ts: str) -> None: ...

    async def slack_removed(self, ts: str) -> None: ...

    async def comment_posted(self, comment_id: str) -> None: ...


class Surface(Protocol):
    """One place a conversation lives (see the module docstring)."""

    platform: str  # the key's platform part: "slack", "github", "jira"
    title: str  # how people name it: "Slack", "GitHub", "Jira"
    starts_conversations: bool  # a message with no live session starts one
    is_item: bool  # a tracker item that ``links`` lists (a ticket, an issue)

    def item_label(self, key: ConversationKey) -> str:
        """``GitHub acme/widgets#42``: how a linked key is shown to people."""
        ...

    def author_header(self, inbound: Inbound) -> str:
        """``[Ada Lovelace (U012AB) in Slack]``: who wrote a message and where, for Claude."""
        ...

    async def audience(self, inbound: Inbound) -> Audience:
        """Who can read the place ``inbound`` came from (and where its answer would go)."""
        ...

    async def place_audience(self, key: ConversationKey) -> Audience:
        """Who can read the conversation at ``key`` (PUBLIC when it cannot be told)."""
        ...

    def command_of(self, inbound: Inbound) -> Command | None:
        """A chat command (``reset``, ``links``) typed on this surface, if any."""
        ...

    async def prepare(self, inbound: Inbound) -> Inbound:
        """``inbound`` completed with what the edge could not know (display names)."""
        ...

    async def context(self, inbound: Inbound, previous: PreviousMessage) -> str | None:
        """What was said here since the previous message handled in this conversation
        (``await previous()``) without reaching the bot, quoted for Claude."""
        ...

    def reply(self, inbound: Inbound, log: PostedLog, on_posted: OnPosted) -> Reply:
        """The visible answer to ``inbound`` on this surface."""
        ...

    async def notify(self, inbound: Inbound, text: str) -> None:
        """A one-off message where ``inbound`` was written (notes, command answers)."""
        ...

    async def notify_key(
        self, key: ConversationKey, text: str, *, answer_of: str | None = None
    ) -> None:
        """A one-off message in the conversation at ``key`` (a notice from elsewhere).
        ``answer_of``: the message ends the answer of that turn, posted here rather than
        where it was asked; it carries what answers carry here (Slack's feedback buttons)."""
        ...

    async def link(self, key: ConversationKey, inbound: Inbound | None = None) -> str | None:
        """A URL people can open for the conversation at ``key`` (None when there is none)."""
        ...

    async def seed(self, key: ConversationKey, *, before: str | None = None) -> str | None:
        """What was said at ``key`` before the message ``before`` (a platform ts), as one
        quoted block of context for a conversation that had to start over; None when this
        surface has no such history (a tracker item, a DM's top level)."""
        ...


class SurfaceRegistry:
    """The configured surfaces by platform; a key or inbound finds its surface here."""

    def __init__(self, home: Surface | None = None) -> None:
        self._surfaces: dict[str, Surface] = {}
        self.home = home  # where a conversation starts and is told what happened elsewhere
        if home is not None:
            self.register(home)

    def register(self, surface: Surface) -> None:
        if surface.platform in self._surfaces:
            raise ValueError(f"surface {surface.platform!r} registered twice")
        self._surfaces[surface.platform] = surface

    def get(self, platform: str) -> Surface | None:
        return self._surfaces.get(platform)

    def __getitem__(self, platform: str) -> Surface:
        surface = self._surfaces.get(platform)
        if surface is None:
            raise LookupError(f"no surface for platform {platform!r}")
        return surface

    def __contains__(self, platform: object) -> bool:
        return platform in self._surfaces

    def for_key(self, key: str | ConversationKey) -> Surface | None:
        parsed = key if isinstance(key, ConversationKey) else _parse(key)
        return None if parsed is None else self._surfaces.get(parsed.platform)

    @property
    def platforms(self) -> list[str]:
        return list(self._surfaces)


def _parse(key: str) -> ConversationKey | None:
    try:
        return ConversationKey.parse(key)
    except ValueError:
        return None
