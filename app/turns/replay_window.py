"""What a turn replays: the stored transcript from its latest compaction point on, made lean.

A session's transcript is append-only and kept whole; each turn sends a *window* of it.

**Compaction points.** The latest one starts the window:

* A server ``compaction`` block, stored inside an assistant message exactly as the API
  returned it (``type``, ``content``, ``encrypted_content``, ``signature``...). The API drops
  every block before it, and a request must start with a user message, so the window starts
  at the user message that opened the turn holding the block (that turn's earlier messages
  are sent and not read). A block whose ``content`` is null is a failed compaction: the
  server treats it as a no-op, and so does the window.
* A client compaction point: a user message of its own that Threadline wrote (no author, no
  ref), one text block holding the summary under ``SUMMARY_HEADER`` and a mark the API never
  sees, ``{"threadline": {"kind": "compaction", "summarised": n, "kept": k, "trigger": t}}``.
  It stands in for everything before it except the ``kept`` messages just before it, which
  stay verbatim: the window is the summary, those ``kept`` messages, then all that follows.

**Context messages** (a compaction summary, the seed of a restarted conversation: marks of
kind ``compaction`` and ``seed``) are stored as messages of their own, so editing or erasing a
person's message never touches them. Replayed, each is joined to the front of the next user
message (the request stays user/assistant alternating and starts with a user message).

**Lean replay.** A tool result of an earlier turn longer than ``LEAN_OVER`` characters is sent
as a stub naming the tool and its length, with its first ``LEAN_KEEP`` characters; the
``tool_use``/``tool_result`` pair stays whole. Every stored turn is an earlier turn: the
current one is not in the history, so its results are read in full.

**Cache.** The summary (or the compaction block) carries a prompt-cache breakpoint: with the
system prompt's and the last block's, a request has three of the API's four.

**Other modes.** Without server compaction (``client``/``off``, or after falling back) the API
would refuse a ``compaction`` block: the model sends a stored one as text (``app.agent.model``).

Everything here is pure and linear in the length of the transcript; replayed messages are new
objects only where something changed, so a replay never alters what was loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from app.agent.model import is_compaction

MARK: Final = "threadline"  # a stored block's own metadata; stripped before the API sees it
LEAN_OVER: Final = 400
LEAN_KEEP: Final = 200
CHARS_PER_TOKEN: Final = 4
SUMMARY_HEADER: Final = (
    "[Summary of the earlier part of this conversation, written when it grew long; it "
    "stands in for those messages]"
)
_EPHEMERAL: Final = {"type": "ephemeral"}

PointKind = Literal["none", "server", "client"]


@dataclass(frozen=True)
class Window:
    """The part of a transcript a turn replays (see the module docstring)."""

    kind: PointKind
    # The stored messages replayed as they are (lean applied when rendered): after a client
    # point, its kept messages and everything after it; after a server point, from the user
    # message that opened the turn holding the compaction block.
    messages: list[dict[str, Any]]
    summary: dict[str, Any] | None = None  # a client point's stored message
    start: int = 0  # index in the transcript of ``messages[0]``
    # Indices in the transcript, after ``start``, of what ``messages`` leave out: the client
    # point itself and older points among its kept messages (ascending).
    skipped: tuple[int, ...] = ()

    def index_of(self, i: int) -> int:
        """The index in the transcript of ``messages[i]``."""
        at = self.start + i
        for s in self.skipped:
            if s <= at:
                at += 1
        return at

    @property
    def summary_text(self) -> str | None:
        """What the latest compaction point says about what came before the window."""
        if self.summary is not None:
            return summary_of(self.summary)
        if self.kind == "server":
            for message in self.messages:
                for block in _blocks(message):
                    if _is_compaction(block):
                        return str(block["content"])
        return None


# -- stored forms ----------------------------------------------------------------------------------


def compaction_point(summary: str, *, summarised: int, kept: int, trigger: str) -> dict[str, Any]:
    """The stored form of a client compaction point: ``summary`` stands in for the
    ``summarised`` messages before the ``kept`` ones just before this point."""
    mark = {"kind": "compaction", "summarised": summarised, "kept": kept, "trigger": trigger}
    text = f"{SUMMARY_HEADER}\n{summary.strip()}"
    return {"role": "user", "content": [{"type": "text", "text": text, MARK: mark}]}


def seed_message(text: str) -> dict[str, Any]:
    """The stored form of a restarted conversation's seed (earlier history, quoted)."""
    return {"role": "user", "content": [{"type": "text", "text": text, MARK: {"kind": "seed"}}]}


def mark_of(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The mark of a context message Threadline wrote, or None for any other message."""
    if message.get("role") != "user":
        return None
    blocks = _blocks(message)
    if len(blocks) != 1 or not isinstance(blocks[0], dict):
        return None
    mark = blocks[0].get(MARK)
    return mark if isinstance(mark, dict) else None


def is_compaction_point(message: Mapping[str, Any]) -> bool:
    mark = mark_of(message)
    return mark is not None and mark.get("kind") == "compaction"


def summary_of(message: Mapping[str, Any]) -> str:
    """The summary a client compaction point holds (without its header)."""
    text = str(_blocks(message)[0].get("text", ""))
    return text.removeprefix(SUMMARY_HEADER).lstrip("\n")


def server_compaction(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The compaction block of an assistant message that compacted, if any."""
    if message.get("role") != "assistant":
        return None
    for block in _blocks(message):
        if _is_compaction(block):
            return block
    return None


# -- the window ------------------------------------------------------------------------------------


def latest_window(transcript: Sequence[dict[str, Any]]) -> Window:
    """The window that starts at ``transcript``'s latest compaction point (a scan from the
    end that stops at the first point it meets)."""
    for i in range(len(transcript) - 1, -1, -1):
        message = transcript[i]
        if message.get("role") == "assistant":
            if server_compaction(message) is not None:
                start = _turn_start(transcript, i)
                return Window("server", list(transcript[start:]), start=start)
        elif is_compaction_point(message):
            start = max(0, i - _int(mark_of(message), "kept"))
            # An older point among the kept messages is covered by this one's summary.
            older = tuple(j for j in range(start, i) if is_compaction_point(transcript[j]))
            kept = [m for j, m in enumerate(transcript[start:i], start) if j not in older]
            return Window(
                "client",
                [*kept, *transcript[i + 1 :]],
                summary=message,
                start=start,
                skipped=(*older, i),
            )
    return Window("none", list(transcript))


def is_turn_start(message: Mapping[str, Any]) -> bool:
    """A user message that opens a turn: what a person wrote (not tool results, not one of
    our context messages)."""
    if message.get("role") != "user" or mark_of(message) is not None:
        return False
    return not any(b.get("type") == "tool_result" for b in _blocks(message))


def _turn_start(transcript: Sequence[dict[str, Any]], before: int) -> int:
    for j in range(before - 1, -1, -1):
        if is_turn_start(transcript[j]):
            return j
    return 0


# -- rendering -------------------------------------------------------------------------------------


def render(window: Window) -> list[dict[str, Any]]:
    """The window as Messages API messages: lean, marks stripped, context joined to the next
    user message, a cache breakpoint on the summary or compaction block.

    One pass, a few dictionary lookups per message (it runs before every turn, over every
    message of the window): a message is copied only when something in it changes.
    """
    messages = window.messages
    if window.summary is not None:
        messages = [window.summary, *messages]
    out: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []  # context blocks waiting for the next user message
    calls: list[dict[str, Any]] = []  # the latest assistant message's blocks (its tool calls)
    for message in messages:
        blocks = _blocks(message)
        if message.get("role") == "assistant":
            if pending:
                out.append({"role": "user", "content": pending})
                pending = []
            calls = blocks
            compacted = False
            for block in blocks:
                if block.get("type") == "compaction":
                    compacted = True
            out.append(_assistant(message, blocks) if compacted else message)
            continue
        first = blocks[0] if blocks else {}
        mark = first.get(MARK) if len(blocks) == 1 else None
        if isinstance(mark, dict):  # a context message (``mark_of``)
            block = {k: v for k, v in first.items() if k != MARK}
            if mark.get("kind") == "compaction":
                block["cache_control"] = dict(_EPHEMERAL)
            pending.append(block)
            continue
        if first.get("type") == "tool_result":  # tool results: the only blocks of a message
            if pending:  # pragma: no cover - a context message never precedes tool results
                out.append({"role": "user", "content": pending})
                pending = []
            lean = _lean_results(blocks, calls)
            out.append(message if lean is blocks else {**message, "content": lean})
        elif pending:
            out.append({"role": "user", "content": [*pending, *blocks]})
            pending = []
        else:
            out.append(message)
    if pending:
        out.append({"role": "user", "content": pending})
    _latest_breakpoint_only(out)
    return out


def _latest_breakpoint_only(messages: list[dict[str, Any]]) -> None:
    """Keep the breakpoint of the latest compaction point only: with the system prompt's and
    the last block's, a request never carries more than the API's four. The blocks that carry
    one here are copies made by ``render``, never stored content."""
    seen = False
    for message in reversed(messages):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in reversed(content):
            if isinstance(block, dict) and "cache_control" in block:
                if seen:
                    del block["cache_control"]
                seen = True


def join(
    history: list[dict[str, Any]], user: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``history`` and the turn's ``user`` message for one request: a trailing context
    message (a summary or a seed with nothing after it yet) goes to the front of ``user``."""
    if history and history[-1].get("role") == "user":
        *rest, context = history
        return rest, {**user, "content": [*_blocks(context), *_blocks(user)]}
    return history, user


def _assistant(message: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    if not any(_is_compaction(b) for b in blocks):
        return message
    content = [{**b, "cache_control": dict(_EPHEMERAL)} if _is_compaction(b) else b for b in blocks]
    return {**message, "content": content}


def _lean_results(
    blocks: list[dict[str, Any]], calls: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``blocks`` with long tool results stubbed (named after their call in ``calls``); the
    same list when nothing changed."""
    changed = False
    out = []
    for block in blocks:
        if block.get("type") == "tool_result":
            text = result_text(block.get("content"))
            if len(text) > LEAN_OVER:
                block = {**block, "content": lean_stub(_tool_name(calls, block), text)}
                changed = True
        out.append(block)
    return out if changed else blocks


def _tool_name(calls: list[dict[str, Any]], result: dict[str, Any]) -> str:
    for call in calls:
        if call.get("type") == "tool_use" and call.get("id") == result.get("tool_use_id"):
            return str(call.get("name"))
    return "tool"


def lean_stub(name: str, text: str) -> str:
    """What an earlier turn's long tool result is replayed as: which tool, how long, and
    how it began (still quoted, as the stored result is)."""
    body = text.removeprefix(f"[{name} result]\n")
    head = body[:LEAN_KEEP].rstrip()
    return (
        f"[{name} result: {len(body):,} characters, shortened in this replay of an earlier "
        f"turn; it began:]\n{head}…"
    )


def result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(c.get("text", "")) for c in content if isinstance(c, dict) and "text" in c
        )
    return ""


# -- size ------------------------------------------------------------------------------------------


def estimate_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """About how many tokens ``messages`` take (``CHARS_PER_TOKEN`` characters each)."""
    chars = 0
    for message in messages:
        for block in _blocks(message):
            chars += 16 + block_chars(block)
    return chars // CHARS_PER_TOKEN


def block_chars(block: Mapping[str, Any]) -> int:
    """About how many characters one block takes in a request."""
    kind = block.get("type")
    if kind == "text":
        return len(str(block.get("text", "")))
    if kind == "tool_result":
        return len(result_text(block.get("content")))
    if kind == "tool_use":
        return len(json.dumps(block.get("input"), ensure_ascii=False)) + len(str(block.get("name")))
    if kind == "thinking":
        return len(str(block.get("thinking", ""))) + len(str(block.get("signature", "")))
    if kind == "compaction":
        return len(str(block.get("content") or "")) + len(str(block.get("encrypted_content", "")))
    return len(json.dumps(block, ensure_ascii=False, default=str))


# -- helpers ---------------------------------------------------------------------------------------


def _blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def _is_compaction(block: dict[str, Any]) -> bool:
    return is_compaction(block)


def _int(mark: Mapping[str, Any] | None, name: str) -> int:
    value = (mark or {}).get(name)
    return value if isinstance(value, int) and value >= 0 else 0
