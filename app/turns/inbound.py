"""The one shape every inbound message takes once verified, whatever surface it came from."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Source = Literal["slack", "github", "jira"]


@dataclass(frozen=True)
class Inbound:
    """A user message to answer, normalised at the edge and stored in the inbox as a payload.

    ``key`` is the printable conversation key the message arrived on; it is also the inbox
    lane, so messages of one conversation are handled in order.
    """

    source: Source
    key: str
    text: str
    author_id: str
    author_name: str | None = None
    # Slack
    channel: str | None = None
    thread_ts: str | None = None
    ts: str | None = None
    team_id: str | None = None
    is_dm: bool = False
    # GitHub / Jira: "acme/widgets#42" or "AD-12", where the answer is posted
    item_ref: str | None = None
    item_url: str | None = None
    comment_id: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Inbound:
        fields = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in payload.items() if k in fields})


def slack_key(agent: str, channel: str, thread: str) -> str:
    """``{agent}:slack:{channel}::{thread_ts}``; top-level DMs use ``main`` as the thread."""
    return f"{agent}:slack:{channel}::{thread}"


def github_key(agent: str, repo: str, number: int) -> str:
    return f"{agent}:github:{repo.lower()}#{number}"


def jira_key(agent: str, issue_key: str) -> str:
    return f"{agent}:jira:{issue_key.upper()}"


def comment_ref(source: str, item_ref: str | None, comment_id: str | None) -> str:
    """The ``Store.remember_posted`` ref of a comment: the reply router records ours under it
    and the webhooks look theirs up by it. Jira comment ids are per issue."""
    if source == "jira":
        return f"jira:comment:{item_ref}/{comment_id}"
    return f"{source}:comment:{comment_id}"


def platform_of(key: str) -> str:
    """The platform part of a printable key (``slack``, ``jira``, ``github``)."""
    parts = key.split(":", 2)
    return parts[1] if len(parts) == 3 else ""
