"""Who can read a place a conversation reaches.

A session that holds anything said inside the organisation is ``INTERNAL``; its content must
not be posted where people outside it read (``PUBLIC``). Each surface says which level a
place has; the trust rules decide what that allows.
"""

from __future__ import annotations

from enum import StrEnum


class Audience(StrEnum):
    INTERNAL = "internal"  # people of the organisation only (workspace channels, private repos)
    PUBLIC = "public"  # anyone, or another organisation (public repos, Slack Connect)

    def allows(self, content: Audience) -> bool:
        """Whether content of level ``content`` may be shown to this audience."""
        return self is Audience.INTERNAL or content is Audience.PUBLIC
