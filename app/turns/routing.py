"""Where an answer, a note or a notice goes: the ``ReplyRouter``, and the audience rule.

* An answer goes back to the surface the message came from (streamed in Slack, a comment on
  an issue or ticket). When it is posted anywhere but the home surface (Slack), the session's
  home thread gets a one-line notice with a link to where it was answered.
* **The audience rule.** A session that holds anything said inside the organisation is
  internal. Its answers are never posted where outsiders read (a public repository, a
  customer-visible Jira comment, a Slack Connect channel) unless ``PUBLIC_REPLIES=allow``:
  the answer goes to the session's home thread instead, with a link to the comment that asked,
  and the public place gets at most the fixed, model-free ``PUBLIC_REPLY_NOTE``. Its last
  message there carries the feedback buttons like any answer in Slack (a vote is for the turn
  that wrote it). Notes (errors,
  refusals) follow the same rule.
* A result with no originating surface (a background job) goes to the first surface of the
  session in ``route`` order: Jira, then Slack, then GitHub by default.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from app.core import Audience, ConversationKey, Inbound
from app.core.text import clean_name
from app.errors import IntegrationError
from app.integrations.jobs.service import JOB_AUTHOR
from app.slack.format import MESSAGE_LIMIT
from app.store.base import KeyLink, Session, Store
from app.surfaces.base import PostedLog, Reply, Surface, SurfaceRegistry
from app.surfaces.comments import CommentReply

log = logging.getLogger(__name__)

RESULT_ROUTE: Final = ("jira", "slack", "github")


@dataclass(frozen=True)
class AudiencePolicy:
    public_replies: str = "redirect"  # redirect | allow
    public_reply_note: str = ""  # posted on the public place instead of the answer


@dataclass(frozen=True)
class Plan:
    """Where a turn's answer will go, decided before the model runs (Claude is told)."""

    reply: Reply
    audience: Audience  # who will read the answer
    place: Audience  # who can read the place the message came from
    redirected: bool  # the answer goes home instead of to the (public) place it was asked


class ReplyRouter:
    def __init__(
        self,
        surfaces: SurfaceRegistry,
        store: Store,
        *,
        policy: AudiencePolicy | None = None,
        route: Sequence[str] = RESULT_ROUTE,
    ) -> None:
        self._surfaces = surfaces
        self._store = store
        self._policy = policy or AudiencePolicy()
        self._route = tuple(route)

    def surface_of(self, inbound: Inbound) -> Surface:
        return self._surfaces[inbound.source]

    def _must_redirect(self, place: Audience, session: Session | None) -> bool:
        """Whether an answer for a place of audience ``place`` must not be posted there."""
        if self._policy.public_replies == "allow" or place is Audience.INTERNAL:
            return False
        return session is None or not Audience.PUBLIC.allows(Audience(session.audience))

    async def plan(self, inbound: Inbound, session: Session, log_: PostedLog) -> Plan:
        """The visible answer to ``inbound``: on its own surface, or home if the rule says so."""
        surface = self.surface_of(inbound)
        place = await surface.audience(inbound)
        if self._must_redirect(place, session):
            home = self._surfaces.home
            home_key = await self.home(session.id, internal=True)
            if home is not None and home_key is not None and str(home_key) != inbound.key:
                reply = self._redirected(inbound, surface, home, home_key, log_)
                return Plan(reply, Audience.INTERNAL, place, True)
            # Nowhere internal to answer: the public place gets the note and nothing else.
            return Plan(self._note_only(inbound, surface, log_), place, place, True)
        internal = session.audience == Audience.INTERNAL.value

        async def notice_home() -> None:
            if surface is not self._surfaces.home:
                await self.notice_home(session.id, _answered_elsewhere(inbound), internal=internal)

        return Plan(surface.reply(inbound, log_, notice_home), place, place, False)

    async def notify(self, inbound: Inbound, text: str) -> None:
        """A one-off note where ``inbound`` was written, or home when that place is public
        and the conversation is internal; raises ``IntegrationError``."""
        surface = self._surfaces.get(inbound.source)
        if surface is None:
            return
        place = await surface.audience(inbound)
        if place is Audience.PUBLIC and self._policy.public_replies != "allow":
            session = await self._store.resolve(inbound.key)
            if self._must_redirect(place, session):
                if session is not None:
                    await self.notice_home(session.id, text)
                return
        await surface.notify(inbound, text)

    async def home(self, session_id: str, *, internal: bool = False) -> ConversationKey | None:
        """The session's conversation on the home surface (its Slack thread), if any; with
        ``internal``, only when outsiders cannot read it (not a Slack Connect channel): what
        goes there then may hold the organisation's content."""
        home = self._surfaces.home
        if home is None:
            return None
        for link in await self._store.keys_for(session_id):
            key = ConversationKey.parse(link.key)
            if key.platform == home.platform:
                if internal and await home.place_audience(key) is not Audience.INTERNAL:
                    log.info("home thread %s is shared outside: internal content not sent", key)
                    return None
                return key
        return None

    async def card_home(self, session_id: str) -> ConversationKey | None:
        """Where an approval card of this session may go: a card shows what the conversation
        asked for, so an internal conversation's card needs an internal thread."""
        session = await self._store.get_session(session_id)
        internal = session is None or session.audience == Audience.INTERNAL.value
        return await self.home(session_id, internal=internal)

    async def notice_home(self, session_id: str, text: str, *, internal: bool = True) -> None:
        """Tell the session's Slack thread something (best effort: a failure is logged);
        ``internal`` notices go only to a thread outsiders cannot read."""
        home, key = self._surfaces.home, await self.home(session_id, internal=internal)
        if home is None or key is None:
            return
        try:
            await home.notify_key(key, text)
        except IntegrationError as exc:
            log.warning("%s notice not posted: %s", home.title, exc)

    async def home_link(self, inbound: Inbound, session_id: str) -> str | None:
        """A link to the session's Slack thread (for footers of filed items)."""
        home = self._surfaces.home
        if home is None:
            return None
        if self.surface_of(inbound) is home:
            return await home.link(ConversationKey.parse(inbound.key), inbound)
        key = await self.home(session_id)
        return None if key is None else await home.link(key)

    def result_destination(self, links: Sequence[KeyLink]) -> ConversationKey | None:
        """Where a result with no originating surface goes: the first configured surface of
        the session in route order (Jira > Slack > GitHub by default)."""
        keys = [ConversationKey.parse(link.key) for link in links]
        for platform in self._route:
            if platform not in self._surfaces:
                continue
            for key in keys:
                if key.platform == platform:
                    return key
        return None

    # the audience rule's replies -------------------------------------------------------------
    def _redirected(
        self,
        inbound: Inbound,
        surface: Surface,
        home: Surface,
        home_key: ConversationKey,
        log_: PostedLog,
    ) -> Reply:
        """The answer, posted in the home thread after a line saying why it is there."""
        intro = _redirect_intro(inbound, surface)

        async def post(part: str, answer_of: str | None = None) -> str:
            first = log_.comments_posted == 0
            text = f"{intro}\n\n{part}" if first else part
            await home.notify_key(home_key, text, answer_of=answer_of)
            return f"home:{log_.comments_posted}"

        async def post_last(part: str) -> str:
            # The answer's final message: it carries what every answer there carries (the
            # feedback buttons, voting for this turn).
            return await post(part, log_.turn_id)

        async def posted(part_id: str) -> None:
            await log_.comment_posted(part_id)
            if log_.comments_posted == 1:
                await self._public_note(inbound, surface)

        return CommentReply(
            post,
            posted,
            already_posted=log_.comments_posted,
            limit=MESSAGE_LIMIT - 500,
            post_last=post_last,
        )

    def _note_only(self, inbound: Inbound, surface: Surface, log_: PostedLog) -> Reply:
        async def post(part: str) -> str:
            log.warning("answer not posted: a public place and no internal thread to use")
            await self._public_note(inbound, surface)
            return "dropped"

        async def posted(part_id: str) -> None:
            await log_.comment_posted(part_id)

        return CommentReply(post, posted, already_posted=log_.comments_posted, limit=10**9)

    async def _public_note(self, inbound: Inbound, surface: Surface) -> None:
        note = self._policy.public_reply_note
        if not note:
            return
        try:
            await surface.notify(inbound, note)
        except IntegrationError as exc:
            log.warning("public reply note not posted on %s: %s", surface.title, exc)


def _answered_elsewhere(inbound: Inbound) -> str:
    where = f"<{inbound.item_url}|{inbound.item_ref}>" if inbound.item_url else inbound.item_ref
    who = clean_name(inbound.author_name or inbound.author_id)
    if inbound.author_id.startswith(JOB_AUTHOR):  # a job's result, told where RESULT_ROUTE says
        return f"Background {who} ended; I reported it on {where}."
    return f"{who} commented on {where}; I answered there."


def _redirect_intro(inbound: Inbound, surface: Surface) -> str:
    url = inbound.comment_url or inbound.item_url
    item = inbound.item_ref or surface.title
    where = f"<{url}|{surface.title} {item}>" if url else f"{surface.title} {item}"
    who = clean_name(inbound.author_name or inbound.author_id)
    return (
        f"_{who} asked on {where}, which people outside the organisation can read. This "
        "conversation holds internal information, so I'm answering here instead:_"
    )
