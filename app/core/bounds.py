"""Bounded input: a message longer than ``MAX_MESSAGE_CHARS`` is cut before it is queued.

The edges (Slack events, GitHub and Jira comments) cut what people write with
``cut_message`` and keep the original length in ``Inbound.cut_from``, so the turn can tell
Claude (``cut_marker``) and the person (``cut_notice``) that only the beginning was read.

The limit bounds what reaches Claude, not only the raw text: a comment reaches Claude quoted
(``core.text.quote`` puts ``> `` before every line, so 20,000 empty lines would double), and a
line of a message starting with ``[`` may be escaped with one ``\\`` so it cannot pass for an
author header. ``rendered_size`` counts both, so at ``max_chars`` = 40,000 the author header,
the text and the marker stay under 42,000 characters together.

Where it cuts, in order of preference:

1. after the last whole line that fits, unless that keeps less than half of the limit;
2. else (one very long line) after the last word that fits, unless that too keeps less than
   half of the limit;
3. else (a long run without spaces: a pasted blob) at the limit itself.

A cut never separates a surrogate pair, a combining mark or a joiner from the character it
belongs to, so the kept text is still well-formed.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from app.core.text import QUOTE

# Characters that belong to the one before them: cutting just before one would leave the
# kept text ending in half a character (an emoji without its skin tone, an e without accent).
_JOINERS: Final = frozenset({"\u200d", "\u200c", "\u034f"})


def rendered_size(text: str, *, quoted: bool = False) -> int:
    """The most characters ``text`` can take once it reaches Claude: quoted, ``> `` on every
    line; else one ``\\`` more for each line starting with ``[`` (the header escape)."""
    lines = text.split("\n")
    if quoted:
        return len(text) + len(QUOTE) * len(lines)
    return len(text) + sum(1 for line in lines if line.startswith("["))


def cut_message(text: str, max_chars: int, *, quoted: bool = False) -> tuple[str, int | None]:
    """``(text, None)`` when it fits in ``max_chars`` (as ``rendered_size`` counts it), else
    ``(its beginning, len(text))``: cut where the module docstring says."""
    if max_chars <= 0:
        raise ValueError("max_chars must be positive")
    if rendered_size(text, quoted=quoted) <= max_chars:
        return text, None
    per_line = len(QUOTE) if quoted else 0
    enough = max_chars // 2
    used = 0
    end = 0  # the kept text is text[:end]
    start = 0
    while True:
        newline = text.find("\n", start)
        line_end = len(text) if newline < 0 else newline
        escape = 0 if quoted else int(text.startswith("[", start))
        cost = line_end - start + per_line + escape
        # Joining a line costs its newline too, except for the first.
        joined = used + cost + (1 if start else 0)
        if joined > max_chars:
            break
        used, end, start = joined, line_end, line_end + 1
    if end >= enough:
        return text[:end].rstrip(), len(text)
    # The line at ``start`` does not fit: cut inside it, with what room is left.
    escape = 0 if quoted else int(text.startswith("[", start))
    room = max_chars - used - (1 if start else 0) - per_line - escape
    limit = start + max(room, 0)
    space = max(text.rfind(" ", start, limit + 1), text.rfind("\t", start, limit + 1))
    cut = space if space >= 0 and space >= enough else limit
    return text[: _whole_characters(text, cut)].rstrip(), len(text)


def _whole_characters(text: str, cut: int) -> int:
    """``cut`` moved back until it does not split a character from what belongs to it."""
    while 0 < cut < len(text):
        here, before = text[cut], text[cut - 1]
        if "\udc00" <= here <= "\udfff" and "\ud800" <= before <= "\udbff":
            cut -= 1  # the low half of a surrogate pair
        elif unicodedata.combining(here) or here in _JOINERS or before in _JOINERS:
            cut -= 1
        elif "\ufe00" <= here <= "\ufe0f" or "\U0001f3fb" <= here <= "\U0001f3ff":
            cut -= 1  # a variation selector or a skin tone modifier
        else:
            break
    return cut


def cut_notice(cut_from: int, max_chars: int) -> str:
    """What the person is told when their message was cut (shown with the answer)."""
    return (
        f"Your message was too long ({cut_from:,} characters, over the limit of "
        f"{max_chars:,}), so I read only its beginning."
    )


def cut_marker(cut_from: int, max_chars: int) -> str:
    """What Claude is told after a message that was cut (its own line, after the text)."""
    return (
        f"[This message was cut: it had {cut_from:,} characters, over the limit of "
        f"{max_chars:,}. Only its beginning is shown; the rest was not kept. Say so if the "
        "rest could matter to your answer.]"
    )
