"""The user message of a turn, as Claude reads it, and the note shown with the answer.

In order: the surface's author header and the text (quoted when it is a comment on an item:
material to read, not the voice of someone in the conversation), a line saying the message
was cut when it was, what was said around it since the bot last looked (quoted), and a last
line saying who will read the answer.
"""

from __future__ import annotations

from typing import Any

from app.agent.prompt import audience_line, user_message
from app.core import Inbound
from app.core.bounds import cut_marker, cut_notice
from app.core.text import quote
from app.surfaces.base import Surface


def compose(
    surface: Surface,
    inbound: Inbound,
    *,
    context: str | None,
    audience: str,
    where: str,
    max_chars: int,
    ours: bool = False,
) -> dict[str, Any]:
    """``ours``: the text is the bot's own (the outcome of an approval), not a person's."""
    body = quote(inbound.text) if surface.is_item else inbound.text
    message = user_message(surface.author_header(inbound), body, ours=ours)
    blocks: list[dict[str, Any]] = message["content"]
    if inbound.cut_from:
        blocks.append({"type": "text", "text": cut_marker(inbound.cut_from, max_chars)})
    if context:
        blocks.append({"type": "text", "text": context})
    blocks.append({"type": "text", "text": audience_line(audience, where)})
    return message


def with_cut_notice(note: str | None, inbound: Inbound, max_chars: int) -> str | None:
    """The answer's note, with a line telling the person their message was cut."""
    if not inbound.cut_from:
        return note
    cut = f"_{cut_notice(inbound.cut_from, max_chars)}_"
    return cut if not note else f"{cut}\n{note}"


def place_name(surface: Surface, inbound: Inbound) -> str:
    """Where an answer is read: ``Slack``, ``GitHub acme/widgets#42``."""
    return f"{surface.title} {inbound.item_ref}" if inbound.item_ref else surface.title
