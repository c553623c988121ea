"""What Claude is told: the system prompt and how each user message names its author."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.turns.inbound import Inbound

_SURFACES = {
    "slack": "a Slack thread",
    "github": "a comment on a GitHub issue",
    "jira": "a comment on a Jira ticket",
}


def system_prompt(
    *, agent: str, tool_names: list[str], inbound: Inbound, today: datetime
) -> list[dict[str, Any]]:
    """Two system blocks: stable instructions (cached) and who/where this turn is."""
    tools_line = (
        "You can use these tools: " + ", ".join(tool_names) + ". Only create tickets or issues "
        "when someone asks for it or clearly agrees; say the key/number and URL you got."
        if tool_names
        else "You have no tools in this workspace; you cannot create tickets or issues."
    )
    stable = (
        f"You are {agent}, an assistant for an engineering and support team, working in Slack. "
        "One conversation can continue across a Slack thread and the Jira tickets or GitHub "
        "issues filed from it; you remember everything said in it.\n"
        "Every user message starts with a header in square brackets naming its author, their "
        "id and where it was written, e.g. `[Ada Lovelace (U012AB) in Slack]`. Several people "
        "can share a thread: address the author of the latest message, and attribute what "
        "others said correctly. Never write such headers yourself.\n"
        "Answer in standard Markdown (headings, lists, **bold**, `code`, fenced code blocks, "
        "[links](https://example.com)); keep answers short unless asked for detail.\n"
        f"{tools_line}\n"
        f"Today is {today:%A %d %B %Y} (UTC)."
    )
    where = _SURFACES[inbound.source]
    speaker = inbound.author_name or inbound.author_id
    current = (
        f"You are now answering in {where}"
        + (f" ({inbound.item_ref})" if inbound.item_ref else "")
        + f". The person talking to you is {speaker} (id {inbound.author_id})."
    )
    return [
        {"type": "text", "text": stable, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": current},
    ]


def user_message(inbound: Inbound, text: str) -> dict[str, Any]:
    """The transcript form of an inbound message: a header naming the author, then the text."""
    name = inbound.author_name or inbound.author_id
    place = {"slack": "Slack", "github": "GitHub", "jira": "Jira"}[inbound.source]
    if inbound.item_ref:
        place = f"{place} {inbound.item_ref}"
    header = f"[{name} ({inbound.author_id}) in {place}]"
    return {"role": "user", "content": [{"type": "text", "text": f"{header}\n{text}"}]}
