"""Pure decisions of a turn: classifying model errors and what follows them.

The errors classified are the ones the real SDK raises when the fake Messages API answers
with a failure, so the cases carry real status codes, bodies and exception classes, and the
test builds no HTTP objects of its own.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import anthropic
import pytest

from app.agent.loop import with_cache_breakpoint
from app.agent.model import Failure, classify
from app.turns.outcome import after_model_error
from tests.fakes.anthropic import DEFAULT_MODEL, Fail, FakeAnthropic, Hang, Step


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


async def raised(
    claude: FakeAnthropic,
    step: Step | None = None,
    *,
    base_url: str | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - the SDK's request timeout, not a wait here
    max_tokens: int = 16,
) -> anthropic.APIError:
    """What the SDK raises for one messages call that the fake answers with ``step``."""
    if step is not None:
        claude.script(step)
    async with anthropic.AsyncAnthropic(
        base_url=base_url or claude.url, api_key="test", max_retries=0, timeout=timeout
    ) as client:
        with pytest.raises(anthropic.APIError) as info:
            await client.messages.create(
                model=DEFAULT_MODEL,
                max_tokens=max_tokens,
                messages=[{"role": "user", "content": "hi"}],
            )
    return info.value


async def status_error(claude: FakeAnthropic, status: int, kind: str) -> anthropic.APIError:
    return await raised(claude, Fail(status, kind, "m"))


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (the port was just free)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("status", "kind", "failure", "setting"),
    [
        (400, "invalid_request_error", Failure.CONTEXT_REJECTED, None),
        (401, "authentication_error", Failure.CONFIGURATION, "ANTHROPIC_API_KEY"),
        (403, "permission_error", Failure.CONFIGURATION, "ANTHROPIC_API_KEY"),
        (404, "not_found_error", Failure.CONFIGURATION, "ANTHROPIC_MODEL"),
        (429, "rate_limit_error", Failure.TRANSIENT, None),
        (529, "overloaded_error", Failure.TRANSIENT, None),
        (500, "api_error", Failure.TRANSIENT, None),
    ],
)
async def test_classify_api_errors(
    claude: FakeAnthropic, status: int, kind: str, failure: Failure, setting: str | None
) -> None:
    exc = await status_error(claude, status, kind)
    assert isinstance(exc, anthropic.APIStatusError) and exc.status_code == status
    result = classify(exc)
    assert result.failure is failure
    assert result.setting == setting


async def test_timeouts_and_lost_connections_are_transient(claude: FakeAnthropic) -> None:
    timed_out = await raised(claude, Hang(30), timeout=0.2)
    assert isinstance(timed_out, anthropic.APITimeoutError)
    refused = await raised(claude, base_url=closed_port_url())
    assert type(refused) is anthropic.APIConnectionError
    for exc in (timed_out, refused, TimeoutError()):
        result = classify(exc)
        assert result.failure is Failure.TRANSIENT
        assert result.setting is None


async def test_rejection_drops_the_session_only_when_history_can_be_blamed(
    claude: FakeAnthropic,
) -> None:
    rejected = classify(await status_error(claude, 400, "invalid_request_error"))
    assert after_model_error(
        rejected, had_history=True, answer_started=False, turn_id="t"
    ).retry_fresh
    no_history = after_model_error(rejected, had_history=False, answer_started=False, turn_id="t")
    assert not no_history.retry_fresh and "too large" in (no_history.note or "")
    shown = after_model_error(rejected, had_history=True, answer_started=True, turn_id="t")
    assert not shown.retry_fresh


async def test_notes_carry_the_turn_id_and_no_exception_text(claude: FakeAnthropic) -> None:
    for status, kind in ((529, "overloaded_error"), (401, "authentication_error")):
        exc = await status_error(claude, status, kind)
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


async def test_a_rejected_max_tokens_is_our_configuration_not_the_transcript(
    claude: FakeAnthropic,
) -> None:
    # The fake rejects it in the real API's words: "max_tokens: 128000 > 64000, which is the
    # maximum allowed number of output tokens for <model>".
    claude.max_output_tokens = 64_000
    exc = await raised(claude, max_tokens=128_000)
    assert isinstance(exc, anthropic.BadRequestError)
    assert "max_tokens: 128000 > 64000" in str(exc.body)
    result = classify(exc)
    assert result.failure is Failure.CONFIGURATION
    assert result.setting == "ANTHROPIC_MAX_TOKENS"
