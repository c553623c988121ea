"""What follows a failed model call, and what the user is told: pure decisions and sentences.

``after_model_error`` is the "Failures of a turn" table of the design:

| failure | also | action | outcome |
|---|---|---|---|
| ``TOO_LONG`` | compaction on, history, nothing shown, not compacted yet | compact, retry once | (the retry's) |
| ``TOO_LONG`` | ``COMPACTION=off``, history, nothing shown | drop, retry fresh | ``context_rejected`` |
| ``TOO_LONG`` | otherwise (no history, answer shown, compacted already) | note | ``message_rejected`` |
| ``COMPACTION_UNSUPPORTED`` | nothing shown, not fallen back yet | client compaction, retry | (the retry's) |
| ``COMPACTION_UNSUPPORTED`` | otherwise | note | ``compaction_refused`` |
| ``CONTEXT_REJECTED`` | history, nothing shown | drop, retry fresh | ``context_rejected`` |
| ``CONTEXT_REJECTED`` | otherwise | note | ``message_rejected`` |
| ``CONFIGURATION`` | | note | ``configuration_error`` |
| ``TRANSIENT`` | | note | ``transient_error`` |

A session is dropped only when its stored history can be the cause and the user has not seen a
partial answer (a retry would repeat it). A conversation that is merely too long is compacted
and kept. Every note a user reads carries the turn id and never any exception text.
"""  # noqa: E501

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

from app.agent.model import Classified, Failure


def new_turn_id() -> str:
    """A short id that appears in the logs and in every note the user sees."""
    return "t-" + secrets.token_hex(5)


class Action(enum.Enum):
    NOTE = "note"  # tell the user; the session stays as it was
    RETRY_FRESH = "retry_fresh"  # drop the session, run once more on a new (seeded) one
    COMPACT = "compact"  # summarise the older turns, then run once more
    FALL_BACK = "fall_back"  # compact on our side from now on, then run once more


@dataclass(frozen=True)
class Decision:
    action: Action
    outcome: str  # recorded per turn and exported as a metric label (for a note)
    note: str | None  # what the user reads (None: nothing to add)

    @property
    def retry_fresh(self) -> bool:
        return self.action is Action.RETRY_FRESH


def after_model_error(
    failure: Classified,
    *,
    had_history: bool,
    answer_started: bool,
    turn_id: str,
    compaction: str = "server",
    compacted: bool = False,
    fell_back: bool = False,
) -> Decision:
    """Choose what follows a failed model call (the table above).

    ``compaction`` is the model's mode now (``server``, ``client`` or ``off``); ``compacted``
    says this turn already compacted (or tried to), ``fell_back`` that it already moved to
    client compaction after a refusal.
    """
    kind = failure.failure
    retry_allowed = had_history and not answer_started
    if kind is Failure.TOO_LONG:
        if compaction == "off":
            if retry_allowed:
                return Decision(Action.RETRY_FRESH, "context_rejected", None)
        elif retry_allowed and not compacted:
            return Decision(Action.COMPACT, "compacting", None)
        return Decision(Action.NOTE, "message_rejected", too_large_note(turn_id))
    if kind is Failure.COMPACTION_UNSUPPORTED:
        if not answer_started and not fell_back:
            return Decision(Action.FALL_BACK, "falling_back", None)
        return Decision(Action.NOTE, "compaction_refused", configuration_note(turn_id))
    if kind is Failure.CONTEXT_REJECTED:
        if retry_allowed:
            return Decision(Action.RETRY_FRESH, "context_rejected", None)
        return Decision(Action.NOTE, "message_rejected", too_large_note(turn_id))
    if kind is Failure.CONFIGURATION:
        return Decision(Action.NOTE, "configuration_error", configuration_note(turn_id))
    return Decision(Action.NOTE, "transient_error", try_again_note(turn_id))


def compacted_note() -> str:
    return "_I summarised the older part of this conversation._"


def reset_note() -> str:
    return (
        "_I had to start this conversation over: its earlier context could no longer be "
        "used, so I answered from a fresh start._"
    )


def reseeded_note() -> str:
    return (
        "_I had to start this conversation over: its earlier context could no longer be "
        "used, so I picked it up again from what was said in this thread._"
    )


def try_again_note(turn_id: str) -> str:
    return (
        "_I couldn't reach Claude just now (it is busy or the connection failed). Nothing was "
        f"lost; please try again in a minute. (turn `{turn_id}`)_"
    )


def configuration_note(turn_id: str) -> str:
    return (
        "_I can't answer right now because of a problem with my configuration. An operator "
        f"can find the details in the logs. (turn `{turn_id}`)_"
    )


def too_large_note(turn_id: str) -> str:
    return (
        "_That message is too large for me to read in one go. Could you shorten it, or share "
        f"the key parts? Our conversation so far is kept. (turn `{turn_id}`)_"
    )


def gave_up_note(turn_id: str) -> str:
    return (
        "_I couldn't process this message after several attempts. An operator can find the "
        f"details in the logs. (turn `{turn_id}`)_"
    )


def internal_error_note(turn_id: str) -> str:
    return (
        "_Something went wrong on my side while answering. Our conversation so far is kept; "
        f"an operator can find the details in the logs. (turn `{turn_id}`)_"
    )
