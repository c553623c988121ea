"""Stopping a turn midway: what was said is kept, and the conversation stays valid."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from app.agent.model import ModelReply, TextCallback
from app.turns.stopping import request_stop, stopped_messages
from tests.agent.scripted import ScriptedModel
from tests.harness import eventually
from tests.turns.doubles import chat_message
from tests.turns.test_pipeline import World


class HalfAnswer(ScriptedModel):
    """Streams the start of an answer, then never finishes."""

    async def stream(
        self,
        *,
        system: Sequence[dict[str, Any]],
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]],
        on_text: TextCallback,
    ) -> ModelReply:
        self.requests.append({"messages": list(messages)})
        await on_text("Half an ans")
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_stopped_turn_keeps_what_was_said_and_commits_a_valid_turn() -> None:
    world = World(model=HalfAnswer())
    message = chat_message("explain everything")
    await world.record(message)
    delivery = await world.claim()
    running = asyncio.create_task(world.pipeline.handle(delivery))
    await eventually(lambda: bool(world.chat.replies and world.chat.replies[0].shown))

    assert await world.store.processing_delivery(message.key) is not None
    assert await request_stop(world.store, [message.key]) is True
    await asyncio.wait_for(running, 10)

    shown = world.chat.replies[0]
    assert shown.shown == "Half an ans" and shown.note == "_Stopped._" and shown.finished
    after = await world.store.get_delivery(delivery.id)
    assert after is not None and after.status == "done"
    session = await world.store.resolve(message.key)
    assert session is not None and session.status == "active"
    entries = await world.store.load_transcript(session.id)
    assert [e.role for e in entries] == ["user", "assistant"]
    assert entries[1].content == [
        {"type": "text", "text": "Half an ans\n\n(Stopped before finishing.)"}
    ]
    outcomes = [t.outcome for t in await world.store.turns_for(session.id)]
    assert outcomes == ["stopped"]


async def test_asking_to_stop_a_conversation_with_nothing_running_changes_nothing() -> None:
    world = World()
    assert await request_stop(world.store, ["tl:chat:T1"]) is False


def test_a_stopped_tool_call_is_answered_as_not_run() -> None:
    call = {"type": "tool_use", "id": "toolu_1", "name": "create_thing", "input": {}}
    said = [{"role": "assistant", "content": [{"type": "text", "text": "Filing."}, call]}]
    messages = stopped_messages(said, "")
    assert [m["role"] for m in messages] == ["assistant", "user", "assistant"]
    result = messages[1]["content"][0]
    assert result["tool_use_id"] == "toolu_1" and result["is_error"] is True
    assert messages[2]["content"][0]["text"] == "(Stopped before finishing.)"


def test_a_complete_answer_stays_as_it_was() -> None:
    said = [{"role": "assistant", "content": [{"type": "text", "text": "Done."}]}]
    assert stopped_messages(said, "ignored") == said


def test_a_tool_that_finished_before_the_stop_keeps_its_result() -> None:
    first = {"type": "tool_use", "id": "toolu_1", "name": "create_thing", "input": {}}
    second = {"type": "tool_use", "id": "toolu_2", "name": "create_thing", "input": {}}
    ran = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Created X-1."}
    said = [
        {"role": "assistant", "content": [first, second]},
        {"role": "user", "content": [ran]},  # the second call was running when it stopped
    ]
    messages = stopped_messages(said, "")
    results = messages[1]["content"]
    assert results[0] == ran
    assert results[1]["tool_use_id"] == "toolu_2" and results[1]["is_error"] is True
    assert [m["role"] for m in messages] == ["assistant", "user", "assistant"]
    assert said[1]["content"] == [ran]  # the record itself is left as it was
