"""Surfaces whose conversation lives in an item's comments (a GitHub issue, a Jira ticket).

Such a surface never starts a conversation: a comment continues the session that filed or
linked the item. The answer is collected while Claude writes and posted as one comment (several
when long, split between paragraphs); each posted comment is remembered so its own webhook
starts no turn and a retried turn posts only what is missing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.core import Audience, ConversationKey, Inbound
from app.core.text import clean_name
from app.slack.format import split_text
from app.surfaces.base import Command, OnPosted, PostedLog, PreviousMessage, Reply

# GitHub takes 65,536 characters per comment and Jira 32,767; one limit well inside both.
COMMENT_LIMIT = 30_000


# Posts a comment on an item (``acme/widgets#42`` or ``AD-12``); returns the comment's id.
# ``public``: for everyone who can read the item (a Jira comment customers see); otherwise
# kept to the organisation where the platform can (an internal Jira comment).
CommentPoster = Callable[[str, str, bool], Awaitable[str]]


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
        post_last: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self._post = post
        self._post_last = post_last or post  # the answer's last part (it may carry more)
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
        parts = split_text(self._text.strip(), self._limit)
        for n, part in enumerate(parts[self._already_posted :], start=self._already_posted):
            post = self._post_last if n == len(parts) - 1 else self._post
            self.comment_id = await post(part)
            await self._on_posted(self.comment_id)


class CommentSurface:
    """A tracker's items as a surface; ``GitHubSurface`` and ``JiraSurface`` name theirs.

    ``post`` posts a comment; ``remember`` records a ref we posted (``Inbox.remember_posted``);
    ``comment_ref`` is the ref format the platform's webhook looks comments up by.
    """

    platform: str
    title: str
    starts_conversations = False
    is_item = True

    def __init__(
        self,
        *,
        post: CommentPoster,
        remember: Callable[[str], Awaitable[None]],
        comment_ref: Callable[[str, str], str],
    ) -> None:
        self._post = post
        self._remember = remember
        self._comment_ref = comment_ref

    def item_label(self, key: ConversationKey) -> str:
        return f"{self.title} {key.label}"

    def author_header(self, inbound: Inbound) -> str:
        # Cleaned here too (the parsers clean names already): nothing the commenter chose may
        # close the bracket or start a line of its own.
        name = clean_name(inbound.author_name or inbound.author_id)
        return f"[{name} ({clean_name(inbound.author_id)}) in {self.title} {inbound.item_ref}]"

    async def audience(self, inbound: Inbound) -> Audience:
        return Audience(inbound.audience) if inbound.audience else Audience.INTERNAL

    async def place_audience(self, key: ConversationKey) -> Audience:
        # Comments are never the home of internal content; when asked, be careful.
        return Audience.PUBLIC

    def command_of(self, inbound: Inbound) -> Command | None:
        return None

    async def prepare(self, inbound: Inbound) -> Inbound:
        return inbound

    async def context(self, inbound: Inbound, previous: PreviousMessage) -> str | None:
        return None

    def reply(self, inbound: Inbound, log: PostedLog, on_posted: OnPosted) -> Reply:
        item = inbound.item_ref or ""
        public = inbound.audience == Audience.PUBLIC.value

        async def post(body: str) -> str:
            return await self._post(item, body, public)

        async def posted(comment_id: str) -> None:
            await self._remember(self._comment_ref(item, comment_id))
            await log.comment_posted(comment_id)
            if log.comments_posted == 1:  # once per answer, however many parts
                await on_posted()

        return CommentReply(post, posted, already_posted=log.comments_posted)

    async def notify(self, inbound: Inbound, text: str) -> None:
        if inbound.item_ref:
            public = inbound.audience == Audience.PUBLIC.value
            await self._comment(inbound.item_ref, text, public)

    async def notify_key(
        self, key: ConversationKey, text: str, *, answer_of: str | None = None
    ) -> None:
        await self._comment(key.label, text, False)

    async def _comment(self, item: str, text: str, public: bool) -> None:
        await self._remember(self._comment_ref(item, await self._post(item, text, public)))

    async def link(self, key: ConversationKey, inbound: Inbound | None = None) -> str | None:
        return inbound.item_url if inbound is not None else None

    async def seed(self, key: ConversationKey, *, before: str | None = None) -> str | None:
        return None  # a restarted conversation is seeded from its Slack thread, not comments
