"""Slack's assistant threads: the prompts offered when someone opens the bot, and the title of
an assistant thread.

Two events mean "someone opened the bot": ``assistant_thread_started`` (the assistant panel
or a new chat in the bot's DM; it names the thread) and ``app_home_opened`` with ``tab``
``messages`` (the DM itself, in Slack's newer agent view; no thread). Either gets the
configured prompts (``SUGGESTED_PROMPTS``) through ``assistant.threads.setSuggestedPrompts``,
at most once a minute per DM for ``app_home_opened``, which Slack sends on every visit. Opening
the bot's panel can send both events within moments; a person is offered the prompts once per
``OPENING_SECONDS`` whichever comes first: in this process always, and across replicas
through the store (``remember_once`` on the person's time slot, best effort: two events
straddling a slot's end on two replicas both offer them).

After the first answer in an assistant thread (a thread in the bot's DM), the thread is titled
with the question that started it (``assistant.threads.setTitle``), once per thread across
replicas (``remember_once``; the mark is pruned after ``RETENTION_DAYS``, so a thread answered
again after that long is titled anew). All of it is best effort: a refusal or a rate limit that
outlasts the client's retries is logged, never shown, and never stops an answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from slack_sdk.web.async_client import AsyncWebClient

from app.errors import StoreError
from app.slack.cards import one_line
from app.slack.failures import SLACK_FAILURES, describe

log = logging.getLogger(__name__)

MAX_PROMPTS: Final = 4
MAX_PROMPT_TITLE: Final = 75
MAX_TITLE: Final = 80
HOME_PROMPTS_EVERY: Final = 60.0  # seconds between prompts offered on app_home_opened
OPENING_SECONDS: Final = 10.0  # one opening of the bot's panel may send two events this close


@dataclass(frozen=True)
class Opened:
    """Someone opened the bot: where to offer prompts (``thread_ts`` None: the DM itself)."""

    user: str
    channel: str
    thread_ts: str | None


def opened(body: dict[str, Any]) -> Opened | None:
    """The opening in an ``assistant_thread_started`` or messages-tab ``app_home_opened``
    event, or None (another event, another tab, or a shape Slack does not send)."""
    if body.get("type") != "event_callback":
        return None
    event = body.get("event")
    if not isinstance(event, dict):
        return None
    if event.get("type") == "assistant_thread_started":
        thread = event.get("assistant_thread")
        if not isinstance(thread, dict):
            return None
        user, channel, ts = thread.get("user_id"), thread.get("channel_id"), thread.get("thread_ts")
        if _all_text(user, channel, ts):
            return Opened(str(user), str(channel), str(ts))
        return None
    if event.get("type") == "app_home_opened" and event.get("tab") == "messages":
        user, channel = event.get("user"), event.get("channel")
        if _all_text(user, channel):
            return Opened(str(user), str(channel), None)
    return None


def prompt_list(prompts: Sequence[str]) -> list[dict[str, str]]:
    """``SUGGESTED_PROMPTS`` as Slack takes them: a short title and the message sent."""
    return [{"title": one_line(p, MAX_PROMPT_TITLE), "message": p} for p in prompts[:MAX_PROMPTS]]


def thread_title(question: str) -> str:
    """An assistant thread's title from its first question: one line, at most 80 characters."""
    return one_line(question, MAX_TITLE) or "New conversation"


class AssistantThreads:
    """Offers the prompts and titles threads, through one Slack client."""

    def __init__(
        self,
        client: AsyncWebClient,
        prompts: Sequence[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prompts = prompt_list(prompts)
        self._clock = clock
        self._wall = wall
        self._offered: dict[str, float] = {}  # DM channel -> when prompts were last offered
        self._opened: dict[str, float] = {}  # person -> when they were last offered prompts

    async def offer_prompts(
        self, where: Opened, first: Callable[[str], Awaitable[bool]] | None = None
    ) -> None:
        """Offer the prompts where the person opened the bot, unless this opening (or a visit
        of the DM within the minute) has had them; ``first`` claims a ref across replicas."""
        if not self._prompts:
            return
        if where.thread_ts is None and not self._due(where.channel):
            return
        if not _first_in(self._opened, where.user, self._clock(), OPENING_SECONDS):
            return
        if first is not None and not await self._first_across_replicas(where.user, first):
            return
        args: dict[str, Any] = {"channel_id": where.channel, "prompts": self._prompts}
        if where.thread_ts is not None:
            args["thread_ts"] = where.thread_ts
        try:
            await self._client.assistant_threads_setSuggestedPrompts(**args)
        except SLACK_FAILURES as exc:
            log.info("suggested prompts not offered in %s: %s", where.channel, describe(exc))

    async def title_once(
        self,
        channel: str,
        thread_ts: str,
        question: str,
        first: Callable[[str], Awaitable[bool]],
    ) -> None:
        """Title the thread from ``question`` if no answer there has done so yet."""
        try:
            if not await first(f"slack:title:{channel}:{thread_ts}"):
                return
        except StoreError as exc:
            log.warning("thread title skipped: %s", exc)
            return
        try:
            await self._client.assistant_threads_setTitle(
                channel_id=channel, thread_ts=thread_ts, title=thread_title(question)
            )
        except SLACK_FAILURES as exc:
            log.info("thread title not set: %s", describe(exc))

    def _due(self, channel: str) -> bool:
        return _first_in(self._offered, channel, self._clock(), HOME_PROMPTS_EVERY)

    async def _first_across_replicas(
        self, user: str, first: Callable[[str], Awaitable[bool]]
    ) -> bool:
        slot = int(self._wall() // OPENING_SECONDS)
        try:
            return await first(f"slack:prompts:{user}:{slot}")
        except StoreError as exc:
            log.warning("suggested prompts offered without asking other replicas: %s", exc)
            return True


def _first_in(seen: dict[str, float], name: str, now: float, window: float) -> bool:
    """Whether ``name`` was not seen within ``window`` seconds before ``now`` (and note it)."""
    last = seen.get(name)
    if last is not None and now - last < window:
        return False
    if len(seen) > 10_000:  # forget old visits rather than grow without end
        for old in [n for n, t in seen.items() if now - t >= window]:
            del seen[old]
    seen[name] = now
    return True


def _all_text(*values: Any) -> bool:
    return all(isinstance(v, str) and v for v in values)
