"""Chat commands: ``reset`` (start the conversation over), ``links`` (what is linked),
``mute``/``unmute`` (stop or resume answering a followed thread without a mention), and
``jobs`` (the conversation's background jobs).

``@bot reset`` in a thread and the ``/reset`` slash command share ``reset_conversation``, so
both do the same and say the same. A reset ends the session: its keys are released (a later
comment on a linked item no longer reaches it) and the next message starts fresh. A mute is
kept by thread key, so it outlives a reset; with ``FOLLOW_THREADS`` off, or in a DM (where
every message is answered), ``mute`` and ``unmute`` explain that there is nothing to mute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.core import ConversationKey, Inbound, Usage
from app.core.text import clean_name
from app.errors import IntegrationError
from app.integrations.jobs.service import JOB_PLATFORM
from app.store.base import Delivery, Store, TurnRecord
from app.surfaces.base import Command, SurfaceRegistry
from app.turns.routing import ReplyRouter
from app.turns.turn import Observer

log = logging.getLogger("app.turn")


@dataclass(frozen=True)
class CommandResult:
    session_id: str | None  # the conversation the command was about, if there was one
    text: str  # what the person reads


def where_of(inbound: Inbound) -> str:
    """How the conversation of a Slack message is named in a command's answer."""
    if inbound.is_dm and not inbound.thread_ts:
        return "this DM"
    return "this thread"


async def reset_conversation(
    store: Store, key: str, *, where: str, cause: str, turn_id: str | None = None
) -> CommandResult:
    """End the live session at ``key``, if any; ``where`` names it for the person."""
    session = await store.resolve(key)
    if session is None:
        return CommandResult(
            None, f"There was no conversation to reset in {where}; the next message starts one."
        )
    await store.end_session(session.id, "reset", cause=cause, turn_id=turn_id)
    return CommandResult(
        session.id, f"Done: I've forgotten {where}. The next message there starts fresh."
    )


async def list_links(store: Store, surfaces: SurfaceRegistry, key: str) -> CommandResult:
    """The tracker items linked to the conversation at ``key``, with their URLs."""
    session = await store.resolve(key)
    links = [] if session is None else await store.keys_for(session.id)
    lines = []
    for link in links:
        parsed = ConversationKey.parse(link.key)
        surface = surfaces.get(parsed.platform)
        if parsed.platform == JOB_PLATFORM:
            continue  # background jobs: ``jobs`` lists them
        if surface is None:  # an item of an integration that is not configured any more
            label = f"{parsed.platform} {parsed.label}"
        elif surface.is_item:
            label = surface.item_label(parsed)
        else:
            continue
        lines.append(f"• {label}" + (f": {link.url}" if link.url else ""))
    session_id = session.id if session else None
    if not lines:
        return CommandResult(
            session_id, "No Jira tickets or GitHub issues are linked to this conversation yet."
        )
    return CommandResult(session_id, "Linked to this conversation:\n" + "\n".join(lines))


FOLLOWING_OFF = (
    "I answer in a channel thread only when someone mentions me, so there is nothing to mute."
)
DM_MUTE = "I answer every message in a DM, so there is nothing to mute here."
MUTED = (
    "Muted: I'll stay quiet in this thread unless someone mentions me. "
    "Mention me with `unmute` to have me follow it again."
)
MUTED_ALREADY = "This thread is muted already. Mention me with `unmute` to have me follow it again."
UNMUTED = "Unmuted: I'll answer messages in this thread again, no mention needed."
NOT_MUTED = "This thread isn't muted."


async def set_muted(
    store: Store, inbound: Inbound, *, muted: bool, follow_threads: bool, turn_id: str
) -> CommandResult:
    """Mute or unmute the thread of ``inbound`` (see the module docstring)."""
    session = await store.resolve(inbound.key)
    session_id = session.id if session else None
    if inbound.is_dm:
        return CommandResult(session_id, DM_MUTE)
    if not follow_threads:
        return CommandResult(session_id, FOLLOWING_OFF)
    if muted:
        changed = await store.mute_thread(inbound.key, inbound.author_id)
        text = MUTED if changed else MUTED_ALREADY
    else:
        changed = await store.unmute_thread(inbound.key)
        text = UNMUTED if changed else NOT_MUTED
    if changed and session_id:
        kind = "muted" if muted else "unmuted"
        await store.log_event(
            session_id, kind, cause=f"{kind} by {inbound.author_id}", turn_id=turn_id
        )
    return CommandResult(session_id, text)


async def run_command(
    command: Command,
    inbound: Inbound,
    *,
    store: Store,
    surfaces: SurfaceRegistry,
    turn_id: str,
    follow_threads: bool = False,
) -> CommandResult:
    """A command typed in a conversation (after a mention, or in a DM)."""
    if command in ("mute", "unmute"):
        return await set_muted(
            store,
            inbound,
            muted=command == "mute",
            follow_threads=follow_threads,
            turn_id=turn_id,
        )
    if command == "reset":
        return await reset_conversation(
            store,
            inbound.key,
            where=where_of(inbound),
            cause=f"reset by {inbound.author_id}",
            turn_id=turn_id,
        )
    if command == "jobs":
        return await list_jobs(store, inbound.key)
    return await list_links(store, surfaces, inbound.key)


async def list_jobs(store: Store, key: str) -> CommandResult:
    """The background jobs of the conversation at ``key``, oldest first, with their links."""
    session = await store.resolve(key)
    jobs = [] if session is None else await store.jobs_of_session(session.id)
    session_id = session.id if session else None
    if not jobs:
        return CommandResult(session_id, "No background jobs in this conversation yet.")
    lines = []
    for job in jobs:
        again = f", follow-up {job.resume_count}" if job.resume_count else ""
        title = clean_name(job.title, "untitled")
        lines.append(f"• {title} (`{job.id}`): {job.status}{again}")
        lines.extend(f"   {link}" for link in job.links)
    return CommandResult(session_id, "Background jobs of this conversation:\n" + "\n".join(lines))


class Commands:
    """Runs a command typed in a conversation: answers where it was typed, records it."""

    def __init__(
        self,
        store: Store,
        surfaces: SurfaceRegistry,
        router: ReplyRouter,
        observer: Observer,
        *,
        holder: str,
        clock: Callable[[], datetime],
        follow_threads: bool = False,
    ) -> None:
        self._store = store
        self._follow_threads = follow_threads
        self._surfaces = surfaces
        self._router = router
        self._observer = observer
        self._holder = holder
        self._clock = clock

    async def handle(
        self, command: Command, inbound: Inbound, delivery: Delivery, turn_id: str
    ) -> None:
        result = await run_command(
            command,
            inbound,
            store=self._store,
            surfaces=self._surfaces,
            turn_id=turn_id,
            follow_threads=self._follow_threads,
        )
        await self._answer(command, inbound, delivery, turn_id, result)

    async def refuse(
        self, command: Command, inbound: Inbound, delivery: Delivery, turn_id: str
    ) -> None:
        """A command from someone who may chat but not act (another organisation's user)."""
        session = await self._store.resolve(inbound.key)
        text = f"Only people of this workspace can use `{command}` here."
        await self._answer(
            command,
            inbound,
            delivery,
            turn_id,
            CommandResult(session.id if session else None, text),
        )

    async def _answer(
        self,
        command: Command,
        inbound: Inbound,
        delivery: Delivery,
        turn_id: str,
        result: CommandResult,
    ) -> None:
        try:
            await self._router.notify(inbound, result.text)
        except IntegrationError as exc:
            log.error("command reply failed: %s", exc, extra={"turn_id": turn_id})
        now = self._clock()
        outcome = f"command_{command}"
        await self._store.record_turn(
            TurnRecord(turn_id, result.session_id, outcome, None, Usage(), now, now)
        )
        self._observer.turn_finished(outcome, None, Usage())
        await self._store.finish_delivery(delivery.id, self._holder, "done")
