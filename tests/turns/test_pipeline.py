"""The turn pipeline driven directly: in-memory store, scripted model, recording surfaces.

These cover what a turn does to the store and what people see, without HTTP or a database;
the same behaviour through Slack's HTTP API and real databases is covered in ``tests/slack``.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from app.agent.tools.base import ToolContext, ToolRegistry, ToolResult
from app.config import ActionSettings
from app.core import Audience
from app.errors import IntegrationError
from app.store.base import Delivery
from app.store.memory import MemoryStore
from app.surfaces.base import SurfaceRegistry
from app.turns.actions import TurnActions
from app.turns.limits import Limits
from app.turns.pipeline import PipelineConfig, TurnPipeline
from app.turns.routing import AudiencePolicy
from tests.agent.scripted import ScriptedModel, say, use_tool
from tests.conftest import Clock
from tests.turns.doubles import ChatSurface, TrackerSurface, chat_message, tracker_comment

HOLDER = "replica-1"
NOTE = "Thanks, the team has been notified."
_ids = itertools.count(1)


class World:
    """One pipeline with its store, model and surfaces."""

    def __init__(
        self,
        *steps: Any,
        tools: list[Any] | None = None,
        config: dict[str, Any] | None = None,
        model: ScriptedModel | None = None,
        limits: ActionSettings | None = None,
    ) -> None:
        self.clock = Clock()
        self.store = MemoryStore(clock=self.clock.now)
        self.model = model or ScriptedModel(list(steps))
        self.chat, self.tracker = ChatSurface(), TrackerSurface()
        surfaces = SurfaceRegistry(home=self.chat)
        surfaces.register(self.tracker)
        self.pipeline = TurnPipeline(
            config=PipelineConfig(
                agent="tl",
                holder=HOLDER,
                lease_seconds=30,
                turn_timeout=10,
                **{"audience": AudiencePolicy("redirect", NOTE), **(config or {})},
            ),
            store=self.store,
            model=self.model,
            tools=ToolRegistry(tools or []),
            surfaces=surfaces,
            actions=(
                TurnActions(limits, limits=Limits(self.store, limits, self.clock.now))
                if limits is not None
                else None
            ),
            clock=self.clock.now,
        )

    async def record(self, inbound: Any) -> None:
        fresh = await self.store.record_delivery(
            f"d-{next(_ids)}", inbound.source, inbound.key, inbound.to_payload()
        )
        assert fresh

    async def claim(self) -> Delivery:
        delivery = await self.store.claim_delivery(HOLDER, 30)
        assert delivery is not None
        return delivery

    async def deliver(self, inbound: Any) -> Delivery:
        """Record, claim and handle one message; the delivery as it is afterwards."""
        self.clock.advance(seconds=1)  # turns are listed by when they started
        await self.record(inbound)
        delivery = await self.claim()
        await self.pipeline.handle(delivery)
        after = await self.store.get_delivery(delivery.id)
        assert after is not None
        return after

    async def transcript_texts(self, key: str) -> list[str]:
        session = await self.store.resolve(key)
        assert session is not None
        entries = await self.store.load_transcript(session.id)
        return [b.get("text", b["type"]) for e in entries for b in e.content]


async def test_a_first_message_starts_a_conversation_and_commits_the_turn_whole() -> None:
    world = World(say("Hello, Ada."))
    message = chat_message("hi there")
    delivery = await world.deliver(message)

    assert delivery.status == "done"
    shown = world.chat.replies[0]
    assert shown.began and shown.finished and shown.shown == "Hello, Ada." and shown.note is None
    session = await world.store.resolve(message.key)
    assert session is not None
    entries = await world.store.load_transcript(session.id)
    assert [e.role for e in entries] == ["user", "assistant"]
    assert entries[0].author_id == "U1" and entries[0].author_name == "Person U1"
    assert entries[0].content[0]["text"] == "[Person U1 (U1) in Chat]\nhi there"
    assert entries[1].author_id is None
    (turn,) = await world.store.turns_for(session.id)
    assert turn.outcome == "ok" and turn.usage.input_tokens == 100


async def test_the_next_message_replays_the_conversation_with_context_quoted() -> None:
    world = World(say("One."), say("Two."))
    await world.deliver(chat_message("first"))
    world.chat.context_text = "[Said in this thread since you last looked]\n- Bea: hello"
    await world.deliver(chat_message("second"))

    sent = world.model.requests[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    newest = [b["text"] for b in sent[-1]["content"]]
    assert newest[0].endswith("second") and newest[1].endswith("- Bea: hello")
    # The cache breakpoint is added per request, never stored.
    assert "cache_control" in sent[-1]["content"][-1]
    texts = await world.transcript_texts(chat_message("x").key)
    # Each user message ends with who reads the answer, kept so replays stay cacheable.
    assert texts.count("[Your answer will be read inside the organisation, on Chat.]") == 2
    assert len(texts) == 7 and not any("cache_control" in t for t in texts)


async def test_a_comment_on_an_item_nobody_links_is_ignored_without_a_model_call() -> None:
    world = World()
    delivery = await world.deliver(tracker_comment("anyone there?"))
    assert delivery.status == "done"
    assert world.model.requests == [] and world.tracker.replies == []
    assert await world.store.resolve(tracker_comment("x").key) is None


async def test_a_comment_on_a_linked_item_is_answered_there_and_the_home_thread_told() -> None:
    world = World(say("Filed."), say("It is in progress."))
    home = chat_message("file it")
    await world.deliver(home)
    session = await world.store.resolve(home.key)
    assert session is not None
    await world.store.register_key(tracker_comment("x").key, session.id)

    delivery = await world.deliver(tracker_comment("status?"))

    assert delivery.status == "done"
    assert world.tracker.replies[0].shown == "It is in progress."
    assert world.chat.notes == [
        (home.key, "bea commented on <https://tracker.example/ITEM-1|ITEM-1>; I answered there.")
    ]
    texts = await world.transcript_texts(home.key)
    assert "[bea (bea) in Tracker]\n> status?" in texts  # a comment is quoted material


async def test_a_transient_failure_keeps_the_conversation_as_it_was() -> None:
    world = World(say("One."), TimeoutError())
    message = chat_message("first")
    await world.deliver(message)
    before = await world.store.resolve(message.key)

    delivery = await world.deliver(chat_message("second"))

    assert delivery.status == "failed"
    note = world.chat.replies[1].note or ""
    assert "try again" in note and "turn `t-" in note
    after = await world.store.resolve(message.key)
    assert after == before
    assert after is not None
    assert [t.outcome for t in await world.store.turns_for(after.id)] == ["ok", "transient_error"]
    assert len(await world.transcript_texts(message.key)) == 3  # the first turn only


async def test_an_unexpected_error_is_logged_not_shown_and_nothing_is_committed() -> None:
    world = World(say("never"))
    world.chat.context_error = RuntimeError("secret internals")
    message = chat_message("hi")
    delivery = await world.deliver(message)

    assert delivery.status == "failed"
    ((where, note),) = world.chat.notes
    assert where == message.key and "went wrong on my side" in note
    assert "secret internals" not in note
    session = await world.store.resolve(message.key)
    assert session is not None and await world.store.load_transcript(session.id) == []


async def test_a_message_for_a_busy_conversation_waits_its_turn() -> None:
    world = World(say("later"))
    message = chat_message("hi")
    await world.deliver(message)
    session = await world.store.resolve(message.key)
    assert session is not None
    assert await world.store.acquire_lease(session.id, "replica-2", 30) is not None

    delivery = await world.deliver(chat_message("again"))

    assert delivery.status == "pending" and delivery.attempts == 0  # handing back is free
    assert len(world.model.requests) == 1


async def test_an_answer_that_cannot_be_shown_is_retried_without_repeating_its_tools() -> None:
    created: list[dict[str, Any]] = []

    class CreateThing:
        name = "create_thing"

        def definition(self) -> dict[str, Any]:
            return {"name": self.name, "description": "d", "input_schema": {"type": "object"}}

        async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
            created.append(args)
            await ctx.link_key("tl:tracker:ITEM-9", "https://tracker.example/ITEM-9")
            return ToolResult("Created ITEM-9.")

    world = World(
        use_tool("create_thing", {"title": "a"}),
        say("Done."),
        use_tool("create_thing", {"title": "a, worded differently"}),
        say("Done."),
        tools=[CreateThing()],
    )
    world.chat.fail_replies_with = IntegrationError("chat", "unreachable")
    message = chat_message("file it")
    await world.record(message)
    first = await world.claim()
    await world.pipeline.handle(first)
    assert (await world.store.get_delivery(first.id)).status == "processing"  # type: ignore[union-attr]

    world.chat.fail_replies_with = None
    world.clock.advance(seconds=31)  # the first attempt's delivery lease runs out
    second = await world.claim()
    assert second.id == first.id and second.attempts == 2
    await world.pipeline.handle(second)

    assert created == [{"title": "a"}]  # the retry got the first result back
    assert world.chat.replies[-1].shown == "Done."
    session = await world.store.resolve(message.key)
    assert session is not None
    assert await world.store.resolve("tl:tracker:ITEM-9") == session
    tool_results = [
        b
        for e in await world.store.load_transcript(session.id)
        for b in e.content
        if b["type"] == "tool_result"
    ]
    assert [r["content"] for r in tool_results] == ["[create_thing result]\n> Created ITEM-9."]


async def test_reset_and_links_are_answered_where_they_were_typed() -> None:
    world = World(say("Filed."))
    message = chat_message("file it")
    await world.deliver(message)
    session = await world.store.resolve(message.key)
    assert session is not None
    await world.store.register_key("tl:tracker:ITEM-1", session.id, url="https://t/ITEM-1")

    await world.deliver(replace(message, text="links"))
    await world.deliver(replace(message, text="reset"))
    await world.deliver(replace(message, text="reset"))

    notes = [text for _, text in world.chat.notes]
    assert notes[0] == "Linked to this conversation:\n• Tracker ITEM-1: https://t/ITEM-1"
    assert notes[1].startswith("Done: I've forgotten this thread.")
    assert notes[2].startswith("There was no conversation to reset in this thread")
    assert await world.store.resolve(message.key) is None
    assert await world.store.resolve("tl:tracker:ITEM-1") is None
    outcomes = [t.outcome for t in await world.store.turns_for(session.id)]
    assert outcomes == ["ok", "command_links", "command_reset"]
    assert len(world.model.requests) == 1


@pytest.mark.parametrize("attempts", [4, 7])
async def test_a_delivery_that_keeps_failing_is_given_up_with_a_note(attempts: int) -> None:
    world = World(say("never"))
    await world.record(chat_message("hi"))
    delivery = replace(await world.claim(), attempts=attempts)
    await world.pipeline.handle(delivery)

    after = await world.store.get_delivery(delivery.id)
    assert after is not None and after.status == "failed"
    assert "after several attempts" in world.chat.notes[0][1]
    assert world.model.requests == []


async def _linked(world: World, home: Any) -> str:
    await world.deliver(home)
    session = await world.store.resolve(home.key)
    assert session is not None
    await world.store.register_key(tracker_comment("x").key, session.id)
    return session.id


async def test_an_internal_conversation_answers_a_public_comment_in_its_home_thread() -> None:
    world = World(say("Filed."), say("The secret plan is X."))
    home = chat_message("file it")
    session_id = await _linked(world, home)
    assert (await world.store.get_session(session_id)).audience == "internal"  # type: ignore[union-attr]

    public = replace(tracker_comment("paste the discussion"), audience="public")
    public = replace(public, comment_url="https://tracker.example/ITEM-1#c1")
    delivery = await world.deliver(public)

    assert delivery.status == "done"
    # The public item got the fixed note, nothing the model wrote.
    assert world.tracker.notes == [(public.key, NOTE)]
    assert world.tracker.replies == []
    ((where, text),) = world.chat.notes
    assert where == home.key
    assert "<https://tracker.example/ITEM-1#c1|Tracker ITEM-1>" in text
    assert text.endswith("The secret plan is X.")
    # Claude was told its answer stays inside.
    told = world.model.requests[-1]["messages"][-1]["content"][-1]["text"]
    assert told == "[Your answer will be read inside the organisation, on Slack.]"


async def test_public_replies_allowed_answer_where_asked_and_say_so() -> None:
    world = World(
        say("Filed."),
        say("Public answer."),
        config={"audience": AudiencePolicy("allow", NOTE)},
    )
    await _linked(world, chat_message("file it"))
    public = replace(tracker_comment("status?"), audience="public")
    await world.deliver(public)

    assert world.tracker.replies[0].shown == "Public answer."
    assert world.tracker.notes == []
    told = world.model.requests[-1]["messages"][-1]["content"][-1]["text"]
    assert told.startswith("[Your answer will be posted publicly on Tracker ITEM-1")


async def test_a_public_conversation_answers_in_public() -> None:
    world = World(say("Hello."), say("Answer."))
    home = replace(chat_message("hi"), audience="public")  # a channel shared with outsiders
    await world.deliver(home)
    session = await world.store.resolve(home.key)
    assert session is not None and session.audience == "public"
    await world.store.register_key(tracker_comment("x").key, session.id)

    await world.deliver(replace(tracker_comment("status?"), audience="public"))
    assert world.tracker.replies[0].shown == "Answer." and world.tracker.notes == []


async def test_people_of_another_organisation_chat_without_tools_or_commands() -> None:
    ran: list[str] = []

    class Tool:
        name = "create_thing"

        def definition(self) -> dict[str, Any]:
            return {"name": self.name, "description": "d", "input_schema": {"type": "object"}}

        async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
            ran.append(self.name)
            return ToolResult("ran")

    world = World(say("Hi, guest."), tools=[Tool()])
    guest = replace(chat_message("hello"), external=True)
    await world.deliver(guest)
    assert world.model.requests[0]["tools"] == []
    await world.deliver(replace(guest, text="reset"))
    assert world.chat.notes[-1][1] == "Only people of this workspace can use `reset` here."
    assert await world.store.resolve(guest.key) is not None  # not reset

    full = World(say("Hi."), tools=[Tool()], config={"external_users": "full"})
    await full.deliver(guest)
    assert full.model.requests[0]["tools"] == ["create_thing"]


async def test_an_internal_answer_never_goes_to_a_home_thread_outsiders_can_read() -> None:
    world = World(say("Filed."), say("The secret plan is X."))
    home = chat_message("file it")
    await _linked(world, home)  # internal: the first message came from a workspace place
    world.chat.shared_place = Audience.PUBLIC  # ...but the thread is shared with another org

    await world.deliver(replace(tracker_comment("paste the discussion"), audience="public"))

    assert world.tracker.notes == [(tracker_comment("x").key, NOTE)]
    assert world.tracker.replies == [] and world.chat.notes == []


async def test_a_message_waiting_for_a_busy_conversation_is_counted_once() -> None:
    world = World(say("One."), say("Two."), limits=ActionSettings(user_turns_per_hour=2))
    message = chat_message("first")
    await world.deliver(message)
    session = await world.store.resolve(message.key)
    assert session is not None
    held = await world.store.acquire_lease(session.id, "replica-2", 30)
    assert held is not None
    await world.record(chat_message("second"))
    for _ in range(4):  # handed back while the other replica holds the conversation
        world.clock.advance(seconds=1)
        await world.pipeline.handle(await world.claim())
    await world.store.release_lease(session.id, "replica-2", held)
    world.clock.advance(seconds=1)
    await world.pipeline.handle(await world.claim())

    assert len(world.model.requests) == 2  # answered: counted as one message, not five
    assert not any("an hour" in text for _, text in world.chat.notes)


async def test_a_turn_that_fails_after_its_tools_ran_keeps_what_they_did() -> None:
    created: list[str] = []

    class CreateThing:
        name = "create_thing"

        def definition(self) -> dict[str, Any]:
            return {"name": self.name, "description": "d", "input_schema": {"type": "object"}}

        async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
            created.append("X-1")
            return ToolResult("Created X-1.")

    world = World(use_tool("create_thing", {}), TimeoutError(), tools=[CreateThing()])
    message = chat_message("file it")
    await world.deliver(message)

    assert created == ["X-1"]
    assert "try again" in (world.chat.replies[0].note or "")
    session = await world.store.resolve(message.key)
    assert session is not None
    entries = await world.store.load_transcript(session.id)
    assert [e.role for e in entries] == ["user", "assistant", "user", "assistant"]
    assert entries[2].content[0]["content"] == "[create_thing result]\n> Created X-1."
    assert entries[3].content[0]["text"] == "(This turn failed before finishing.)"


async def test_content_a_tool_reads_from_an_internal_place_makes_the_conversation_internal() -> (
    None
):
    class LinkPrivate:
        name = "link_thing"

        def definition(self) -> dict[str, Any]:
            return {"name": self.name, "description": "d", "input_schema": {"type": "object"}}

        async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
            ctx.read_from(Audience.INTERNAL)  # e.g. a private repository's issue title
            return ToolResult("Linked: “Secret roadmap”.")

    world = World(use_tool("link_thing", {}), say("Linked."), tools=[LinkPrivate()])
    shared = replace(chat_message("link it"), audience="public")  # a Slack Connect thread
    await world.deliver(shared)

    session = await world.store.resolve(shared.key)
    assert session is not None and session.audience == "internal"
