"""Pure text shaping for Slack: splitting long answers, building message payloads, and
keeping group pings out of everything the bot posts.

``no_group_pings`` is the one choke point for what reaches Slack: ``markdown_message`` (every
``chat.postMessage``/``chat.update``/``chat.postEphemeral`` built here) and ``SlackReply``'s
writers (streamed text) apply it, so neither Claude's output nor an echoed name can notify a
whole channel or a user group.
"""

from __future__ import annotations

import re
from typing import Any, Final

# Slack's markdown block and each streaming append take at most 12,000 characters; we stay
# well inside so a paragraph that pushes a message over can start the next one.
MESSAGE_LIMIT: Final = 11_000

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
# <!here>, <!channel>, <!everyone>, <!subteam^S123>, each maybe with a |label.
_GROUP_PING = re.compile(
    r"<!(?P<kind>here|channel|everyone|group|subteam\^[^|>]*)(?:\|(?P<label>[^>]*))?>",
    re.IGNORECASE,
)
# The same words typed plainly: a markdown block may turn them into pings too.
_BARE_PING = re.compile(r"(?<![\w.@])@(here|channel|everyone)\b", re.IGNORECASE)
# Between "@" and the word, so it still reads "@here" but no longer notifies anyone.
_JOINER = "\u2060"


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


def no_group_pings(text: str) -> str:
    """``text`` with every channel-wide or group mention made inert: ``<!here>``,
    ``<!channel>``, ``<!everyone>``, ``<!subteam^…>`` (with or without a ``|label``) and the
    bare words ``@here``/``@channel``/``@everyone`` still read as such but notify nobody.
    Mentions of single people are kept. Idempotent."""
    text = _GROUP_PING.sub(_inert_group, text)
    return _BARE_PING.sub(lambda m: f"@{_JOINER}{m.group(1)}", text)


def _inert_group(match: re.Match[str]) -> str:
    kind = match.group("kind").lower()
    label = (match.group("label") or "").strip().lstrip("@")
    if not label:
        label = "group" if kind.startswith("subteam^") else kind
    return f"@{_JOINER}{label}"


def markdown_message(text: str, *, thread_ts: str | None = None) -> dict[str, Any]:
    """chat.update / chat.postEphemeral arguments that render ``text`` as Markdown, in the
    thread ``thread_ts`` when given, with group pings made inert.

    A ``markdown`` block renders standard Markdown (Claude's output) natively; ``text`` is the
    notification fallback.
    """
    text = no_group_pings(text)
    message: dict[str, Any] = {"text": text[:3000], "blocks": [{"type": "markdown", "text": text}]}
    if thread_ts:
        message["thread_ts"] = thread_ts
    return message


def new_message(text: str, *, thread_ts: str | None = None) -> dict[str, Any]:
    """chat.postMessage arguments: ``markdown_message`` without link or media previews, so a
    posted answer never pulls a page's or an image's content into the channel."""
    return {
        **markdown_message(text, thread_ts=thread_ts),
        "unfurl_links": False,
        "unfurl_media": False,
    }
