"""Logging: one line per event, with the turn id, session id and key when there is one.

``LOG_FORMAT=json`` writes one JSON object per line for log shippers. Message text and
secrets are never logged at INFO: the pipeline logs ids, outcomes and sizes only.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_CONTEXT = ("turn_id", "session_id", "key", "delivery")


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name in _CONTEXT:
            if not hasattr(record, name):
                setattr(record, name, None)
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in _CONTEXT if getattr(record, name, None)
        )
        return f"{base} {context}" if context else base


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT:
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries log request bodies at DEBUG; keep them quiet unless asked.
    for noisy in ("slack_bolt", "slack_sdk", "httpx", "httpcore", "anthropic", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
