"""Client-side compaction on its own: where a window is cut, how big the summarising request
may get, and the one model call that writes the summary."""

from __future__ import annotations

import json

from app.turns import compaction
from app.turns import replay_window as rw
from tests.agent.scripted import ScriptedModel, say
from tests.turns.test_replay_window import answer, call, result, turns, user

AT = 10_000  # COMPACT_AT_TOKENS: 40,000 characters; turns kept verbatim within 10,000


def test_the_most_recent_turns_are_kept_and_the_cut_never_splits_a_tool_call() -> None:
    tool_turn = [user("look"), call("toolu_1"), result("toolu_1", "r"), answer("found")]
    transcript = [*turns(5), *tool_turn, *turns(2, "late")]
    plan = compaction.plan(rw.latest_window(transcript), len(transcript), compact_at_tokens=AT)

    assert plan is not None and plan.previous is None
    # Three turns kept: the tool turn and the two late ones; the cut is at a turn's start.
    assert plan.older == turns(5)
    assert plan.keep_from == 10 and rw.is_turn_start(transcript[plan.keep_from])


def test_turns_too_big_to_keep_are_summarised_too() -> None:
    transcript = [*turns(2), user("z" * 30_000), answer("ok")]
    plan = compaction.plan(rw.latest_window(transcript), len(transcript), compact_at_tokens=AT)
    assert plan is not None and plan.older == transcript and plan.keep_from == len(transcript)


def test_nothing_older_than_the_kept_turns_means_no_compaction() -> None:
    transcript = turns(3)
    window = rw.latest_window(transcript)
    assert compaction.plan(window, len(transcript), compact_at_tokens=AT) is None
    assert compaction.plan(rw.latest_window([]), 0, compact_at_tokens=AT) is None


def test_a_new_point_keeps_exactly_the_kept_messages_after_an_earlier_point() -> None:
    first = rw.compaction_point("S1: Ada began with m0.", summarised=8, kept=2, trigger="size")
    transcript = [*turns(5), first, *turns(6, "n")]
    window = rw.latest_window(transcript)
    plan = compaction.plan(window, len(transcript), compact_at_tokens=AT)
    assert plan is not None and plan.previous == "S1: Ada began with m0."
    assert plan.older == [*turns(5)[-2:], *turns(3, "n")]  # the old kept turn, then n0..n2

    point = compaction.point_for(plan, "S2", at=len(transcript), trigger="size")
    assert rw.mark_of(point) == {
        "kind": "compaction",
        "summarised": 8,
        "kept": 6,
        "trigger": "size",
    }
    replayed = rw.render(rw.latest_window([*transcript, point, user("now")]))
    assert replayed[0]["content"][0]["text"].endswith("\nS2")
    assert [t["content"][0]["text"] for t in replayed[1:6:2]] == ["re n3", "re n4", "re n5"]
    assert "S1" not in json.dumps(replayed)


def test_the_summarising_request_is_bounded_whatever_the_size_of_the_older_turns() -> None:
    older = [m for i in range(1_000) for m in (user(f"q{i} " + "w" * 5_000), answer(f"a{i}"))]
    plan = compaction.Plan(older, keep_from=2_000, previous="The team chose plan X.")
    (message,) = compaction.summary_request(plan, budget_chars=20_000)

    (block,) = message["content"]
    text = block["text"]
    assert len(text) < 21_000
    assert text.startswith("[The summary so far]\n> The team chose plan X.")
    assert "> a999" in text  # the most recent older messages are the ones kept
    assert "> [Ada (U1) in Chat]" in text  # quoted material, headers included
    assert "q0 " not in text
    included = text.count("- User:") + text.count("- Assistant:")
    assert f"its {2_000 - included} oldest messages are left out" in text


def test_a_single_huge_message_reaches_the_summariser_clipped_at_both_ends() -> None:
    plan = compaction.Plan([user("start " + "v" * 50_000 + " finish"), answer("ok")], 2, None)
    (message,) = compaction.summary_request(plan, budget_chars=20_000)
    text = message["content"][0]["text"]
    assert "start" in text and "finish" in text and " … " in text
    assert len(text) < compaction.MESSAGE_MAX_CHARS + 500


async def test_one_call_without_tools_writes_the_summary() -> None:
    model = ScriptedModel([say("Ada asked about the deploy; we chose plan X.")])
    plan = compaction.Plan(
        [*turns(2), user("tool time"), call("toolu_1"), result("toolu_1", "r")], 5, None
    )
    summary, usage = await compaction.summarise(model, plan, compact_at_tokens=AT)

    assert summary == "Ada asked about the deploy; we chose plan X."
    assert usage.input_tokens == 100
    (sent,) = model.requests
    assert sent["tools"] == [] and sent["system"][0]["text"] == compaction.SUMMARISER
    (message,) = sent["messages"]
    text = message["content"][0]["text"]
    assert "(called search_tickets with" in text and "- Tool:\n> [search_tickets result]" in text
    assert text.endswith("Write the new summary now.")
