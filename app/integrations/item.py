"""An issue or ticket on GitHub or Jira, as the clients hand it back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Platform = Literal["github", "jira"]


@dataclass(frozen=True)
class Item:
    """One GitHub issue (``number``) or Jira ticket (``key``).

    ``ref`` is the short printable reference (``acme/widgets#42``, ``AD-12``), ``url`` the page
    a person opens, ``state`` is ``open`` or ``closed`` on both platforms; ``status`` keeps
    Jira's own workflow status name ("To Do", "Done") when known.
    """

    platform: Platform
    ref: str
    url: str
    title: str
    state: str
    number: int | None = None
    key: str | None = None
    status: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state == "open"
