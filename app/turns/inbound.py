"""Transitional helpers (being moved to the surfaces)."""

from __future__ import annotations

from app.core import ConversationKey


def comment_ref(source: str, item_ref: str | None, comment_id: str | None) -> str:
    if source == "jira":
        return f"jira:comment:{item_ref}/{comment_id}"
    return f"{source}:comment:{comment_id}"


def platform_of(key: str) -> str:
    return ConversationKey.platform_of(key)
