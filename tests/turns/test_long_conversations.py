"""Long conversations driven through the pipeline: compaction (ours and the API's), the
fallback when the API refuses it, a too-long prompt kept apart from a rejected transcript,
restarts seeded from the thread, and lean replay. In-memory store, scripted model, recording
surfaces; the model's failures are the real SDK's exceptions for the fake API's answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import pytest

from app.agent.tools.base import ToolContext, ToolRegistry, ToolResult
from app.core import Usage
from app.store.base import TranscriptEntry
from app.surfaces.base import SurfaceRegistry
from app.turns import compaction
from app.turns import replay_window as rw
from app.turns.outcome import compacted_note, reseeded_note, reset_note
from app.turns.pipeline import PipelineConfig, TurnPipeline
from tests.agent.scripted import Step, compacted, say, use_tool
from tests.fakes.anthropic import Fail, FakeAnthropic
from tests.turns.doubles import chat_message
from tests.turns.test_decisions import raised
from tests.turns.test_pipeline import HOLDER, World

AT = 1_500  # COMPACT_AT_TOKENS here: 6,000 characters; turns kept verbatim within 1,500
BIG = "first: the code word is ZEBRA. " + "x" * 4_000  # about 1,000 tokens
KEY = chat_message("x").key


@dataclass
class Errors:
    """What the SDK raises when the API answers with each kind of failure."""

    too_long: anthropic.APIError
    refused: anthropic.APIError
    rejected: anthropic.APIError


@pytest.fixture
async def errors() -> AsyncIterator[Errors]:
    async with FakeAnthropic() as claude:

        async def error(message: str) -> anthropic.APIError:
            return await raised(claude, Fail(400, "invalid_request_error", message))

        yield Errors(
            too_long=await error("prompt is too long: 250000 tokens > 200000 maximum"),
            refused=await error("context_management: Extra inputs are not permitted"),
            rejected=await error(
                "messages.1: `tool_use` ids were found without `tool_result` blocks "
                "immediately after: toolu_1"
            ),
        )


@dataclass
class Seen:
    """An ``Observer`` that keeps what it was told."""

    outcomes: list[str] = field(default_factory=list)
    usages: list[Usage] = field(default_factory=list)
    compactions: list[str] = field(default_factory=list)
    reseeded_sessions: int = 0

    def turn_finished(self, outcome: str, seconds: float | None, usage: Usage) -> None:
        self.outcomes.append(outcome)
        self.usages.append(usage)

    def first_token(self, seconds: float) -> None:
        return None

    def compacted(self, kind: str) -> None:
        self.compactions.append(kind)

    def reseeded(self) -> None:
        self.reseeded_sessions += 1


class LongWorld(World):
    """``World`` with a compaction mode, ``COMPACT_AT_TOKENS`` and an observer."""

    def __init__(
        self, *steps: Step | BaseException, mode: str = "server", tools: list[Any] | None = None
    ) -> None:
        super().__init__(*steps)
        self.model.compaction = mode
        self.seen = Seen()
        surfaces = SurfaceRegistry(home=self.chat)
        surfaces.register(self.tracker)
        self.pipeline = TurnPipeline(
            config=PipelineConfig(
                agent="tl", holder=HOLDER, lease_seconds=30, turn_timeout=10, compact_at_tokens=AT
            ),
            store=self.store,
            model=self.model,
            tools=ToolRegistry(tools or []),
            surfaces=surfaces,
            observer=self.seen,
            clock=self.clock.now,
        )

    async def say(self, *texts: str) -> None:
        for text in texts:
            await self.deliver(chat_message(text))

    async def entries(self) -> list[TranscriptEntry]:
        session = await self.store.resolve(KEY)
        assert session is not None
        return await self.store.load_transcript(session.id)

    def summariser_calls(self) -> list[int]:
        return [
            i
            for i, r in enumerate(self.model.requests)
            if r["system"][0]["text"] == compaction.SUMMARISER
        ]


def first_blocks(request: dict[str, Any]) -> list[str]:
    return [b.get("text", b["type"]) for b in request["messages"][0]["content"]]


def summary_block(text: str) -> dict[str, Any]:
    return {
        "type": "text",
        "text": f"{rw.SUMMARY_HEADER}\n{text}",
        "cache_control": {"type": "ephemeral"},
    }


# -- compaction --------------------------------------------------------------------------------


async def test_client_mode_summarises_the_older_turns_once_the_replay_grows_past_the_limit() -> (
    None
):
    world = LongWorld(
        say("One."),
        say("Two."),
        say("Ada's code word is ZEBRA."),  # the summary
        say("Three."),
        say("Four."),
        mode="client",
    )
    await world.say(BIG, "small", "y" * 2_500)

    assert world.summariser_calls() == [2]
    summarising = world.model.requests[2]
    assert (
        summarising["tools"] == [] and "ZEBRA" in summarising["messages"][0]["content"][0]["text"]
    )
    sent = world.model.requests[3]["messages"]
    # The summary stands in for the first turn; the second is kept verbatim after it.
    assert sent[0]["content"][0] == summary_block("Ada's code word is ZEBRA.")
    assert sent[0]["content"][1]["text"] == "[Person U1 (U1) in Chat]\nsmall"
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert "xxxxxxxx" not in json.dumps(sent)
    assert (
        world.chat.replies[2].shown == "Three." and world.chat.replies[2].note == compacted_note()
    )

    entries = await world.entries()
    point = entries[4]
    assert (point.role, point.author_id, point.ref) == ("user", None, None)
    assert rw.mark_of({"role": "user", "content": point.content}) == {
        "kind": "compaction",
        "summarised": 2,
        "kept": 2,
        "trigger": "size",
    }
    roles = ["user", "assistant", "user", "assistant", "user", "user", "assistant"]
    assert [e.role for e in entries] == roles
    assert BIG in entries[0].content[0]["text"]  # the transcript keeps what was summarised
    session = await world.store.resolve(KEY)
    assert session is not None
    events = [(e.kind, e.cause) for e in await world.store.events_for(session.id)]
    assert ("compacted", "client") in events
    assert world.seen.compactions == ["client"]
    assert world.seen.usages[2].input_tokens == 200  # the summary's call counts with the turn

    await world.say("next")  # replayed from the point, not compacted again
    assert world.summariser_calls() == [2]
    assert world.model.requests[4]["messages"][0]["content"][0] == summary_block(
        "Ada's code word is ZEBRA."
    )
    assert world.chat.replies[3].note is None


async def test_a_too_long_prompt_is_compacted_and_retried_on_the_same_session(
    errors: Errors,
) -> None:
    world = LongWorld(
        say("One."), say("Two."), errors.too_long, say("Summary: ZEBRA."), say("Three.")
    )
    await world.say(BIG, "small")
    before = await world.store.resolve(KEY)
    delivery = await world.deliver(chat_message("third"))

    assert delivery.status == "done"
    after = await world.store.resolve(KEY)
    assert before is not None and after is not None and after.id == before.id  # kept
    assert world.summariser_calls() == [3]
    retry = world.model.requests[4]["messages"]
    assert retry[0]["content"][0] == summary_block("Summary: ZEBRA.")
    assert retry[-1]["content"][0]["text"].endswith("third")
    reply = world.chat.replies[2]
    assert reply.shown == "Three." and reply.note == compacted_note()
    entries = await world.entries()
    assert len(entries) == 7
    assert rw.mark_of({"role": "user", "content": entries[4].content})["trigger"] == "too_long"  # type: ignore[index]


async def test_too_long_even_after_compacting_is_a_note_and_nothing_changes(
    errors: Errors,
) -> None:
    world = LongWorld(say("One."), say("Two."), errors.too_long, say("S."), errors.too_long)
    await world.say(BIG, "small")
    delivery = await world.deliver(chat_message("third"))

    assert delivery.status == "failed"
    note = world.chat.replies[2].note or ""
    assert "too large" in note and "turn `t-" in note
    assert len(await world.entries()) == 4  # no summary stored for a turn that failed
    assert world.seen.outcomes[-1] == "message_rejected" and world.seen.compactions == []


async def test_too_long_with_nothing_older_to_summarise_is_a_note(errors: Errors) -> None:
    world = LongWorld(say("One."), errors.too_long)
    await world.say("hi")
    delivery = await world.deliver(chat_message("z" * 10_000))
    assert delivery.status == "failed" and "too large" in (world.chat.replies[1].note or "")
    assert world.summariser_calls() == [] and len(await world.entries()) == 2


async def test_a_refused_compaction_falls_back_to_ours_and_the_turn_is_retried(
    errors: Errors,
) -> None:
    world = LongWorld(
        say("One."), say("Two."), errors.refused, say("Summary: ZEBRA."), say("Three.")
    )
    await world.say(BIG, "small")
    assert world.model.requests[1]["compaction"] == "server"
    delivery = await world.deliver(chat_message("y" * 2_500))

    assert delivery.status == "done"
    assert world.model.fallbacks == 1 and world.model.compaction == "client"
    assert world.summariser_calls() == [3]
    assert world.model.requests[4]["compaction"] == "client"
    assert world.model.requests[4]["messages"][0]["content"][0] == summary_block("Summary: ZEBRA.")
    assert world.chat.replies[2].note == compacted_note()


async def test_a_refusal_on_a_short_conversation_just_retries_without_compaction(
    errors: Errors,
) -> None:
    world = LongWorld(say("One."), errors.refused, say("Two."))
    await world.say("hi", "again")
    assert world.model.fallbacks == 1 and world.summariser_calls() == []
    assert world.chat.replies[1].shown == "Two." and world.chat.replies[1].note is None
    assert world.seen.outcomes == ["ok", "ok"]


async def test_a_server_compaction_is_noted_logged_and_the_next_turn_replays_from_it() -> None:
    world = LongWorld(
        say("One."), say("Two."), compacted("Ada said ZEBRA.", "Three."), say("Four.")
    )
    await world.say("first", "second", "third")

    assert world.chat.replies[2].shown == "Three."
    assert world.chat.replies[2].note == compacted_note()
    assert world.seen.compactions == ["server"]
    session = await world.store.resolve(KEY)
    assert session is not None
    assert ("compacted", "server") in [
        (e.kind, e.cause) for e in await world.store.events_for(session.id)
    ]
    stored = (await world.entries())[5].content[0]
    assert stored["encrypted_content"].startswith("enc-") and "cache_control" not in stored

    await world.say("fourth")
    sent = world.model.requests[3]["messages"]
    assert first_blocks(world.model.requests[3])[0].endswith("third")  # the compacting turn
    assert sent[1]["content"][0] == {**stored, "cache_control": {"type": "ephemeral"}}
    assert not any("first" in t or "second" in t for t in first_blocks(world.model.requests[3]))
    assert len(sent) == 3 and world.chat.replies[3].note is None


# -- starting over -----------------------------------------------------------------------------


async def test_with_compaction_off_too_long_starts_over_seeded_from_the_thread(
    errors: Errors,
) -> None:
    world = LongWorld(say("One."), errors.too_long, say("Fresh."), say("Later."), mode="off")
    world.chat.seed_text = "[Earlier in the thread]\n- Ada (U1):\n> the code word is ZEBRA"
    await world.say("first")
    old = await world.store.resolve(KEY)
    delivery = await world.deliver(chat_message("second"))

    assert delivery.status == "done"
    new = await world.store.resolve(KEY)
    assert old is not None and new is not None and new.id != old.id
    assert (await world.store.get_session(old.id)).status == "dropped"  # type: ignore[union-attr]
    assert world.chat.seeded == [(KEY, None)]
    (sent,) = world.model.requests[2]["messages"]  # one user message: the seed, then the text
    assert sent["content"][0] == {"type": "text", "text": world.chat.seed_text}
    assert sent["content"][1]["text"].endswith("second")
    assert world.chat.replies[1].shown == "Fresh." and world.chat.replies[1].note == reseeded_note()
    entries = await world.entries()
    assert [(e.role, e.author_id) for e in entries] == [
        ("user", None),
        ("user", "U1"),
        ("assistant", None),
    ]
    assert world.seen.reseeded_sessions == 1 and world.seen.outcomes[-1] == "ok_after_reset"

    await world.say("third")  # the seed stays in front of the fresh session's first message
    assert first_blocks(world.model.requests[3])[0] == world.chat.seed_text


async def test_a_rejected_transcript_starts_over_and_keeps_its_links(errors: Errors) -> None:
    world = LongWorld(say("One."), errors.rejected, say("Fresh."))
    await world.say("first")
    old = await world.store.resolve(KEY)
    assert old is not None
    await world.store.register_key("tl:tracker:ITEM-1", old.id)
    await world.deliver(chat_message("second"))

    new = await world.store.resolve(KEY)
    assert new is not None and new.id != old.id
    assert await world.store.resolve("tl:tracker:ITEM-1") == new
    # What the old session held was internal: starting over does not make it public.
    assert old.audience == new.audience == "internal"
    changes = [
        e.cause for e in await world.store.events_for(new.id) if e.kind == "audience_changed"
    ]
    assert changes == ["started over"]  # carried over before the fresh run, not after it
    assert world.chat.replies[1].note == reset_note()  # nothing to seed it with
    assert len(world.model.requests[2]["messages"]) == 1 and world.seen.reseeded_sessions == 0
    # The thread was asked first, then the item's surface (which has no history to offer).
    assert world.chat.seeded == [(KEY, None)]
    assert world.tracker.seeded == [("tl:tracker:ITEM-1", None)]


# -- lean replay ---------------------------------------------------------------------------------


async def test_long_tool_results_of_earlier_turns_are_replayed_short_and_stored_whole() -> None:
    class Search:
        name = "search_logs"

        def definition(self) -> dict[str, Any]:
            return {"name": self.name, "description": "d", "input_schema": {"type": "object"}}

        async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
            return ToolResult("OOM at step 3\n" + "log line\n" * 300)

    world = LongWorld(
        use_tool("search_logs", {"q": "oom"}), say("It ran out of memory."), say("Yes."),
        tools=[Search()],
    )  # fmt: skip
    await world.say("why did it fail?")
    # Within its own turn, Claude reads the whole result.
    current = world.model.requests[1]["messages"][-1]["content"][0]["content"]
    assert len(current) > 2_700

    await world.say("sure?")
    replayed = world.model.requests[2]["messages"][2]["content"][0]
    assert replayed["content"].startswith("[search_logs result: 3,")
    assert "> OOM at step 3" in replayed["content"] and len(replayed["content"]) < 400
    stored = (await world.entries())[2].content[0]["content"]
    assert stored == current
