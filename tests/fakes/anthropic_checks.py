"""The request checks of the fake Anthropic API that do not depend on what it issued before.

Each raises ``ApiError`` with the real API's status, type and wording (the app classifies
failures by them), and returns quietly when the request passes.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.anthropic_steps import ApiError, bad_request


def check_fields(
    body: dict[str, Any],
    *,
    need_max_tokens: bool,
    valid_models: set[str],
    max_output_tokens: int,
) -> None:
    """Required fields, ``max_tokens`` within the model's output limit, a known model."""
    for name in ("model", "max_tokens", "messages") if need_max_tokens else ("model", "messages"):
        if name not in body:
            raise bad_request(f"{name}: Field required")
    if need_max_tokens:
        mt = body["max_tokens"]
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
            raise bad_request("max_tokens: Input should be greater than or equal to 1")
        if mt > max_output_tokens:
            raise bad_request(
                f"max_tokens: {mt} > {max_output_tokens}, which is the maximum allowed "
                f"number of output tokens for {body['model']}"
            )
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages: at least one message is required")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            raise bad_request(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in msg:
            raise bad_request(f"messages.{i}.content: Field required")
    if body["model"] not in valid_models:
        raise ApiError(404, "not_found_error", f"model: {body['model']}")


def check_content(messages: list[dict[str, Any]]) -> None:
    """The checks of the real API that history bugs most often trip: empty content, and
    ``tool_use`` / ``tool_result`` pairing."""
    last = len(messages) - 1
    for i, msg in enumerate(messages):
        content = msg["content"]
        if content in ("", []) and not (i == last and msg["role"] == "assistant"):
            raise bad_request(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        blocks = content if isinstance(content, list) else []
        for j, block in enumerate(blocks):
            if isinstance(block, dict) and block.get("type") == "text":
                text = block.get("text")
                if not text:
                    raise bad_request(
                        f"messages.{i}.content.{j}.text: text content blocks must be non-empty"
                    )
                if not str(text).strip():
                    raise bad_request(
                        f"messages.{i}.content.{j}.text: text content blocks must "
                        "contain non-whitespace text"
                    )
        if msg["role"] == "assistant":
            _check_answered(messages, i, blocks)
        else:
            _check_results_asked(messages, i, blocks)


def _check_answered(messages: list[dict[str, Any]], i: int, blocks: list[Any]) -> None:
    last = len(messages) - 1
    use_ids = [b.get("id") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
    if not use_ids:
        return
    nxt = messages[i + 1] if i < last else None
    nxt_blocks = nxt["content"] if nxt and isinstance(nxt["content"], list) else []
    answered = {
        b.get("tool_use_id")
        for b in nxt_blocks
        if isinstance(b, dict) and b.get("type") == "tool_result"
    }
    missing = [u for u in use_ids if u not in answered]
    if nxt is None or nxt["role"] != "user" or missing:
        ids = ", ".join(str(u) for u in (missing or use_ids))
        raise bad_request(
            f"messages.{min(i + 1, last)}: `tool_use` ids were found without "
            f"`tool_result` blocks immediately after: {ids}. Each `tool_use` block "
            "must have a corresponding `tool_result` block in the next message."
        )


def _check_results_asked(messages: list[dict[str, Any]], i: int, blocks: list[Any]) -> None:
    prev = messages[i - 1] if i > 0 else None
    prev_blocks = prev["content"] if prev and isinstance(prev["content"], list) else []
    known = {
        b.get("id")
        for b in prev_blocks
        if isinstance(b, dict)
        and b.get("type") == "tool_use"
        and prev is not None
        and prev["role"] == "assistant"
    }
    for j, block in enumerate(blocks):
        if (
            isinstance(block, dict)
            and block.get("type") == "tool_result"
            and block.get("tool_use_id") not in known
        ):
            raise bad_request(
                f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                f"`tool_result` blocks: {block.get('tool_use_id')}. Each "
                "`tool_result` block must have a corresponding `tool_use` block in "
                "the previous message."
            )
