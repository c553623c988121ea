"""A committed turn's commit gives its session lease back: no second call to release it. A
turn that commits nothing releases it itself. Either way the next turn can take it at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

from app.agent.tools.base import ToolRegistry
from app.core import Inbound
from app.store.memory import MemoryStore
from app.surfaces.base import SurfaceRegistry
from app.turns.pipeline import PipelineConfig, TurnPipeline
from tests.agent.scripted import ScriptedModel, say
from tests.conftest import Clock
from tests.turns.doubles import ChatSurface, chat_message

HOLDER = "replica-1"


class CountingStore(MemoryStore):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock.now)
        self.released: Counter[str] = Counter()

    async def release_lease(self, session_id: str, holder: str, fence: int) -> None:
        self.released[session_id] += 1
        await super().release_lease(session_id, holder, fence)


def pipeline_on(
    store: CountingStore,
    clock: Clock,
    model: ScriptedModel,
    *,
    surface: ChatSurface | None = None,
    lease_seconds: float = 30,
) -> TurnPipeline:
    return TurnPipeline(
        config=PipelineConfig(
            agent="tl", holder=HOLDER, lease_seconds=lease_seconds, turn_timeout=10
        ),
        store=store,
        model=model,
        tools=ToolRegistry([]),
        surfaces=SurfaceRegistry(home=surface or ChatSurface()),
        clock=clock.now,
    )


async def run_turns(*steps: object) -> CountingStore:
    clock = Clock()
    store = CountingStore(clock)
    pipeline = pipeline_on(store, clock, ScriptedModel(list(steps)))
    for n in range(len(steps)):
        message = chat_message(f"message {n}")
        assert await store.record_delivery(
            f"d-{n}", message.source, message.key, message.to_payload()
        )
        delivery = await store.claim_delivery(HOLDER, 30)
        assert delivery is not None
        await pipeline.handle(delivery)
    return store


async def test_a_committed_turn_does_not_release_its_lease_again() -> None:
    store = await run_turns(say("One."), say("Two."))
    session = await store.resolve(chat_message("x").key)
    assert session is not None
    assert store.released[session.id] == 0
    assert [t.outcome for t in await store.turns_for(session.id)] == ["ok", "ok"]
    # Free for whoever comes next.
    assert await store.acquire_lease(session.id, "replica-2", 30) is not None


async def test_a_turn_that_commits_nothing_releases_its_lease() -> None:
    store = await run_turns(say("One."), TimeoutError())
    session = await store.resolve(chat_message("x").key)
    assert session is not None
    assert store.released[session.id] == 1
    assert await store.acquire_lease(session.id, "replica-2", 30) is not None


# What the claim opened (Store.claim_turn): taken over by the turn, or given back --------------


async def claimed_turns(*texts: str, steps: list[object]) -> tuple[CountingStore, TurnPipeline]:
    clock = Clock()
    store = CountingStore(clock)
    pipeline = pipeline_on(store, clock, ScriptedModel(steps))
    for n, text in enumerate(texts):
        message = chat_message(text)
        await store.record_delivery(f"d-{n}", message.source, message.key, message.to_payload())
        delivery = await store.claim_turn(HOLDER, 30)
        assert delivery is not None and delivery.opening is not None
        await pipeline.handle(delivery)
    return store, pipeline


async def test_a_turn_takes_over_the_lease_its_claim_took_and_its_commit_gives_it_back() -> None:
    store, _ = await claimed_turns("hello", "again", steps=[say("One."), say("Two.")])
    session = await store.resolve(chat_message("x").key)
    assert session is not None
    # Only the commits gave the lease back (the claim's was the turn's, not a second one).
    assert store.released[session.id] == 0
    assert [t.outcome for t in await store.turns_for(session.id)] == ["ok", "ok"]
    texts = [m["content"][0]["text"] for m in await store.load_messages(session.id)]
    assert texts[-1] == "Two." and len(texts) == 4
    assert await store.acquire_lease(session.id, "replica-2", 30) is not None


async def test_a_command_gives_back_the_lease_its_claim_took() -> None:
    store, _ = await claimed_turns("hello", "links", steps=[say("One.")])
    session = await store.resolve(chat_message("x").key)
    assert session is not None and session.status == "active"
    assert store.released[session.id] == 1
    assert await store.acquire_lease(session.id, "replica-2", 30) is not None


class SlowToPrepare(ChatSurface):
    """Prepares a message slowly (as a Slack name lookup waiting out a 429 would); ``meanwhile``
    runs during that wait."""

    def __init__(self, meanwhile: Callable[[], Awaitable[None]]) -> None:
        super().__init__()
        self._meanwhile = meanwhile

    async def prepare(self, inbound: Inbound) -> Inbound:
        await asyncio.sleep(0.3)  # longer than the lease's heartbeat interval below (0.2 s)
        await self._meanwhile()
        return await super().prepare(inbound)


async def slow_turn(
    meanwhile: Callable[[CountingStore, Clock], Awaitable[None]],
) -> tuple[CountingStore, ScriptedModel]:
    clock = Clock()
    store = CountingStore(clock)
    first = await store.start_session("tl", chat_message("x").key, "setup", 30, turn_id=None)
    assert first.session is not None and first.fence is not None
    await store.release_lease(first.session.id, "setup", first.fence)
    model = ScriptedModel([say("Done.")])
    slow = SlowToPrepare(lambda: meanwhile(store, clock))
    pipeline = pipeline_on(store, clock, model, surface=slow, lease_seconds=0.6)
    message = chat_message("hello")
    await store.record_delivery("d-0", message.source, message.key, message.to_payload())
    delivery = await store.claim_turn(HOLDER, 0.6)
    assert delivery is not None and delivery.opening is not None
    assert delivery.opening.fence is not None
    await pipeline.handle(delivery)
    return store, model


async def test_a_lease_taken_over_late_is_renewed_first() -> None:
    async def nothing(store: CountingStore, clock: Clock) -> None:
        return None

    store, model = await slow_turn(nothing)
    session = await store.resolve(chat_message("x").key)
    assert session is not None
    assert [t.outcome for t in await store.turns_for(session.id)] == ["ok"]
    assert len(model.requests) == 1


async def test_a_lease_lost_before_it_was_taken_over_is_not_used() -> None:
    async def stolen(store: CountingStore, clock: Clock) -> None:
        # The claim's lease lapses and another replica's turn takes the conversation.
        clock.advance(seconds=1)
        session = await store.resolve(chat_message("x").key)
        assert session is not None
        assert await store.acquire_lease(session.id, "replica-2", 30) is not None

    store, model = await slow_turn(stolen)
    session = await store.resolve(chat_message("x").key)
    assert session is not None
    # Not answered on a lease it no longer held: handed back, to run once replica-2 is done.
    assert await store.turns_for(session.id) == []
    assert model.requests == []
    assert (await store.stats()).pending_deliveries == 1
