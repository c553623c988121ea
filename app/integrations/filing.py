"""What filing or linking an item from a conversation means, as pure functions.

Shared by the GitHub and Jira tools: the footer that links a created item back to its Slack
thread, checks on the arguments Claude sends, and the sentences Claude reads back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from app.core import KeyClaim
from app.errors import IntegrationError, NotFound

log = logging.getLogger(__name__)

MAX_TITLE: Final = 250
MAX_BODY: Final = 60_000


class InvalidInput(ValueError):
    """A tool argument is missing or malformed; the message is written for Claude."""


def filing_footer(thread_link: str | None, session_id: str) -> str:
    """The Markdown footer appended to a created item's body, pointing back to the thread."""
    where = (
        f"Filed from Slack by Threadline: {thread_link}" if thread_link else ("Filed by Threadline")
    )
    return f"\n\n---\n_{where} · session `{session_id}`_"


def with_footer(body: str, thread_link: str | None, session_id: str) -> str:
    return body.rstrip() + filing_footer(thread_link, session_id)


async def thread_link_or_none(thread_link: Callable[[], Awaitable[str | None]]) -> str | None:
    """The thread permalink, or None when it cannot be had.

    The footer is a courtesy: failing to build it (Slack unreachable, any error of the
    provider) must not stop the item from being filed, hence the broad catch.
    """
    try:
        return await thread_link()
    except Exception:
        log.warning("could not get the thread permalink for a filing footer", exc_info=True)
        return None


# -- arguments --------------------------------------------------------------------------------


def text_arg(
    args: Mapping[str, Any],
    name: str,
    *,
    max_len: int,
    min_len: int = 0,
    one_line: bool = False,
    default: str | None = None,
) -> str:
    """A string argument within length limits; ``one_line`` collapses whitespace (titles)."""
    value = args.get(name, default)
    if value is None:
        raise InvalidInput(f"{name} is required.")
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, got {_json_type(value)}.")
    if one_line:
        value = " ".join(value.split())
    if len(value.strip()) < min_len:
        raise InvalidInput(f"{name} must not be empty.")
    if len(value) > max_len:
        raise InvalidInput(f"{name} must be at most {max_len:,} characters, got {len(value):,}.")
    return value


def positive_int_arg(args: Mapping[str, Any], name: str) -> int:
    value = args.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a positive whole number, got {_json_type(value)}.")
    if value <= 0:
        raise InvalidInput(f"{name} must be a positive whole number, got {value}.")
    return value


def pattern_arg(args: Mapping[str, Any], name: str, pattern: re.Pattern[str], example: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} is required, as a string like {example}.")
    value = value.strip()
    if not pattern.match(value):
        raise InvalidInput(f"{name} must look like {example}, got {value[:80]!r}.")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


# -- sentences for Claude ---------------------------------------------------------------------


def not_allowed(kind: str, value: str, allowed: frozenset[str], setting: str) -> str:
    listing = ", ".join(sorted(allowed)) or "(none)"
    return (
        f"{kind} {value!r} is not allowed: only {listing} can be used (set by {setting}). "
        f"Ask the user which of these to use; adding another {kind.lower()} is an operator's job."
    )


def upstream_failure(err: IntegrationError, doing: str) -> str:
    """A sentence for Claude explaining why ``doing`` failed and what to do next."""
    said = f"{err.service} said: {err.message}" if err.status else f"{err.service} {err.message}"
    if isinstance(err, NotFound):
        return f"Could not {doing}: {err.service} {err.message}."
    if err.status in (401, 403):
        advice = (
            "This is a configuration problem only an operator can fix; tell the user it "
            "could not be done."
        )
    elif err.status == 429:
        advice = "Tell the user; it can be tried again later."
    elif err.status is not None and 400 <= err.status < 500:
        advice = "Fix what was rejected and try again, or tell the user what was wrong."
    else:
        advice = (
            f"{err.service} seems to be unavailable right now; tell the user and suggest "
            "trying again in a few minutes."
        )
    return f"Could not {doing}. {said}. {advice}"


def linked_sentence(claim: KeyClaim, what: str, where: str) -> str:
    """How the key registration went, for an item that exists upstream."""
    if claim.registered:
        return (
            f"It is linked to this conversation: comments on {what} will come back here and "
            f"be answered on {where}."
        )
    return (
        f"{what[0].upper()}{what[1:]} is already linked to another conversation (session "
        f"{claim.owner_session_id}), so comments on it go to that conversation, not this one."
    )
