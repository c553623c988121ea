"""Pure decisions of a turn: classifying model errors and what follows them."""

from __future__ import annotations

import anthropic
import httpx2
import pytest

from app.agent.loop import with_cache_breakpoint
from app.agent.model import Failure, classify
from app.turns.outcome import after_model_error

REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/messages")


def status_error(status: int, kind: str) -> anthropic.APIStatusError:
    response = httpx2.Response(status, request=REQUEST)
    body = {"type": "error", "error": {"type": kind, "message": "m"}}
    cls = {
        400: anthropic.BadRequestError,
        401: anthropic.AuthenticationError,
        403: anthropic.PermissionDeniedError,
        404: anthropic.NotFoundError,
        429: anthropic.RateLimitError,
    }.get(status, anthropic.InternalServerError)
    return cls("m", response=response, body=body)


@pytest.mark.parametrize(
    ("exc", "failure", "setting"),
    [
        (status_error(400, "invalid_request_error"), Failure.CONTEXT_REJECTED, None),
        (status_error(401, "authentication_error"), Failure.CONFIGURATION, "ANTHROPIC_API_KEY"),
        (status_error(403, "permission_error"), Failure.CONFIGURATION, "ANTHROPIC_API_KEY"),
        (status_error(404, "not_found_error"), Failure.CONFIGURATION, "ANTHROPIC_MODEL"),
        (status_error(429, "rate_limit_error"), Failure.TRANSIENT, None),
        (status_error(529, "overloaded_error"), Failure.TRANSIENT, None),
        (status_error(500, "api_error"), Failure.TRANSIENT, None),
        (anthropic.APITimeoutError(request=REQUEST), Failure.TRANSIENT, None),
        (anthropic.APIConnectionError(request=REQUEST), Failure.TRANSIENT, None),
        (TimeoutError(), Failure.TRANSIENT, None),
    ],
)
def test_classify(exc: BaseException, failure: Failure, setting: str | None) -> None:
    result = classify(exc)
    assert result.failure is failure
    assert result.setting == setting


def test_rejection_drops_the_session_only_when_history_can_be_blamed() -> None:
    rejected = classify(status_error(400, "invalid_request_error"))
    assert after_model_error(
        rejected, had_history=True, answer_started=False, turn_id="t"
    ).retry_fresh
    no_history = after_model_error(rejected, had_history=False, answer_started=False, turn_id="t")
    assert not no_history.retry_fresh and "too large" in (no_history.note or "")
    shown = after_model_error(rejected, had_history=True, answer_started=True, turn_id="t")
    assert not shown.retry_fresh


def test_notes_carry_the_turn_id_and_no_exception_text() -> None:
    for exc in (status_error(529, "overloaded_error"), status_error(401, "authentication_error")):
        decision = after_model_error(
            classify(exc), had_history=True, answer_started=False, turn_id="t-abc"
        )
        assert decision.note is not None and "t-abc" in decision.note
        assert "Error" not in decision.note


def test_cache_breakpoint_goes_on_a_copy_of_the_last_block() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a"}]},
        {"role": "assistant", "content": "plain string"},
    ]
    marked = with_cache_breakpoint(messages)
    assert marked[-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert messages[-1]["content"] == "plain string"  # the stored transcript is untouched
    assert "cache_control" not in marked[0]["content"][0]


def test_storable_content_keeps_the_transcript_replayable() -> None:
    from app.agent.loop import storable_content

    call = {"type": "tool_use", "id": "toolu_1", "name": "x", "input": {}}
    text = {"type": "text", "text": "Hi"}
    assert storable_content([text, call], "tool_use") == [text, call]
    # cut off mid tool call: the unanswerable call is dropped
    assert storable_content([text, call], "max_tokens") == [text]
    # empty answers (refusal, end_turn with nothing) become a short placeholder
    assert storable_content([], "end_turn") == [{"type": "text", "text": "(no answer)"}]
    assert storable_content([{"type": "text", "text": " "}], "refusal") == [
        {"type": "text", "text": "(no answer)"}
    ]


def test_a_rejected_max_tokens_is_our_configuration_not_the_transcript() -> None:
    response = httpx2.Response(400, request=REQUEST)
    body = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "max_tokens: 128000 > 64000, which is the maximum allowed",
        },
    }
    result = classify(anthropic.BadRequestError("m", response=response, body=body))
    assert result.failure is Failure.CONFIGURATION
    assert result.setting == "ANTHROPIC_MAX_TOKENS"
