"""One delivery becomes one turn: resolve the session, hold its lease, run the agent, reply,
commit. The only place that decides what a failure does to a conversation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from app import logs
from app.agent.loop import AgentResult, run_agent
from app.agent.model import Failure, Model, classify
from app.agent.prompt import system_prompt, user_message
from app.agent.tools.base import ToolContext, ToolRegistry
from app.core import Inbound, KeyClaim, Usage
from app.errors import IntegrationError, LeaseLost, StoreError
from app.slack.events import BotIdentity, command_of
from app.slack.failures import SLACK_FAILURES
from app.slack.failures import describe as describe_slack
from app.slack.format import markdown_message
from app.slack.names import UserNames
from app.slack.reply import SlackReply
from app.store.base import (
    Delivery,
    NewMessage,
    Session,
    Store,
    TurnCommit,
    TurnRecord,
)
from app.turns import outcome as notes
from app.turns.inbound import comment_ref, platform_of
from app.turns.replay import DeliveryRecord, ReplayingTools
from app.turns.surfaces import CommentReply, Reply

log = logging.getLogger("app.turn")

MAX_ATTEMPTS = 3
THREAD_CONTEXT_MESSAGES = 100  # per page, and the most that is passed on
THREAD_CONTEXT_PAGES = 5
THREAD_CONTEXT_CHARS = 20_000


class Observer(Protocol):
    """Receives turn measurements (metrics); a no-op by default."""

    def turn_finished(self, outcome: str, seconds: float | None, usage: Usage) -> None: ...

    def first_token(self, seconds: float) -> None: ...


class _NoObserver:
    def turn_finished(self, outcome: str, seconds: float | None, usage: Usage) -> None:
        return None

    def first_token(self, seconds: float) -> None:
        return None


class CommentPoster(Protocol):
    """Posts an answer on an item (``acme/widgets#42`` or ``AD-12``); returns the comment id."""

    async def __call__(self, item_ref: str, body: str) -> str: ...


@dataclass
class _Lease:
    session: Session
    fence: int
    committing: bool = False  # the commit releases the lease; renewals stop before it
    lost: bool = False


@dataclass(frozen=True)
class PipelineConfig:
    agent: str
    holder: str
    lease_seconds: float
    turn_timeout: float


class TurnPipeline:
    def __init__(
        self,
        *,
        config: PipelineConfig,
        store: Store,
        model: Model,
        tools: ToolRegistry,
        slack: AsyncWebClient,
        names: UserNames,
        bot: Callable[[], BotIdentity],
        comment_posters: dict[str, CommentPoster] | None = None,
        observer: Observer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._cfg = config
        self._store = store
        self._model = model
        self._tools = tools
        self._slack = slack
        self._names = names
        self._bot = bot
        self._posters = comment_posters or {}
        self._observer = observer or _NoObserver()
        self._clock = clock

    # entry point ---------------------------------------------------------------------------
    async def handle(self, delivery: Delivery) -> None:
        """Handle one claimed delivery. Raises only ``StoreError`` (the worker backs off);
        anything else is logged, and the user gets a short note."""
        inbound = Inbound.from_payload(delivery.payload)
        turn_id = notes.new_turn_id()
        # Every record logged inside the turn (tasks, tools, Slack calls) carries its ids.
        with logs.bind(turn_id=turn_id, key=inbound.key, delivery=delivery.delivery_id):
            await self._handle(delivery, inbound, turn_id)

    async def _handle(self, delivery: Delivery, inbound: Inbound, turn_id: str) -> None:
        extra = {"turn_id": turn_id, "key": inbound.key, "delivery": delivery.delivery_id}
        log.info("turn start attempt=%d", delivery.attempts, extra=extra)
        if delivery.attempts > MAX_ATTEMPTS:
            log.error("giving up after %d attempts", delivery.attempts - 1, extra=extra)
            with contextlib.suppress(Exception):
                await self._notify(inbound, notes.gave_up_note(turn_id))
            await self._store.finish_delivery(
                delivery.id, self._cfg.holder, "failed", "too many attempts"
            )
            return
        if inbound.source == "slack":
            name = await self._names.name(inbound.author_id)
            inbound = replace(inbound, author_name=name)
            command = command_of(inbound.text)
            if command is not None:
                keeper = asyncio.create_task(self._keep_claimed(delivery))
                try:
                    await self._command(command, inbound, delivery, turn_id)
                finally:
                    keeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await keeper
                return
        session = await self._store.resolve(inbound.key)
        if session is None:
            if inbound.source != "slack":
                # A comment on an item that no live conversation owns (any more).
                log.info("no live session for item; ignored", extra=extra)
                await self._store.finish_delivery(delivery.id, self._cfg.holder, "done")
                return
            session = await self._new_session(inbound.key, turn_id)
        fence = await self._store.acquire_lease(
            session.id, self._cfg.holder, self._cfg.lease_seconds
        )
        if fence is None:
            # Another turn of this conversation is running (another door, another replica).
            await self._store.release_delivery(delivery.id, self._cfg.holder, 0.5)
            return
        lease = _Lease(session, fence)
        with logs.bind(session_id=session.id):
            turn = asyncio.create_task(self._turn(inbound, delivery, lease, turn_id))
        heartbeat = asyncio.create_task(self._heartbeat(delivery, lease, turn))
        try:
            await turn
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if lease.lost and not (current and current.cancelling()):
                # Another holder has this delivery now; stop before showing anything more.
                log.warning("lease lost mid-turn; turn abandoned to its new holder", extra=extra)
                return
            raise
        except StoreError:
            raise
        except Exception:
            # A bug, not a failure class we know: log it with the turn id, tell the user
            # briefly, and keep the conversation as it was (nothing was committed).
            log.exception("turn failed unexpectedly", extra=extra)
            with contextlib.suppress(Exception):
                await self._notify(inbound, notes.internal_error_note(turn_id))
            await self._store.finish_delivery(delivery.id, self._cfg.holder, "failed", "crashed")
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            with contextlib.suppress(StoreError):
                await self._store.release_lease(lease.session.id, self._cfg.holder, lease.fence)

    # the turn ------------------------------------------------------------------------------
    async def _turn(
        self, inbound: Inbound, delivery: Delivery, lease: _Lease, turn_id: str
    ) -> None:
        extra = {"turn_id": turn_id, "key": inbound.key, "session_id": lease.session.id}
        started = self._clock()
        t0 = asyncio.get_running_loop().time()
        record = DeliveryRecord(self._store, delivery.id, delivery.reply_ref, self._cfg.holder)
        reply = self._reply_for(inbound, record, lease)
        tools = ReplayingTools(self._tools, record)
        history = await self._store.load_messages(lease.session.id)
        user = user_message(inbound, inbound.text)
        context = await self._thread_context(inbound, delivery)
        if context:
            user["content"].append({"type": "text", "text": context})
        first_token = _FirstToken(
            reply, lambda: self._observer.first_token(asyncio.get_running_loop().time() - t0)
        )
        note: str | None = None
        outcome = "ok"
        try:
            await reply.begin()
            try:
                result = await self._run(inbound, lease, turn_id, history, user, first_token, tools)
            except Exception as exc:
                if isinstance(exc, StoreError | IntegrationError):
                    raise  # the store failed, or the answer could not be shown
                classified = classify(exc)
                decision = notes.after_model_error(
                    classified,
                    had_history=bool(history),
                    answer_started=bool(reply.text_so_far.strip()),
                    turn_id=turn_id,
                )
                self._log_failure(classified, exc, extra)
                if not decision.retry_fresh:
                    await reply.finish(decision.note)
                    await self._record(turn_id, lease.session.id, decision.outcome, started)
                    await self._store.finish_delivery(
                        delivery.id, self._cfg.holder, "failed", decision.outcome
                    )
                    return
                retried, failed = await self._retry_fresh(
                    inbound,
                    lease,
                    turn_id,
                    user,
                    first_token,
                    reply,
                    extra,
                    classified.detail,
                    tools,
                )
                if retried is None:
                    await reply.finish(failed)
                    await self._record(turn_id, lease.session.id, "context_rejected", started)
                    await self._store.finish_delivery(
                        delivery.id, self._cfg.holder, "failed", "context_rejected"
                    )
                    return
                result, note, outcome = retried, notes.reset_note(), "ok_after_reset"
            await reply.finish(note)
        except IntegrationError as exc:
            # The answer could not be shown. Leave the delivery claimed: its lease runs out
            # and it is retried (counted), editing what was already posted.
            log.error("could not deliver the reply: %s", _describe(exc), extra=extra)
            await self._record(turn_id, lease.session.id, "reply_failed", started)
            return
        messages = [_new(user, inbound), *(_new(m, inbound) for m in result.messages)]
        lease.committing = True
        try:
            await self._store.commit_turn(
                TurnCommit(
                    session_id=lease.session.id,
                    fence=lease.fence,
                    turn_id=turn_id,
                    messages=messages,
                    usage=result.usage,
                    model=self._model.name,
                    outcome=outcome,
                    delivery_pk=delivery.id,
                    holder=self._cfg.holder,
                    started_at=started,
                )
            )
        except LeaseLost:
            session = await self._store.get_session(lease.session.id)
            if session is None or session.status != "active":
                # Reset or dropped while this turn ran: its answer was shown, the
                # conversation starts over as asked; nothing to retry.
                log.info("session ended during the turn; answer not stored", extra=extra)
                await self._store.finish_delivery(
                    delivery.id, self._cfg.holder, "done", "session ended during the turn"
                )
                self._observer.turn_finished("superseded", None, result.usage)
                return
            log.warning("lease lost before commit; turn not stored", extra=extra)
            self._observer.turn_finished("lease_lost", None, result.usage)
            return
        elapsed = asyncio.get_running_loop().time() - t0
        self._observer.turn_finished(outcome, elapsed, result.usage)
        log.info(
            "turn done outcome=%s rounds=%d in=%d out=%d cache_read=%d cache_write=%d %.2fs",
            outcome,
            result.rounds,
            result.usage.input_tokens,
            result.usage.output_tokens,
            result.usage.cache_read_tokens,
            result.usage.cache_write_tokens,
            elapsed,
            extra=extra,
        )

    async def _run(
        self,
        inbound: Inbound,
        lease: _Lease,
        turn_id: str,
        history: list[dict[str, Any]],
        user: dict[str, Any],
        progress: Reply,
        tools: ToolRegistry,
    ) -> AgentResult:
        async with asyncio.timeout(self._cfg.turn_timeout):
            return await run_agent(
                self._model,
                system=system_prompt(
                    agent=self._cfg.agent,
                    tool_names=tools.names,
                    today=self._clock(),
                ),
                history=history,
                user_message=user,
                tools=tools,
                tool_context=self._tool_context(inbound, lease, turn_id),
                progress=progress,
            )

    async def _retry_fresh(
        self,
        inbound: Inbound,
        lease: _Lease,
        turn_id: str,
        user: dict[str, Any],
        progress: Reply,
        reply: Reply,
        extra: dict[str, Any],
        cause: str,
        tools: ToolRegistry,
    ) -> tuple[AgentResult | None, str | None]:
        """Run once more on a new session; on success the old one is dropped for it."""
        old = lease.session
        fresh = await self._store.create_session(self._cfg.agent, turn_id=turn_id)
        fresh_fence = await self._store.acquire_lease(
            fresh.id, self._cfg.holder, self._cfg.lease_seconds
        )
        if fresh_fence is None:  # pragma: no cover - nobody else knows the new id yet
            raise StoreError("could not lease a brand-new session")
        # The old session stays leased (nothing else may run on it) until it is dropped
        # below, or released if the fresh attempt fails too.
        old_fence, (lease.session, lease.fence) = lease.fence, (fresh, fresh_fence)
        if isinstance(tools, ReplayingTools):
            tools.restart()  # the fresh run's n-th create call is still the n-th
        try:
            result = await self._run(inbound, lease, turn_id, [], user, progress, tools)
        except Exception as exc:
            if isinstance(exc, StoreError | IntegrationError):
                raise
            classified = classify(exc)
            self._log_failure(classified, exc, extra)
            await self._store.end_session(
                fresh.id, "dropped", cause="fresh retry failed", turn_id=turn_id
            )
            await self._store.release_lease(old.id, self._cfg.holder, old_fence)
            decision = notes.after_model_error(
                classified,
                had_history=False,
                answer_started=bool(reply.text_so_far.strip()),
                turn_id=turn_id,
            )
            return None, decision.note
        links = await self._store.keys_for(old.id)
        await self._store.end_session(
            old.id, "dropped", cause=f"model rejected the transcript ({cause})", turn_id=turn_id
        )
        # The fresh session takes over every door of the old one (the Slack thread and the
        # linked Jira/GitHub items), so comments there keep reaching this conversation.
        for link in links or []:
            claim = await self._store.register_key(
                link.key, fresh.id, url=link.url, turn_id=turn_id
            )
            if not claim.registered:
                log.warning("key %s taken by %s", link.key, claim.owner_session_id, extra=extra)
        if not any(link.key == inbound.key for link in links):
            await self._store.register_key(inbound.key, fresh.id, turn_id=turn_id)
        log.warning("session dropped and replaced by %s", fresh.id, extra=extra)
        return result, None

    # helpers -------------------------------------------------------------------------------
    async def _new_session(self, key: str, turn_id: str) -> Session:
        session = await self._store.create_session(self._cfg.agent, turn_id=turn_id)
        claim = await self._store.register_key(key, session.id, turn_id=turn_id)
        if claim.registered:
            return session
        # Lost a first-writer race to another replica: use the winner, retire ours.
        await self._store.end_session(session.id, "dropped", cause="lost key race", turn_id=turn_id)
        winner = await self._store.get_session(claim.owner_session_id)
        if winner is None:  # pragma: no cover - the winner was live an instant ago
            raise StoreError("key owner vanished")
        return winner

    async def _thread_context(self, inbound: Inbound, delivery: Delivery) -> str | None:
        """What people said in a channel thread since the bot last looked, without mentioning
        it: the bot is only told about mentions, yet "remembers everything said there"."""
        if inbound.source != "slack" or inbound.is_dm or not inbound.channel:
            return None
        if not inbound.thread_ts or inbound.thread_ts == inbound.ts:
            return None  # a new thread: nothing was said before
        previous = await self._store.previous_delivery(inbound.key, delivery.id)
        oldest = str(previous.payload.get("ts")) if previous else None
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        try:
            # Pages run oldest first; a busy thread takes a few, and the newest are kept.
            for _ in range(THREAD_CONTEXT_PAGES):
                response = await self._slack.conversations_replies(
                    channel=inbound.channel,
                    ts=inbound.thread_ts,
                    latest=inbound.ts,
                    oldest=oldest,
                    inclusive=False,
                    limit=THREAD_CONTEXT_MESSAGES,
                    cursor=cursor,
                )
                messages.extend(response.get("messages") or [])
                cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    break
        except SLACK_FAILURES as exc:
            log.info("thread context unavailable: %s", describe_slack(exc))
            if not messages:
                return None
        unique = {str(m.get("ts")): m for m in messages}  # the parent may repeat per page
        ordered = sorted(unique.values(), key=lambda m: _ts_order(str(m.get("ts"))))
        bot = self._bot()
        lines: list[str] = []
        for message in ordered[-THREAD_CONTEXT_MESSAGES:]:
            ts, user, text = message.get("ts"), message.get("user"), message.get("text") or ""
            if not isinstance(ts, str) or not isinstance(user, str) or ts == inbound.ts:
                continue
            if oldest and _ts_order(ts) <= _ts_order(oldest):
                continue
            if (
                message.get("bot_id")
                or user == bot.user_id
                or message.get("subtype")
                not in (
                    None,
                    "file_share",
                    "thread_broadcast",
                )
            ):
                continue
            if bot.user_id and f"<@{bot.user_id}" in text:
                continue  # a mention is a turn of its own
            name = await self._names.name(user) or user
            lines.append(f"- {name} ({user}): {text.strip()}")
        if not lines:
            return None
        body = "\n".join(lines)
        if len(body) > THREAD_CONTEXT_CHARS:  # keep the most recent part
            body = "…" + body[-THREAD_CONTEXT_CHARS:]
        return "[Said in this thread since you last looked, not addressed to you]\n" + body

    async def _keep_claimed(self, delivery: Delivery) -> None:
        """Extend a delivery's lease while work without a session lease runs (commands),
        so a slow Slack call never lets another worker run it again."""
        while True:
            await asyncio.sleep(max(self._cfg.lease_seconds / 3, 0.2))
            with contextlib.suppress(StoreError):
                await self._store.extend_delivery(
                    delivery.id, self._cfg.holder, self._cfg.lease_seconds
                )

    async def _heartbeat(self, delivery: Delivery, lease: _Lease, turn: asyncio.Task[None]) -> None:
        """Keep the delivery and session leases; cancel the turn once either is lost (taken
        over, or not renewable until it ran out), so two holders never answer at once."""
        loop = asyncio.get_running_loop()
        interval = max(self._cfg.lease_seconds / 3, 0.2)
        held_until = loop.time() + self._cfg.lease_seconds
        while not turn.done():
            await asyncio.sleep(interval)
            if lease.committing:
                return
            session_id, fence = lease.session.id, lease.fence
            try:
                kept = await self._store.extend_delivery(
                    delivery.id, self._cfg.holder, self._cfg.lease_seconds
                )
                if kept and not await self._store.renew_lease(
                    session_id, self._cfg.holder, fence, self._cfg.lease_seconds
                ):
                    # Not ours any more: swapped for a fresh session meanwhile (fine), or the
                    # session was reset or dropped (the turn finishes; its commit is
                    # superseded), or another holder took it (a real loss).
                    kept = (lease.session.id, lease.fence) != (session_id, fence)
                    if not kept:
                        current = await self._store.get_session(session_id)
                        kept = current is None or current.status != "active"
            except StoreError as exc:
                log.warning("lease heartbeat failed: %s", exc)
                kept = loop.time() < held_until
            else:
                if kept:
                    held_until = loop.time() + self._cfg.lease_seconds
            if not kept and not lease.committing:
                lease.lost = True
                turn.cancel()
                return

    def _reply_for(self, inbound: Inbound, record: DeliveryRecord, lease: _Lease) -> Reply:
        async def remember(posted: dict[str, Any]) -> None:
            await record.slack_posted(str(posted["ts"]))

        if inbound.source == "slack":
            assert inbound.channel is not None
            bot = self._bot()
            return SlackReply(
                self._slack,
                channel=inbound.channel,
                thread_ts=inbound.thread_ts,
                team_id=inbound.team_id or bot.team_id,
                user_id=inbound.author_id,
                on_posted=remember,
                existing_ts=record.slack_messages,
                on_removed=record.slack_removed,
            )
        poster = self._posters[inbound.source]
        item = inbound.item_ref or ""

        async def post(body: str) -> str:
            return await poster(item, body)

        async def posted(comment_id: str) -> None:
            await self._store.remember_posted(comment_ref(inbound.source, item, comment_id))
            await record.comment_posted(comment_id)
            if record.comments_posted == 1:  # one notice per answer, however many parts
                await self._notice_slack(inbound, lease.session.id)

        return CommentReply(post, posted, already_posted=record.comments_posted)

    async def _slack_thread_of(self, session_id: str) -> tuple[str, str | None] | None:
        """The Slack conversation linked to a session: its channel and thread (None for a
        DM's top level), or None when the session has no Slack key."""
        for link in await self._store.keys_for(session_id):
            if platform_of(link.key) == "slack":
                channel, thread = _slack_place(link.key)
                return channel, None if thread == "main" else thread
        return None

    async def _notice_slack(self, inbound: Inbound, session_id: str) -> None:
        """Tell the linked Slack thread that the conversation moved on elsewhere."""
        place = await self._slack_thread_of(session_id)
        if place is None:
            return
        channel, thread = place
        where = f"<{inbound.item_url}|{inbound.item_ref}>" if inbound.item_url else inbound.item_ref
        who = inbound.author_name or inbound.author_id
        text = f"{who} commented on {where}; I answered there."
        try:
            await self._slack.chat_postMessage(
                channel=channel, **markdown_message(text, thread_ts=thread)
            )
        except SLACK_FAILURES as exc:
            log.warning("Slack notice not posted: %s", _describe(exc))

    def _tool_context(self, inbound: Inbound, lease: _Lease, turn_id: str) -> ToolContext:
        async def link_key(key: str, url: str | None) -> KeyClaim:
            return await self._store.register_key(key, lease.session.id, url=url, turn_id=turn_id)

        async def thread_link() -> str | None:
            place: tuple[str, str | None] | None
            if inbound.source == "slack" and inbound.channel:
                place = (inbound.channel, inbound.thread_ts or inbound.ts)
            else:
                place = await self._slack_thread_of(lease.session.id)
            if not place or not place[1]:
                return None
            try:
                response = await self._slack.chat_getPermalink(
                    channel=place[0], message_ts=place[1]
                )
                return str(response.get("permalink") or "") or None
            except SLACK_FAILURES:
                return None

        return ToolContext(
            session_id=lease.session.id,
            turn_id=turn_id,
            agent=self._cfg.agent,
            source_key=inbound.key,
            link_key=link_key,
            thread_link=thread_link,
        )

    async def _command(
        self, command: str, inbound: Inbound, delivery: Delivery, turn_id: str
    ) -> None:
        session = await self._store.resolve(inbound.key)
        if command == "reset":
            if session is not None:
                await self._store.end_session(
                    session.id, "reset", cause=f"reset by {inbound.author_id}", turn_id=turn_id
                )
                text = "Done: I've forgotten this conversation. Your next message starts fresh."
            else:
                text = (
                    "There is nothing to reset here; your next message starts a new conversation."
                )
        else:
            links = [] if session is None else await self._store.keys_for(session.id)
            items = [k for k in links if platform_of(k.key) in ("github", "jira")]
            if not items:
                text = "No Jira tickets or GitHub issues are linked to this conversation yet."
            else:
                lines = [f"• {_item_label(k.key)}" + (f": {k.url}" if k.url else "") for k in items]
                text = "Linked to this conversation:\n" + "\n".join(lines)
        try:
            await self._notify(inbound, text)
        except SLACK_FAILURES as exc:
            log.error("command reply failed: %s", _describe(exc), extra={"turn_id": turn_id})
        await self._store.record_turn(
            TurnRecord(
                turn_id,
                session.id if session else None,
                f"command_{command}",
                None,
                Usage(),
                self._clock(),
                self._clock(),
            )
        )
        self._observer.turn_finished(f"command_{command}", None, Usage())
        await self._store.finish_delivery(delivery.id, self._cfg.holder, "done")

    async def _notify(self, inbound: Inbound, text: str) -> None:
        """A one-off message on the surface the inbound came from."""
        if inbound.source == "slack" and inbound.channel:
            await self._slack.chat_postMessage(
                channel=inbound.channel, **markdown_message(text, thread_ts=inbound.thread_ts)
            )
        elif inbound.source in self._posters and inbound.item_ref:
            await self._posters[inbound.source](inbound.item_ref, text)

    async def _record(self, turn_id: str, session_id: str, outcome: str, started: datetime) -> None:
        """Record (and count) a turn that committed no messages."""
        finished = self._clock()
        await self._store.record_turn(
            TurnRecord(turn_id, session_id, outcome, self._model.name, Usage(), started, finished)
        )
        self._observer.turn_finished(outcome, (finished - started).total_seconds(), Usage())

    def _log_failure(self, classified: Any, exc: BaseException, extra: dict[str, Any]) -> None:
        if classified.failure is Failure.CONFIGURATION:
            log.error(
                "model call failed: %s; check the %s setting",
                classified.detail,
                classified.setting,
                extra=extra,
            )
        else:
            log.warning(
                "model call failed (%s): %s", classified.failure.value, _describe(exc), extra=extra
            )


class _FirstToken:
    """Wraps a Reply to time the first visible token."""

    def __init__(self, inner: Reply, on_first: Callable[[], None]) -> None:
        self._inner = inner
        self._on_first: Callable[[], None] | None = on_first

    @property
    def text_so_far(self) -> str:
        return self._inner.text_so_far

    async def begin(self) -> None:
        await self._inner.begin()

    async def finish(self, note: str | None = None) -> None:
        await self._inner.finish(note)

    async def text(self, delta: str) -> None:
        if self._on_first is not None:
            self._on_first()
            self._on_first = None
        await self._inner.text(delta)

    async def tool_started(self, call_id: str, name: str) -> None:
        await self._inner.tool_started(call_id, name)

    async def tool_finished(self, call_id: str, name: str, ok: bool) -> None:
        await self._inner.tool_finished(call_id, name, ok)


def _new(message: dict[str, Any], inbound: Inbound) -> NewMessage:
    is_person = message["role"] == "user" and any(
        b.get("type") == "text" for b in message["content"]
    )
    return NewMessage(
        role=message["role"],
        content=message["content"],
        author_id=inbound.author_id if is_person else None,
        author_name=inbound.author_name if is_person else None,
        source=inbound.source,
    )


def _ts_order(ts: str) -> tuple[int, int]:
    seconds, _, fraction = ts.partition(".")
    try:
        return int(seconds), int(fraction or 0)
    except ValueError:
        return 0, 0


def _slack_place(key: str) -> tuple[str, str]:
    """``agent:slack:C01::123.4`` -> (``C01``, ``123.4``)."""
    rest = key.split(":", 2)[2]
    channel, _, thread = rest.partition("::")
    return channel, thread


def _item_label(key: str) -> str:
    platform, _, ref = key.split(":", 1)[1].partition(":")
    return f"{'GitHub' if platform == 'github' else 'Jira'} {ref}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SLACK_FAILURES):
        return describe_slack(exc)
    if isinstance(exc, IntegrationError):
        return f"{exc.service} {exc.status or ''} {exc.message}".strip()
    return type(exc).__name__
