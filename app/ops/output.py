"""What the operator commands print: aligned tables for a terminal, JSON for scripts.

With ``--json`` a command writes exactly one JSON document to stdout and nothing else
(diagnostics go to stderr), so ``python -m app sessions list --json | jq`` always works.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Collection, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any


def when(moment: datetime | None) -> str:
    """``2026-11-21 07:38:33`` (UTC; the store keeps UTC throughout)."""
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def ago(moment: datetime, now: datetime) -> str:
    """A short age: ``45s``, ``12m``, ``3h 20m``, ``5d 4h``."""
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 24:
        return f"{hours}h {minutes % 60}m"
    return f"{hours // 24}d {hours % 24}h"


def count(n: int) -> str:
    """Thousands separated, for token counts."""
    return f"{n:,}"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] = ()
) -> str:
    """Columns padded to their widest cell; ``right`` names the columns to right-align."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    last = len(headers) - 1

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, cell in enumerate(cells):
            if i in right:
                parts.append(cell.rjust(widths[i]))
            elif i == last:
                parts.append(cell)  # no trailing blanks
            else:
                parts.append(cell.ljust(widths[i]))
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """``Label   value`` lines with the values aligned."""
    width = max((len(label) for label, _ in pairs), default=0)
    return "\n".join(f"{label.ljust(width)}  {value}".rstrip() for label, value in pairs)


# Terminal control characters: C0 (but newline and tab), DEL and C1. ESC (\x1b) and CSI
# (\x9b) start the escape sequences that move the cursor, recolour or retitle a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str, *, multiline: bool = False) -> str:
    """``text`` safe for a terminal: every control character shown as an escape (``\\x1b``),
    so stored text cannot move the cursor, recolour or retitle the operator's terminal.
    ``multiline`` keeps newlines and tabs; otherwise they are escaped too (a name or key is
    one line, and must not pass for several)."""
    pattern = _CONTROL if multiline else _CONTROL_OR_BREAK
    return pattern.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def emit_json(document: Any) -> None:
    """Write ``document`` as the one JSON value on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=_plain) + "\n")


def error(message: str) -> None:
    """A diagnostic for the operator, on stderr (stdout stays clean for ``--json``)."""
    print(f"threadline: {message}", file=sys.stderr)


def one_line(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
