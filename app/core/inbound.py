"""The one shape every inbound message takes once verified, whatever surface it came from."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Inbound:
    """A user message to answer, normalised at the edge and stored in the inbox as a payload.

    ``source`` is the platform of the surface it came from (``slack``, ``github``, ``jira``);
    ``key`` is the printable conversation key it arrived on, and also its inbox lane, so the
    messages of one conversation are handled in order.
    """

    source: str
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
    comment_url: str | None = None  # the comment itself, for links back to it
    # Who can read the place it was written (an ``Audience`` value); None: the surface finds
    # out (e.g. asks Slack whether a channel is shared with another organisation).
    audience: str | None = None
    # Written by someone of another organisation (a Slack Connect guest); see EXTERNAL_USERS.
    external: bool = False
    # The length of what the person wrote when ``text`` is only its beginning (cut at
    # MAX_MESSAGE_CHARS by ``app.core.bounds.cut_message``); None: ``text`` is all of it.
    cut_from: int | None = None
    # Slack: a message in a thread the bot follows (FOLLOW_THREADS), not addressed to it with
    # a mention; it is answered as a message, never read as a command.
    followed: bool = False

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Inbound:
        fields = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in payload.items() if k in fields})

    @classmethod
    def maybe_from_payload(cls, payload: dict[str, Any]) -> Inbound | None:
        """The message in an inbox payload, or None when the delivery was something else
        (an approval click)."""
        if "kind" in payload:
            return None
        try:
            return cls.from_payload(payload)
        except TypeError:
            return None
