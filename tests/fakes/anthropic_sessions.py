"""The state the fake Managed Agents API keeps, and how it answers it: a session and its
events, a request it recorded, resources as the API shows them, and paging by opaque cursor."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.fakes.anthropic_steps import bad_request
from tests.fakes.anthropic_webhooks import now, stamp


@dataclass
class FakeSession:
    """A session and every event it has, oldest first (what ``events.list`` pages through)."""

    id: str
    agent: dict[str, Any]
    environment_id: str
    title: str | None
    metadata: dict[str, str]
    resources: list[dict[str, Any]]
    budget: dict[str, Any] | None
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    status: str = "idle"
    archived_at: datetime | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    output_tokens: int = 0

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def texts(self) -> list[str]:
        """Every text of the agent's messages, oldest first."""
        return [
            b["text"]
            for e in self.events
            if e["type"] == "agent.message"
            for b in e["content"]
            if b.get("type") == "text"
        ]

    def user_texts(self) -> list[str]:
        return [
            b["text"]
            for e in self.events
            if e["type"] == "user.message"
            for b in e["content"]
            if b.get("type") == "text"
        ]

    def to_json(self) -> dict[str, Any]:
        elapsed = (self.updated_at - self.created_at).total_seconds()
        return {
            "type": "session",
            "id": self.id,
            "agent": self.agent,
            "environment_id": self.environment_id,
            "title": self.title,
            "metadata": self.metadata,
            "resources": self.resources,
            "budget": self.budget,
            "status": self.status,
            "created_at": stamp(self.created_at),
            "updated_at": stamp(self.updated_at),
            "archived_at": stamp(self.archived_at) if self.archived_at else None,
            "outcome_evaluations": [],
            "stats": {"active_seconds": elapsed, "duration_seconds": elapsed},
            "usage": {"input_tokens": 0, "output_tokens": self.output_tokens},
            "vault_ids": [],
            "deployment_id": None,
        }


@dataclass
class AgentCall:
    """One request to the Managed Agents endpoints and what it answered."""

    op: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0


AGENT_ONLY = ("metadata", "created_at", "updated_at", "archived_at")


def resource_json(param: dict[str, Any], rid: str, moment: datetime) -> dict[str, Any]:
    """A mounted resource as the API answers it: never the authorization token."""
    shown = {k: v for k, v in param.items() if k != "authorization_token"}
    if param["type"] == "github_repository":
        name = param["url"].rstrip("/").removesuffix(".git").rsplit("/", 1)[-1]
        shown["mount_path"] = param.get("mount_path") or f"/workspace/{name}"
        shown.setdefault("checkout", None)
    return {"id": rid, "created_at": stamp(moment), "updated_at": stamp(moment), **shown}


def needs_token(resource: dict[str, Any], private: set[str]) -> bool:
    """A private repository mounted without credentials: its clone fails."""
    if resource.get("type") != "github_repository" or resource.get("authorization_token"):
        return False
    name = resource["url"].removeprefix("https://github.com/").removesuffix(".git").strip("/")
    return name in private


def many(query: Any, name: str) -> list[str]:
    return [*query.getall(f"{name}[]", []), *query.getall(name, [])]


def one_page(items: list[Any], query: Any) -> tuple[list[Any], str | None, str | None]:
    """One page of ``items`` by the opaque cursor in ``page`` (``limit``: 1..1000, 20)."""
    try:
        limit = int(query.get("limit", "20"))
        start = int(base64.urlsafe_b64decode(query["page"]).decode()) if "page" in query else 0
    except (ValueError, UnicodeDecodeError) as err:
        raise bad_request("invalid limit or page cursor") from err
    if not 1 <= limit <= 1000 or start < 0:
        raise bad_request("limit must be between 1 and 1000")

    def cursor(offset: int) -> str:
        return base64.urlsafe_b64encode(str(offset).encode()).decode()

    end = start + limit
    next_page = cursor(end) if end < len(items) else None
    prev_page = cursor(max(0, start - limit)) if start > 0 else None
    return items[start:end], next_page, prev_page
