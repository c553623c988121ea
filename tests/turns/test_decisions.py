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
from app.agent.model import Classified, Failure, classify
from app.turns.outcome import Action, after_model_error
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


# -- what follows a failure: the table (``app.turns.outcome``) ---------------------------------

COMPACT, FRESH, NOTE, FALL_BACK = Action.COMPACT, Action.RETRY_FRESH, Action.NOTE, Action.FALL_BACK
LONG, REFUSED, REJECTED = Failure.TOO_LONG, Failure.COMPACTION_UNSUPPORTED, Failure.CONTEXT_REJECTED
TRANSIENT, CONFIG = Failure.TRANSIENT, Failure.CONFIGURATION


# ``state``: h = the session has history, s = the user saw part of an answer, c = this turn
# compacted already, f = this turn fell back to client compaction already.
@pytest.mark.parametrize(
    ("failure", "mode", "state", "action", "outcome", "note"),
    [
        # Too long: compacted and retried once, the session kept; never twice in a turn.
        (LONG, "server", "h", COMPACT, "compacting", None),
        (LONG, "client", "h", COMPACT, "compacting", None),
        (LONG, "server", "hc", NOTE, "message_rejected", "too large"),
        (LONG, "client", "", NOTE, "message_rejected", "too large"),
        (LONG, "server", "hs", NOTE, "message_rejected", "too large"),
        # COMPACTION=off: today's behaviour, too long is dropped and retried fresh.
        (LONG, "off", "h", FRESH, "context_rejected", None),
        (LONG, "off", "", NOTE, "message_rejected", "too large"),
        (LONG, "off", "hs", NOTE, "message_rejected", "too large"),
        # Server compaction refused: fall back to ours and retry, once.
        (REFUSED, "server", "h", FALL_BACK, "falling_back", None),
        (REFUSED, "server", "", FALL_BACK, "falling_back", None),
        (REFUSED, "client", "hf", NOTE, "compaction_refused", "configuration"),
        (REFUSED, "server", "hs", NOTE, "compaction_refused", "configuration"),
        # A rejected structure: only that drops the session, when history can be blamed.
        (REJECTED, "server", "h", FRESH, "context_rejected", None),
        (REJECTED, "client", "hcf", FRESH, "context_rejected", None),
        (REJECTED, "server", "", NOTE, "message_rejected", "too large"),
        (REJECTED, "server", "hs", NOTE, "message_rejected", "too large"),
        # The rest keep the session and say so, whatever the mode.
        (TRANSIENT, "server", "h", NOTE, "transient_error", "try again"),
        (TRANSIENT, "off", "hscf", NOTE, "transient_error", "try again"),
        (CONFIG, "client", "h", NOTE, "configuration_error", "configuration"),
    ],
)
def test_what_follows_each_failure(
    failure: Failure, mode: str, state: str, action: Action, outcome: str, note: str | None
) -> None:
    decision = after_model_error(
        Classified(failure),
        had_history="h" in state,
        answer_started="s" in state,
        turn_id="t-abc",
        compaction=mode,
        compacted="c" in state,
        fell_back="f" in state,
    )
    assert (decision.action, decision.outcome) == (action, outcome)
    assert decision.retry_fresh is (action is FRESH)
    if note is None:
        assert decision.note is None
    else:
        assert decision.note is not None and note in decision.note and "t-abc" in decision.note


async def test_a_too_long_prompt_from_the_api_is_compacted_not_dropped(
    claude: FakeAnthropic,
) -> None:
    too_long = classify(
        await status_error_text(claude, "prompt is too long: 250000 tokens > 200000 maximum")
    )
    assert too_long.failure is Failure.TOO_LONG
    decision = after_model_error(too_long, had_history=True, answer_started=False, turn_id="t")
    assert decision.action is Action.COMPACT and not decision.retry_fresh


async def status_error_text(claude: FakeAnthropic, message: str) -> anthropic.APIError:
    return await raised(claude, Fail(400, "invalid_request_error", message))
