"""What to tell the user after a turn: pure decisions and the sentences themselves."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from app.agent.model import Classified, Failure


def new_turn_id() -> str:
    """A short id that appears in the logs and in every note the user sees."""
    return "t-" + secrets.token_hex(5)


@dataclass(frozen=True)
class Decision:
    retry_fresh: bool  # drop the stored session and run once more without history
    outcome: str  # recorded per turn and exported as a metric label
    note: str | None  # what the user reads (None: nothing to add)


def after_model_error(
    failure: Classified, *, had_history: bool, answer_started: bool, turn_id: str
) -> Decision:
    """Choose what follows a failed model call.

    The stored session is dropped only when it can be the cause: the model rejected the
    request, there was history to blame, and the user has not seen a partial answer yet. A
    message that is too large on its own keeps the session and gets a polite answer.
    """
    if failure.failure is Failure.CONTEXT_REJECTED:
        if had_history and not answer_started:
            return Decision(True, "context_rejected", None)
        return Decision(False, "message_rejected", too_large_note(turn_id))
    if failure.failure is Failure.CONFIGURATION:
        return Decision(False, "configuration_error", configuration_note(turn_id))
    return Decision(False, "transient_error", try_again_note(turn_id))


def reset_note() -> str:
    return (
        "_I had to start this conversation over: its earlier context could no longer be "
        "used, so I answered from a fresh start._"
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
