"""What a turn replays of its transcript: the window from the latest compaction point, lean
tool results of earlier turns, context messages joined to the next user message, one cache
breakpoint on the summary. Pure functions over transcripts built here."""

from __future__ import annotations

import copy
import json
from typing import Any

from app.agent.loop import with_cache_breakpoint
from app.turns import replay_window as rw

# -- transcripts -----------------------------------------------------------------------------


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": f"[Ada (U1) in Chat]\n{text}"}]}


def answer(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def call(tool_id: str, name: str = "search_tickets") -> dict[str, Any]:
    block = {"type": "tool_use", "id": tool_id, "name": name, "input": {"q": "deploy"}}
    return {"role": "assistant", "content": [block]}


def result(tool_id: str, text: str, name: str = "search_tickets") -> dict[str, Any]:
    content = f"[{name} result]\n> {text}"
    block = {"type": "tool_result", "tool_use_id": tool_id, "content": content, "is_error": False}
    return {"role": "user", "content": [block]}


def server_compacted(summary: str | None, text: str) -> dict[str, Any]:
    block = {"type": "compaction", "content": summary, "encrypted_content": "enc", "signature": "s"}
    return {"role": "assistant", "content": [block, {"type": "text", "text": text}]}


def turns(n: int, prefix: str = "m") -> list[dict[str, Any]]:
    return [m for i in range(n) for m in (user(f"{prefix}{i}"), answer(f"re {prefix}{i}"))]


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [str(b.get("text", b.get("content", ""))) for m in messages for b in m["content"]]


def breakpoints(messages: list[dict[str, Any]]) -> int:
    return json.dumps(messages).count('"cache_control"')


# -- no compaction ----------------------------------------------------------------------------


def test_without_a_compaction_point_everything_is_replayed_as_stored() -> None:
    transcript = turns(1000)
    window = rw.latest_window(transcript)
    assert window.kind == "none" and window.summary_text is None
    out = rw.render(window)
    assert out == transcript
    # Nothing to change, nothing copied: a 1,000-turn replay costs one pass, no copies.
    assert all(a is b for a, b in zip(out, transcript, strict=True))


def test_long_tool_results_of_earlier_turns_are_replayed_as_stubs_and_stored_whole() -> None:
    long = "x" * 1_000 + "the end"
    transcript = [
        user("look it up"),
        call("toolu_1"),
        result("toolu_1", long),
        call("toolu_2", "get_issue"),
        result("toolu_2", "short", "get_issue"),
        answer("found it"),
    ]
    stored = copy.deepcopy(transcript)
    out = rw.render(rw.latest_window(transcript))

    assert transcript == stored  # the stored transcript keeps them whole
    stub = out[2]["content"][0]
    assert stub["tool_use_id"] == "toolu_1" and stub["is_error"] is False
    assert stub["content"].startswith("[search_tickets result: 1,009 characters, shortened")
    assert "> " + "x" * 150 in stub["content"] and "the end" not in stub["content"]
    assert len(stub["content"]) < 400
    assert out[4] is transcript[4]  # short results stay as they are
    # Pairs stay whole: every tool_use is still answered by its tool_result right after it.
    assert [m["role"] for m in out] == [m["role"] for m in transcript]
    assert out[1] is transcript[1] and out[3] is transcript[3]


def test_a_result_given_as_blocks_is_measured_and_stubbed_too() -> None:
    block = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": [{"type": "text", "text": "y" * 900}],
    }
    transcript = [user("q"), call("toolu_1"), {"role": "user", "content": [block]}, answer("a")]
    out = rw.render(rw.latest_window(transcript))
    assert out[2]["content"][0]["content"].startswith("[search_tickets result: 900 characters")


# -- server compaction ------------------------------------------------------------------------


def test_a_server_compaction_starts_the_window_at_the_turn_that_holds_it() -> None:
    transcript = [
        *turns(3),
        user("the long one"),
        call("toolu_1"),
        result("toolu_1", "r"),
        server_compacted("Ada asked m0..m2; searched.", "Here it is."),
        *turns(1, "after"),
    ]
    window = rw.latest_window(transcript)
    assert window.kind == "server" and window.start == 6
    assert window.summary_text == "Ada asked m0..m2; searched."
    out = rw.render(window)
    # The request starts with a user message (the API drops what precedes the block anyway)
    # and the earlier turns are not sent at all.
    assert out[0] is transcript[6] and len(out) == len(transcript) - 6
    assert not any(t.endswith("\nm0") or t == "re m0" for t in texts(out))
    block = out[3]["content"][0]
    assert block["type"] == "compaction" and block["cache_control"] == {"type": "ephemeral"}
    assert block["encrypted_content"] == "enc" and block["signature"] == "s"  # as returned
    assert "cache_control" not in transcript[9]["content"][0]  # a copy carries it
    assert breakpoints(out) == 1


def test_a_failed_server_compaction_is_no_point() -> None:
    transcript = [*turns(2), user("q"), server_compacted(None, "a")]
    window = rw.latest_window(transcript)
    assert window.kind == "none"
    assert breakpoints(rw.render(window)) == 0


# -- client compaction ------------------------------------------------------------------------


def test_a_client_point_replays_its_summary_its_kept_messages_then_what_follows() -> None:
    kept = [user("m3"), call("toolu_1"), result("toolu_1", "r"), answer("re m3")]
    point = rw.compaction_point("Ada asked m0, m1, m2.", summarised=6, kept=4, trigger="size")
    transcript = [*turns(3), *kept, point, user("m4"), answer("re m4")]
    window = rw.latest_window(transcript)
    assert window.kind == "client" and window.summary_text == "Ada asked m0, m1, m2."
    assert window.messages == [*kept, user("m4"), answer("re m4")]
    assert [window.index_of(i) for i in range(len(window.messages))] == [6, 7, 8, 9, 11, 12]

    out = rw.render(window)
    first = out[0]
    assert first["role"] == "user"
    assert first["content"][0]["text"] == rw.SUMMARY_HEADER + "\nAda asked m0, m1, m2."
    assert first["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["content"][1:] == user("m3")["content"]
    assert [m["role"] for m in out] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert "threadline" not in json.dumps(out)  # our mark never reaches the API
    assert not any(t.endswith("\nm0") or t == "re m0" for t in texts(out))
    assert breakpoints(out) == 1
    # With the system prompt's and the last block's: three of the API's four.
    assert breakpoints(with_cache_breakpoint(out)) == 2


def test_a_new_point_that_keeps_nothing_goes_in_front_of_the_turns_message() -> None:
    point = rw.compaction_point("All of it.", summarised=4, kept=0, trigger="too_long")
    history = rw.render(rw.latest_window([*turns(2), point]))
    assert [m["role"] for m in history] == ["user"]
    rest, sent = rw.join(history, user("now"))
    assert rest == []
    assert [b["text"].split("\n")[0] for b in sent["content"]] == [
        rw.SUMMARY_HEADER,
        "[Ada (U1) in Chat]",
    ]
    unchanged, same = rw.join(rw.render(rw.latest_window(turns(1))), user("now"))
    assert same == user("now") and len(unchanged) == 2


def test_an_older_point_among_the_kept_messages_is_covered_by_the_newer_one() -> None:
    first = rw.compaction_point("S1", summarised=4, kept=0, trigger="size")
    second = rw.compaction_point("S2", summarised=2, kept=3, trigger="size")
    # t: m0 m0' m1 m1' P1 m2 m2' P2 m3 m3'  (P2 keeps P1, m2, m2' before it)
    transcript = [*turns(2), first, *turns(1, "x"), second, *turns(1, "y")]
    window = rw.latest_window(transcript)
    assert window.summary_text == "S2"
    assert window.messages == [*turns(1, "x"), *turns(1, "y")]
    assert [window.index_of(i) for i in range(4)] == [5, 6, 8, 9]
    out = rw.render(window)
    assert "S1" not in json.dumps(out) and breakpoints(out) == 1


def test_a_seed_is_joined_to_the_first_message_of_a_restarted_conversation() -> None:
    seed = rw.seed_message("[Earlier in the thread]\n- Ada (U1):\n> the plan is X")
    transcript = [seed, user("go on"), answer("ok")]
    out = rw.render(rw.latest_window(transcript))
    assert [m["role"] for m in out] == ["user", "assistant"]
    assert out[0]["content"][0] == {"type": "text", "text": seed["content"][0]["text"]}
    assert out[0]["content"][1] == user("go on")["content"][0]
    assert rw.mark_of(seed) == {"kind": "seed"} and rw.mark_of(user("x")) is None
    assert not rw.is_turn_start(seed) and rw.is_turn_start(user("x"))
    assert not rw.is_turn_start(result("toolu_1", "r"))


def test_size_is_estimated_at_four_characters_a_token() -> None:
    assert rw.estimate_tokens([answer("x" * 4_000)]) == 1_004
    assert rw.estimate_tokens([call("toolu_1")]) > 0
    assert rw.estimate_tokens([server_compacted("s" * 400, "")]) > 100


def test_only_the_latest_compaction_point_carries_a_cache_breakpoint() -> None:
    def compacting(summary: str, tool_id: str) -> list[dict[str, Any]]:
        block = {"type": "compaction", "content": summary, "encrypted_content": "e"}
        use = {"type": "tool_use", "id": tool_id, "name": "search_tickets", "input": {}}
        return [
            {"role": "assistant", "content": [block, use]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id}]},
        ]

    # One turn whose tool loop was compacted three times by the API.
    last = {"type": "compaction", "content": "three", "encrypted_content": "e"}
    stored = [
        user("question"),
        *compacting("one", "t1"),
        *compacting("two", "t2"),
        {"role": "assistant", "content": [last, {"type": "text", "text": "ok"}]},
    ]
    out = rw.render(rw.latest_window(stored))
    marked = [b for m in out for b in m["content"] if "cache_control" in b]
    assert marked == [{**last, "cache_control": {"type": "ephemeral"}}]
    assert all("cache_control" not in b for m in stored for b in m["content"])
