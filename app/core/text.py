"""Untrusted text kept as data: names that cannot pose as headers, quoted material.

Everything a person outside the bot wrote (names, comments, thread context, tool results)
reaches Claude either as a cleaned name or as quoted lines, so none of it can pass for one of
the author headers (``[Ada Lovelace (U1) in Slack]``) that say who is speaking.
"""

from __future__ import annotations

import re
from typing import Final

QUOTE: Final = "> "
MAX_NAME: Final = 80

_NOT_IN_NAMES = re.compile(r"[\[\]()<>{}\r\n\t\x00-\x1f\x7f\u2028\u2029]")


def clean_name(name: str | None, fallback: str = "someone") -> str:
    """A display name safe to put in a header or a notice: no brackets, angle brackets or
    line breaks, whitespace collapsed, at most ``MAX_NAME`` characters."""
    cleaned = " ".join(_NOT_IN_NAMES.sub(" ", name or "").split())[:MAX_NAME].strip()
    return cleaned or fallback


# Everything a reader may take for a line break (str.splitlines' set).
LINE_BREAKS: Final = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def one_kind_of_line_break(text: str) -> str:
    """``text`` with every kind of line break made ``\n``."""
    return LINE_BREAKS.sub("\n", text)


def quote(text: str) -> str:
    """``text`` with every line prefixed by ``> `` (empty lines too, and lines broken by any
    kind of line break), so no line of it can start a header or pass for the bot's own
    words."""
    return "\n".join(QUOTE + line for line in one_kind_of_line_break(text).split("\n"))
