"""What the fake Anthropic API does with long and thinking conversations.

Server-side compaction (beta ``compact-2026-01-12``, edit ``compact_20260112``):

- Available only when the request carries the beta header and the fake is not in
  ``refuse_compaction`` mode; otherwise ``context_management`` in a request, or a replayed
  ``compaction`` block, gets the 400 an API without the beta answers.
- With a compaction block in the request, only the latest one (with a summary) and what
  follows it count, for the context limit, the trigger and billing: the API drops what came
  before it (``from_latest_compaction``).
- When the counted input reaches the trigger, the answer starts with a new compaction block
  whose summary lists the first words of every user text counted (and carries the lines of
  the summary it replaces), so a test can tell early facts survived.
- A replayed compaction block must equal, as canonical JSON without ``cache_control``, a
  block this fake issued; anything else is a 400.

Thinking: a thinking block's signature covers its text, a redacted block's data is signed
too, both with a secret of this fake; any replayed one that fails is a 400. When the request
asks for thinking and ends in a tool loop (the last user message holds tool results), the
assistant message with the tool calls must start, after any compaction block, with a
thinking block, as the real API demands.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from typing import Any

from tests.fakes.anthropic_steps import bad_request, texts
from tests.fakes.anthropic_tokens import strip_cache_control

COMPACTION_BETA = "compact-2026-01-12"
COMPACTION_EDIT = "compact_20260112"
DEFAULT_TRIGGER = 150_000
SUMMARY_TITLE = "Summary of the conversation so far:"
_THINKING = ("thinking", "redacted_thinking")


class Signer:
    """HMAC signatures with a key of this fake instance."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def sign(self, kind: str, payload: str) -> str:
        mac = hmac.new(self._key, f"{kind}\0{payload}".encode(), hashlib.sha256)
        return base64.b64encode(mac.digest()).decode()

    def verify(self, kind: str, payload: str, signature: object) -> bool:
        return isinstance(signature, str) and hmac.compare_digest(
            self.sign(kind, payload), signature
        )


def has_beta(headers: dict[str, str], beta: str = COMPACTION_BETA) -> bool:
    return beta in [b.strip() for b in headers.get("anthropic-beta", "").split(",")]


def wants_thinking(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("adaptive", "enabled")


def compaction_trigger(body: dict[str, Any]) -> int | None:
    """The input-token trigger of the request's ``compact_20260112`` edit (None: no edit)."""
    management = body.get("context_management")
    edits = management.get("edits") if isinstance(management, dict) else None
    for edit in edits or []:
        if not isinstance(edit, dict) or edit.get("type") != COMPACTION_EDIT:
            continue
        trigger = edit.get("trigger")
        if trigger is None:
            return DEFAULT_TRIGGER
        if not isinstance(trigger, dict) or trigger.get("type") != "input_tokens":
            raise bad_request(
                "context_management.edits.0.trigger.type: Input should be 'input_tokens'"
            )
        value = trigger.get("value")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad_request(
                "context_management.edits.0.trigger.value: Input should be an integer"
            )
        return value
    return None


def _blocks(messages: list[dict[str, Any]]) -> Iterator[tuple[int, int, dict[str, Any]]]:
    for i, msg in enumerate(messages):
        content = msg.get("content")
        if isinstance(content, list):
            for j, block in enumerate(content):
                if isinstance(block, dict):
                    yield i, j, block


def from_latest_compaction(body: dict[str, Any]) -> dict[str, Any]:
    """The request as the API counts it: messages from its latest compaction block on."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    latest = None
    for i, j, block in _blocks(messages):
        if block.get("type") == "compaction" and block.get("content") is not None:
            latest = (i, j)
    if latest is None:
        return body
    i, j = latest
    kept = [{**messages[i], "content": messages[i]["content"][j:]}, *messages[i + 1 :]]
    return {**body, "messages": kept}


def _canonical(block: dict[str, Any]) -> str:
    return json.dumps(strip_cache_control(block), sort_keys=True)


class Compactor:
    """Issues compaction blocks and recognises them when they come back."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer
        self.issued: list[dict[str, Any]] = []  # every block handed out, in order
        self._by_signature: dict[str, str] = {}

    def check_replayed(self, messages: list[dict[str, Any]], *, available: bool) -> None:
        for i, j, block in _blocks(messages):
            if block.get("type") != "compaction":
                continue
            if not available:
                raise bad_request(
                    f"messages.{i}.content.{j}.type: Input tag 'compaction' found using 'type' "
                    "does not match any of the expected tags: 'text', 'image', 'document', "
                    "'thinking', 'redacted_thinking', 'tool_use', 'tool_result'"
                )
            if self._by_signature.get(str(block.get("signature"))) != _canonical(block):
                raise bad_request(
                    f"messages.{i}.content.{j}: Invalid `signature` in `compaction` block"
                )

    def compact(self, counted: dict[str, Any], words: int) -> dict[str, Any]:
        """A new compaction block summarising the messages of ``counted``."""
        summary = summarise(counted.get("messages") or [], words)
        opaque = {"n": len(self.issued) + 1, "nonce": secrets.token_hex(8)}
        encrypted = base64.b64encode(json.dumps(opaque).encode()).decode()
        block = {
            "type": "compaction",
            "content": summary,
            "encrypted_content": encrypted,
            "signature": self._signer.sign("compaction", json.dumps([summary, encrypted])),
            "tool_changes": [],
        }
        self.issued.append(block)
        self._by_signature[block["signature"]] = _canonical(block)
        return block


def summarise(messages: list[dict[str, Any]], words: int) -> str:
    """The summary's lines: those of the summary it replaces, then the first ``words`` words
    of every user text."""
    lines = [SUMMARY_TITLE]
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        for block in msg.get("content") if isinstance(msg.get("content"), list) else []:
            if isinstance(block, dict) and block.get("type") == "compaction":
                lines.extend(str(block.get("content") or "").splitlines()[1:])
        if msg.get("role") == "user":
            for text in texts(msg):
                line = " ".join(text.split()[:words])
                if line:
                    lines.append(f"- {line}")
    return "\n".join(lines)


class Thinker:
    """Issues signed thinking blocks and checks the ones that come back."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    def thinking(self, text: str) -> dict[str, Any]:
        signature = self._signer.sign("thinking", text)
        return {"type": "thinking", "thinking": text, "signature": signature}

    def redacted(self) -> dict[str, Any]:
        nonce = secrets.token_hex(12)
        return {
            "type": "redacted_thinking",
            "data": f"{nonce}.{self._signer.sign('redacted', nonce)}",
        }

    def check(self, body: dict[str, Any]) -> None:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        for i, j, block in _blocks(messages):
            kind = block.get("type")
            if kind == "thinking" and not self._signer.verify(
                "thinking", str(block.get("thinking")), block.get("signature")
            ):
                raise bad_request(
                    f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                )
            if kind == "redacted_thinking":
                nonce, _, signature = str(block.get("data")).partition(".")
                if not self._signer.verify("redacted", nonce, signature):
                    raise bad_request(
                        f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
                    )
        if wants_thinking(body):
            _check_tool_loop_starts_with_thinking(messages)


def _check_tool_loop_starts_with_thinking(messages: list[dict[str, Any]]) -> None:
    if len(messages) < 2 or messages[-1].get("role") != "user":
        return
    last = messages[-1].get("content")
    if not isinstance(last, list) or not any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in last
    ):
        return
    i = len(messages) - 2
    content = messages[i].get("content")
    blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
    j = 0
    while j < len(blocks) and blocks[j].get("type") == "compaction":
        j += 1
    found = blocks[j].get("type") if j < len(blocks) else "text"
    if messages[i].get("role") == "assistant" and found not in _THINKING:
        raise bad_request(
            f"messages.{i}.content.{j}.type: Expected `thinking` or `redacted_thinking`, but "
            f"found `{found}`. When `thinking` is enabled, a final `assistant` message must "
            "start with a thinking block (preceeding the lastmost set of `tool_use` and "
            "`tool_result` blocks). We recommend you include thinking blocks from previous "
            "turns. To avoid this requirement, disable `thinking`. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
        )
