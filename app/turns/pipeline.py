"""One delivery becomes one turn: resolve the session, hold its lease, run the agent, commit.

The pipeline is the spine; each job around it lives in a module named for it: ``lease``
(heartbeats), ``attempts`` (running the agent and retrying after a failure), ``replay_window``
(what a turn replays of its transcript), ``compaction`` (summarising older turns),
``recovery`` (starting a conversation over), ``commands`` (reset, links), ``routing`` (where
answers and notices go), ``replay`` (what a retried delivery already did), ``outcome`` (what
follows a failure, and what the user is told). Surfaces (``app.surfaces``) know everything
platform-specific. Nothing of a turn is stored until it is complete: the new messages are
committed in one transaction, under the session lease's fence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app import logs
from app.agent.loop import AgentResult, run_agent
from app.agent.model import Model
from app.agent.prompt import system_prompt
from app.agent.tools.base import Toolbox, ToolContext
from app.config import ActionSettings
from app.core import Audience, Inbound, KeyClaim, Usage
from app.errors import IntegrationError, StoreError
from app.slack.cards import CLICK_KIND
from app.slack.feedback import KINDS as FEEDBACK_KINDS
from app.slack.feedback import store_feedback
from app.store.base import Delivery, Store, TurnRecord
from app.surfaces.base import SurfaceRegistry
from app.turns import outcome as notes
from app.turns.actions import TurnActions
from app.turns.attempts import Attempts, Failed, Ran, RunAgent
from app.turns.commands import Commands
from app.turns.endings import Endings
from app.turns.job_results import JOB_KINDS, JobTurns, opening_step
from app.turns.lease import Leases
from app.turns.message import compose, place_name, with_cut_notice
from app.turns.recovery import Recovery
from app.turns.replay import DeliveryRecord, ReplayingTools
from app.turns.routing import AudiencePolicy, ReplyRouter
from app.turns.stopping import STOPPED_NOTE, stopped_messages, watch_for_stop
from app.turns.turn import NoObserver, Observer, Turn, TurnReply

log = logging.getLogger("app.turn")

MAX_ATTEMPTS = 3
# How many clicks and votes a turn passes over to find the message handled before it.
MAX_LOOKBACK = 50


@dataclass(frozen=True)
class PipelineConfig:
    agent: str
    holder: str
    lease_seconds: float
    turn_timeout: float
    external_users: str = "chat"  # ignore | chat | full: what people of another org may do
    compact_at_tokens: int = 150_000  # COMPACT_AT_TOKENS: when client compaction summarises
    audience: AudiencePolicy = field(default_factory=AudiencePolicy)
    follow_threads: bool = False  # FOLLOW_THREADS: answer followed Slack threads unmentioned


class TurnPipeline:
    def __init__(
        self,
        *,
        config: PipelineConfig,
        store: Store,
        model: Model,
        tools: Toolbox,
        surfaces: SurfaceRegistry,
        actions: TurnActions | None = None,
        observer: Observer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        jobs: JobTurns | None = None,
    ) -> None:
        self._cfg = config
        self._jobs = jobs
        self._store = store
        self._model = model
        self._tools = tools
        self._surfaces = surfaces
        self._router = ReplyRouter(surfaces, store, policy=config.audience)
        self._leases = Leases(store, holder=config.holder, lease_seconds=config.lease_seconds)
        self._attempts = Attempts(
            model,
            Recovery(store, self._leases, surfaces, agent=config.agent),
            compact_at_tokens=config.compact_at_tokens,
            timeout=config.turn_timeout,
        )
        self._observer = observer or NoObserver()
        self._actions = actions or TurnActions(ActionSettings())
        self._clock = clock
        self._endings = Endings(
            store,
            holder=config.holder,
            model_name=model.name,
            observer=self._observer,
            actions=self._actions,
            clock=clock,
        )
        self._commands = Commands(
            store,
            surfaces,
            self._router,
            self._observer,
            holder=config.holder,
            clock=clock,
            follow_threads=config.follow_threads,
        )

    async def handle(self, delivery: Delivery) -> None:
        """Handle one claimed delivery. Raises only ``StoreError`` (the worker backs off);
        anything else is logged, and the user gets a short note.

        A session lease its claim took (``Store.claim_turn``) and no turn took over is
        given back at the end, whatever happened.
        """
        self._leases.claimed(delivery)
        try:
            await self._dispatch(delivery)
        finally:
            await self._leases.release_unadopted(delivery)

    async def _dispatch(self, delivery: Delivery) -> None:
        turn_id = notes.new_turn_id()
        if delivery.payload.get("kind") in FEEDBACK_KINDS:
            await self._feedback(delivery)
            return
        if delivery.payload.get("kind") == CLICK_KIND:
            with logs.bind(turn_id=turn_id, key=delivery.lane, delivery=delivery.delivery_id):
                await self._click(delivery, turn_id)
            return
        if delivery.payload.get("kind") in JOB_KINDS and self._jobs is not None:
            with logs.bind(turn_id=turn_id, key=delivery.lane, delivery=delivery.delivery_id):
                # A job's result is told like an approval's outcome: no limits, no tools.
                result = await self._jobs.take(delivery)
                if result is not None:
                    await self._handle(delivery, result, turn_id, followup=True)
            return
        inbound = Inbound.from_payload(delivery.payload)
        # Every record logged inside the turn (tasks, tools, Slack calls) carries its ids.
        with logs.bind(turn_id=turn_id, key=inbound.key, delivery=delivery.delivery_id):
            await self._handle(delivery, inbound, turn_id)

    async def _feedback(self, delivery: Delivery) -> None:
        """A vote on an answer, or its reason: stored, nothing to answer."""
        holder = self._cfg.holder
        try:
            status = await store_feedback(self._store, delivery.payload)
        except ValueError as exc:
            log.warning("feedback delivery %s not stored: %s", delivery.delivery_id, exc)
            await self._store.finish_delivery(delivery.id, holder, "failed", str(exc))
            return
        await self._store.finish_delivery(delivery.id, holder, "done", status)

    async def _click(self, delivery: Delivery, turn_id: str) -> None:
        """An approval click: decide it once; its outcome is told in a turn of its own."""
        decider = self._actions.decider
        holder = self._cfg.holder
        if decider is None:
            log.info("approval click ignored: approvals are not set up")
            await self._store.finish_delivery(delivery.id, holder, "done", "no approvals")
            return
        record = DeliveryRecord(
            self._store, delivery.id, delivery.reply_ref, holder, turn_id=turn_id
        )
        # The decided tool may take a while: the conversation's other doors must not find
        # it busy meanwhile. Its outcome's turn takes the lease afresh.
        await self._leases.release_unadopted(delivery)
        async with self._leases.keep_claimed(delivery):
            outcome = await decider.handle_click(
                delivery.payload,
                # A retry, or a click whose report waited for a busy conversation: its
                # decision holds already and only its outcome is still to be told.
                resume=delivery.attempts > 1 or record.marked("decided"),
                tools=ReplayingTools(self._tools, record),
            )
            if outcome.followup is not None:
                await record.mark("decided")
        if outcome.followup is None:
            await self._store.finish_delivery(delivery.id, holder, "done", outcome.status)
            return
        # The outcome of an action a person decided on: it is told whatever the limits say,
        # or Claude would never learn that the item now exists. The same record goes on, so
        # the turn's own saves keep what the click recorded.
        await self._handle(delivery, outcome.followup, turn_id, followup=True, record=record)

    async def _handle(
        self,
        delivery: Delivery,
        inbound: Inbound,
        turn_id: str,
        *,
        followup: bool = False,
        record: DeliveryRecord | None = None,
    ) -> None:
        """``followup``: the turn that reports a decided approval. It passes no limits (the
        outcome must be told) and offers no tools (it only reports what was done).
        ``record``: what this delivery already did (kept with its inbox row)."""
        limited = not followup
        extra = {"turn_id": turn_id, "key": inbound.key, "delivery": delivery.delivery_id}
        log.info("turn start attempt=%d", delivery.attempts, extra=extra)
        holder = self._cfg.holder
        if delivery.attempts > MAX_ATTEMPTS:
            log.error("giving up after %d attempts", delivery.attempts - 1, extra=extra)
            with contextlib.suppress(Exception):
                await self._router.notify(inbound, notes.gave_up_note(turn_id))
            await self._store.finish_delivery(delivery.id, holder, "failed", "too many attempts")
            return
        if inbound.followed and await self._store.is_muted(inbound.key):
            # Someone muted the thread after this message came: it is not answered.
            log.info("followed thread muted; message not answered", extra=extra)
            await self._store.finish_delivery(delivery.id, holder, "done", "muted")
            return
        record = record or DeliveryRecord(
            self._store, delivery.id, delivery.reply_ref, holder, turn_id=turn_id
        )
        surface = self._router.surface_of(inbound)
        if not followup:  # a follow-up's author is named already (a decider, a job)
            inbound = await surface.prepare(inbound)
        command = surface.command_of(inbound)
        if command is not None:
            async with self._leases.keep_claimed(delivery):
                if self._may_use_tools(inbound):
                    await self._commands.handle(command, inbound, delivery, turn_id)
                else:
                    await self._commands.refuse(command, inbound, delivery, turn_id)
            return
        # Counted once per message: not again when it waits for a busy conversation or is
        # retried after a crash.
        refusal = None
        limits = self._actions.limits
        if limited and limits is not None and limits.active and not record.marked("admitted"):
            await record.mark("admitted")
            refusal = await self._actions.admit(inbound)
        if refusal is not None:
            await self._refuse(refusal.reason, refusal.note, inbound, delivery, turn_id)
            return
        # The session as it stands under its lease: a turn that finished meanwhile (another
        # door of the conversation) may have made it internal, and the audience rule must
        # see that.
        session, lease = await self._leases.acquire_for_key(inbound.key, delivery)
        if session is None:
            if not surface.starts_conversations:
                # A comment on an item that no live conversation owns (any more).
                log.info("no live session for item; ignored", extra=extra)
                await self._store.finish_delivery(delivery.id, holder, "done")
                return
            # A new session with its lease, in one store call; or, when another replica gave
            # the key one first, that session as it stands under its lease (it may have run a
            # turn already; none: it ended meanwhile, and the delivery is retried shortly,
            # like one for a busy conversation).
            session, lease = await self._leases.start(self._cfg.agent, inbound.key, turn_id)
        if session is None or lease is None:
            # Another turn of this conversation is running (another door, another replica).
            await self._store.release_delivery(delivery.id, holder, 0.5)
            return
        t0 = asyncio.get_running_loop().time()
        turn = Turn(turn_id, inbound, delivery, lease, record, session, self._clock(), t0)
        turn.followup = followup
        with logs.bind(session_id=session.id):
            task = asyncio.create_task(self._turn(turn))

        def stop() -> None:
            if lease.committing or task.done():
                return  # the answer is complete: nothing left to stop
            turn.stopped = True
            task.cancel()

        try:
            async with (
                self._leases.heartbeat(delivery, lease, task),
                watch_for_stop(self._store, delivery, stop),
            ):
                await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if turn.stopped and not lease.lost and not (current and current.cancelling()):
                await self._finish_stopped(turn)
                return
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
                await self._router.notify(inbound, notes.internal_error_note(turn_id))
            await self._store.finish_delivery(delivery.id, holder, "failed", "crashed")
        finally:
            await self._leases.release(lease)

    async def _turn(self, turn: Turn) -> None:
        plan = await self._router.plan(turn.inbound, turn.session, turn.record)
        turn.reply = TurnReply(
            plan.reply,
            lambda: self._observer.first_token(asyncio.get_running_loop().time() - turn.t0),
        )
        turn.audience, turn.place = plan.audience, plan.place
        surface = self._router.surface_of(turn.inbound)
        gate = self._actions.toolbox(
            self._tools,
            store=self._store,
            inbound=turn.inbound,
            from_comment=surface.is_item,
            may_use_tools=self._may_use_tools(turn.inbound) and not turn.followup,
            home=self._router.card_home,
        )
        tools = ReplayingTools(gate, turn.record)
        transcript = turn.lease.take_preloaded()
        if transcript is None:
            transcript = await self._store.load_messages(turn.session_id)
        found = turn.delivery.opening
        claimed_previous = found is not None and turn.delivery.lane == turn.inbound.key

        async def previous() -> Inbound | None:
            # The last message handled here; clicks and votes in between are passed over.
            # The first look back was made by the claim, when it opened this conversation.
            before_pk = turn.delivery.id
            for n in range(MAX_LOOKBACK):
                if n == 0 and claimed_previous and found is not None:
                    before = found.previous
                else:
                    before = await self._store.previous_delivery(turn.inbound.key, before_pk)
                if before is None:
                    return None
                message = Inbound.maybe_from_payload(before.payload)
                if message is not None:
                    return message
                before_pk = before.id
            return None

        max_chars = self._actions.settings.max_message_chars
        turn.user = compose(
            surface,
            turn.inbound,
            context=await surface.context(turn.inbound, previous),
            audience=plan.audience.value,
            where="Slack" if plan.redirected else place_name(surface, turn.inbound),
            max_chars=max_chars,
            ours=turn.followup,
        )
        try:
            await turn.reply.begin()
            if (opening := opening_step(turn.delivery)) is not None:
                await turn.reply.show_step(*opening)  # a job's end: its step, finished
            ran = await self._attempts.run(turn, transcript, tools, self._runner(turn, tools))
            await turn.reply.finish(with_cut_notice(ran.note, turn.inbound, max_chars))
        except IntegrationError as exc:
            # The answer could not be shown. Leave the delivery claimed: its lease runs out
            # and it is retried (counted), editing what was already posted.
            log.error("could not deliver the reply: %s", exc, extra=turn.log_extra)
            await self._endings.record(turn, "reply_failed")
            return
        if isinstance(ran, Failed):
            if any(m["role"] == "user" for m in turn.said):
                # Tools ran before it failed: what they did is kept, or a retry by the
                # person would file the same item again.
                kept = stopped_messages(turn.said, "", note="(This turn failed before finishing.)")
                await self._endings.commit(
                    turn, Ran(AgentResult(kept, "", Usage(), 0), ran.outcome)
                )
                return
            await self._endings.fail(turn, ran.outcome)
            return
        await self._endings.commit(turn, ran)

    def _runner(self, turn: Turn, tools: Toolbox) -> RunAgent:
        """Runs the agent once for ``turn`` over a history and its user message, as sent."""

        async def run(history: list[dict[str, Any]], user: dict[str, Any]) -> AgentResult:
            turn.said.clear()  # a retry starts its record over
            async with asyncio.timeout(self._cfg.turn_timeout):
                return await run_agent(
                    self._model,
                    system=system_prompt(
                        agent=self._cfg.agent, tool_names=tools.names, today=self._clock()
                    ),
                    history=history,
                    user_message=user,
                    tools=tools,
                    tool_context=self._tool_context(turn),
                    progress=turn.reply,
                    record=turn.said,
                    on_usage=lambda used: setattr(turn, "spent", turn.spent + used),
                )

        return run

    def _may_use_tools(self, inbound: Inbound) -> bool:
        """Tools and commands are for the organisation's people (and outsiders only when
        ``EXTERNAL_USERS=full``)."""
        return not inbound.external or self._cfg.external_users == "full"

    def _tool_context(self, turn: Turn) -> ToolContext:
        lease = turn.lease  # read at call time: a fresh retry swaps the session

        async def link_key(key: str, url: str | None) -> KeyClaim:
            return await self._store.register_key(
                key, lease.session.id, url=url, turn_id=turn.turn_id
            )

        async def thread_link() -> str | None:
            return await self._router.home_link(turn.inbound, lease.session.id)

        def read_from(audience: Audience) -> None:
            if audience is Audience.INTERNAL:
                turn.read_internal = True

        return ToolContext(
            session_id=lease.session.id,
            turn_id=turn.turn_id,
            agent=self._cfg.agent,
            source_key=turn.inbound.key,
            link_key=link_key,
            thread_link=thread_link,
            read_from=read_from,
            author_id=turn.inbound.author_id,
        )

    async def _finish_stopped(self, turn: Turn) -> None:
        """Someone stopped the turn: show it, and commit the conversation as it stands."""
        log.info("turn stopped on request", extra=turn.log_extra)
        if not turn.user:  # stopped before the message was even read: nothing to keep
            await self._store.finish_delivery(turn.delivery.id, self._cfg.holder, "done", "stop")
            return
        partial = turn.reply.current
        with contextlib.suppress(IntegrationError):
            await turn.reply.finish(STOPPED_NOTE)
        messages = stopped_messages(turn.said, partial)
        # What it spent before the stop counts against the budgets like any turn.
        result = AgentResult(messages, partial, turn.spent, 0)
        await self._endings.commit(turn, Ran(result, "stopped"))

    async def _refuse(
        self, reason: str, note: str, inbound: Inbound, delivery: Delivery, turn_id: str
    ) -> None:
        """A message over a limit: a short note where it was written, no model call."""
        self._observer.turn_refused(inbound.source, reason)
        try:
            await self._router.notify(inbound, f"_{note}_")
        except IntegrationError as exc:
            log.warning("limit note not posted: %s", exc, extra={"turn_id": turn_id})
        now = self._clock()
        await self._store.record_turn(
            TurnRecord(turn_id, None, f"limited_{reason}", None, Usage(), now, now)
        )
        await self._store.finish_delivery(delivery.id, self._cfg.holder, "done", reason)
