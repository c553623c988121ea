"""``classify``: what each error of the Messages API means for the conversation.

Every case is raised by the real SDK from the fake API's answer, so status, body and
exception class are the ones the app meets; the messages are the API's own wording.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest

from app.agent.model import Failure, classify
from tests.fakes.anthropic import DEFAULT_MODEL, Fail, FakeAnthropic

INVALID = "invalid_request_error"


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


async def raised(claude: FakeAnthropic, fail: Fail) -> anthropic.APIStatusError:
    claude.script(fail)
    async with anthropic.AsyncAnthropic(
        base_url=claude.url, api_key="test", max_retries=0
    ) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            await client.messages.create(
                model=DEFAULT_MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
            )
    return info.value


@pytest.mark.parametrize(
    ("status", "kind", "message", "failure", "setting"),
    [
        # the conversation has outgrown the model's context window
        (
            400,
            INVALID,
            "prompt is too long: 215000 tokens > 200000 maximum",
            Failure.TOO_LONG,
            None,
        ),
        (
            400,
            INVALID,
            "input length and `max_tokens` exceed context limit: 195000 + 8192 > 200000, "
            "decrease input length or `max_tokens` and try again",
            Failure.TOO_LONG,
            None,
        ),
        (413, "request_too_large", "Request exceeds the maximum size", Failure.TOO_LONG, None),
        # a model or gateway without the compaction beta
        (
            400,
            INVALID,
            "context_management: Extra inputs are not permitted",
            Failure.COMPACTION_UNSUPPORTED,
            None,
        ),
        (
            400,
            INVALID,
            "context_management.edits.0: 'compact_20260112' is not supported on this model",
            Failure.COMPACTION_UNSUPPORTED,
            None,
        ),
        (
            400,
            INVALID,
            "Unexpected value(s) `compact-2026-01-12` for the `anthropic-beta` header.",
            Failure.COMPACTION_UNSUPPORTED,
            None,
        ),
        (
            400,
            INVALID,
            "messages.1.content.0.type: Input tag 'compaction' found using 'type' does not "
            "match any of the expected tags: 'text', 'image', 'tool_use', 'tool_result'",
            Failure.COMPACTION_UNSUPPORTED,
            None,
        ),
        (400, INVALID, "Compaction is not supported", Failure.COMPACTION_UNSUPPORTED, None),
        # the replayed transcript itself is wrong
        (
            400,
            INVALID,
            "messages.1.content.0: Invalid `signature` in `compaction` block",
            Failure.CONTEXT_REJECTED,
            None,
        ),
        (
            400,
            INVALID,
            "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            "`text`. When `thinking` is enabled, a final `assistant` message must start with "
            "a thinking block.",
            Failure.CONTEXT_REJECTED,
            None,
        ),
        (
            400,
            INVALID,
            "messages.1.content.0: Invalid `signature` in `thinking` block",
            Failure.CONTEXT_REJECTED,
            None,
        ),
        (
            400,
            INVALID,
            "messages.2: `tool_use` ids were found without `tool_result` blocks immediately "
            "after: toolu_1.",
            Failure.CONTEXT_REJECTED,
            None,
        ),
        # our settings
        (
            400,
            INVALID,
            "max_tokens: 128000 > 64000, which is the maximum allowed number of output tokens "
            "for claude-sonnet-5-5",
            Failure.CONFIGURATION,
            "ANTHROPIC_MAX_TOKENS",
        ),
        (
            400,
            INVALID,
            "thinking.type: Input tag 'adaptive' found using 'type' does not match any of the "
            "expected tags: 'disabled', 'enabled'",
            Failure.CONFIGURATION,
            "ANTHROPIC_THINKING",
        ),
        (
            400,
            INVALID,
            "adaptive thinking is not supported on this model",
            Failure.CONFIGURATION,
            "ANTHROPIC_THINKING",
        ),
        # not ours to fix: try again later
        (529, "overloaded_error", "Overloaded", Failure.TRANSIENT, None),
    ],
)
async def test_classify_by_status_type_and_message(
    claude: FakeAnthropic,
    status: int,
    kind: str,
    message: str,
    failure: Failure,
    setting: str | None,
) -> None:
    exc = await raised(claude, Fail(status, kind, message))
    assert exc.status_code == status
    result = classify(exc)
    assert (result.failure, result.setting) == (failure, setting)
