"""Logging: one line per event, with the turn id, session id and key when there is one.

``LOG_FORMAT=json`` writes one JSON object per line for log shippers. Message text and
secrets are never logged at INFO: the pipeline logs ids, outcomes and sizes only. As a second
line of defence, anything shaped like a Slack, Anthropic, GitHub or Jira credential, and the
password in a URL (``postgresql://user:pw@host``), is masked in every formatted line, whatever
its level. The database drivers' and SQLAlchemy's loggers stay at WARNING even with
``LOG_LEVEL=DEBUG``: at DEBUG and INFO they print statements with their parameters, which are
whole transcripts.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Final, TextIO

CONTEXT: Final = ("turn_id", "session_id", "key", "delivery")

# Credential shapes: Slack (xoxb-/xoxp-/xapp-…), Anthropic (sk-ant-…), GitHub (ghp_…,
# github_pat_…), Atlassian API tokens (ATATT…, base64url with an =checksum), and the token
# inside an Authorization header.
_SECRET = re.compile(
    r"\b(?:xox[abposr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,}|sk-ant-[A-Za-z0-9_-]{6,}"
    r"|gh[pousr]_[A-Za-z0-9]{10,}|github_pat_[A-Za-z0-9_]{10,}|ATATT[A-Za-z0-9_=-]{10,})"
    r"|(?<=[Bb]earer )[A-Za-z0-9._~+/=-]{8,}|(?<=[Bb]asic )[A-Za-z0-9+/=]{8,}"
)
# The password in a URL's user info: scheme://user:PASSWORD@host, up to the last "@" before
# a blank (a password may hold an unescaped "@"; masking too much is safe).
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)\S+(?=@)")
_MASK: Final = "[redacted]"
# Loggers that print SQL statements with their parameters (whole transcripts) below WARNING.
QUIET_DRIVERS: Final = ("aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.pool")


def redact(text: str) -> str:
    """``text`` with anything shaped like a credential, and any password in a URL, replaced
    by ``[redacted]``."""
    return _URL_PASSWORD.sub(rf"\1{_MASK}", _SECRET.sub(_MASK, text))


_bound: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "threadline_log_context", default=None
)


@contextlib.contextmanager
def bind(**context: str | None) -> Iterator[None]:
    """Add ``turn_id``/``session_id``/``key``/``delivery`` to every record logged inside.

    Tasks started inside inherit it (asyncio copies the context), so a turn's heartbeat,
    tools and Slack calls log with the turn's ids without passing them along. An ``extra``
    given to a single call still wins.
    """
    unknown = set(context) - set(CONTEXT)
    if unknown:
        raise ValueError(f"not a log context field: {', '.join(sorted(unknown))}")
    merged = {**(_bound.get() or {}), **{k: v for k, v in context.items() if v}}
    token = _bound.set(merged)
    try:
        yield
    finally:
        _bound.reset(token)


class ContextFilter(logging.Filter):
    """Gives every record the context attributes, from ``extra``, else from ``bind``, else
    None, for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        bound = _bound.get() or {}
        for name in CONTEXT:
            if not getattr(record, name, None):
                setattr(record, name, bound.get(name))
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message turn_id=… session_id=… key=…``."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in CONTEXT if getattr(record, name, None)
        )
        return redact(f"{base} {context}" if context else base)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT:
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record (it may be swapped,
    e.g. by a test runner capturing output)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def make_handler(fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """A handler with the context filter and the formatter for ``fmt`` (``text``/``json``)."""
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def configure(level: str = "INFO", fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Send the root logger to stderr (or ``stream``) in ``fmt``, at ``level``.

    Replaces a handler installed by an earlier call, and leaves other handlers alone.
    """
    handler = make_handler(fmt, stream)
    handler._threadline = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_threadline", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries log request bodies at DEBUG; keep them quiet unless asked.
    # Alembic narrates every schema lookup at INFO.
    for noisy in (
        "slack_bolt",
        "slack_sdk",
        "httpx",
        "httpx2",
        "httpcore",
        "anthropic",
        "aiohttp.access",
        "alembic",
        *QUIET_DRIVERS,
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
