"""How a step of a turn reads where steps are shown (Slack's task cards), when not simply as
the tool that ran: a job that goes on after its tool returned, a job's end told later."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StepStatus = Literal["pending", "in_progress", "complete", "error"]


@dataclass(frozen=True)
class TaskStep:
    """A step's title and status, with a line of details and a link to follow, if any."""

    title: str
    status: StepStatus
    details: str | None = None
    url: str | None = None
    url_text: str | None = None
