"""A committed turn's commit gives its session lease back: no second call to release it. A
turn that commits nothing releases it itself. Either way the next turn can take it at once."""

from __future__ import annotations

from collections import Counter

from app.agent.tools.base import ToolRegistry
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


async def run_turns(*steps: object) -> CountingStore:
    clock = Clock()
    store = CountingStore(clock)
    pipeline = TurnPipeline(
        config=PipelineConfig(agent="tl", holder=HOLDER, lease_seconds=30, turn_timeout=10),
        store=store,
        model=ScriptedModel(list(steps)),
        tools=ToolRegistry([]),
        surfaces=SurfaceRegistry(home=ChatSurface()),
        clock=clock.now,
    )
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
    pipeline = TurnPipeline(
        config=PipelineConfig(agent="tl", holder=HOLDER, lease_seconds=30, turn_timeout=10),
        store=store,
        model=ScriptedModel(steps),
        tools=ToolRegistry([]),
        surfaces=SurfaceRegistry(home=ChatSurface()),
        clock=clock.now,
    )
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
