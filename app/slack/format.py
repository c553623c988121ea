"""Pure text shaping for Slack: splitting long answers and building message payloads."""

from __future__ import annotations

import re
from typing import Any, Final

# Slack's markdown block and each streaming append take at most 12,000 characters; we stay
# well inside so a paragraph that pushes a message over can start the next one.
MESSAGE_LIMIT: Final = 11_000

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters without losing any of it.

    Cuts prefer paragraph boundaries, then line boundaries, then spaces; only a single word
    longer than ``limit`` is ever cut mid-word. Joining the parts with the separators that were
    cut at gives back the original text (modulo the separator whitespace itself).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    text = text.strip("\n")
    parts: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = _best_cut(window, limit)
        head, tail = text[:cut].rstrip(), text[cut:].lstrip("\n ")
        if head:
            parts.append(head)
        text = tail
    if text.strip():
        parts.append(text)
    return parts


def _best_cut(window: str, limit: int) -> int:
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator, 0, limit + 1)
        if at > 0:
            return at
    return limit


def strip_mentions(text: str, bot_user_id: str | None) -> str:
    """Remove mentions of the bot itself; keep mentions of people."""
    if not bot_user_id:
        return text.strip()
    return _MENTION.sub(lambda m: "" if m.group(1) == bot_user_id else m.group(0), text).strip()


def markdown_message(text: str, *, thread_ts: str | None = None) -> dict[str, Any]:
    """chat.postMessage / chat.update arguments that render ``text`` as Markdown, in the
    thread ``thread_ts`` when given.

    A ``markdown`` block renders standard Markdown (Claude's output) natively; ``text`` is the
    notification fallback.
    """
    message: dict[str, Any] = {"text": text[:3000], "blocks": [{"type": "markdown", "text": text}]}
    if thread_ts:
        message["thread_ts"] = thread_ts
    return message
