"""The pure pieces of filing an item: footer, argument checks, sentences for Claude."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.core import KeyClaim
from app.errors import IntegrationError, NotFound
from app.integrations.filing import (
    InvalidInput,
    filing_footer,
    linked_sentence,
    not_allowed,
    pattern_arg,
    positive_int_arg,
    text_arg,
    thread_link_or_none,
    upstream_failure,
    with_footer,
)


def test_footer_links_the_thread_and_names_the_session() -> None:
    footer = filing_footer("https://acme.slack.com/archives/C1/p1", "sess-1")
    assert footer == (
        "\n\n---\n_Filed from Slack by Threadline: https://acme.slack.com/archives/C1/p1 · "
        "session `sess-1`_"
    )


def test_footer_without_a_thread() -> None:
    assert filing_footer(None, "sess-1") == "\n\n---\n_Filed by Threadline · session `sess-1`_"


def test_with_footer_trims_trailing_whitespace_of_the_body() -> None:
    assert with_footer("Body\n\n\n", None, "s").startswith("Body\n\n---\n")


async def test_thread_link_failures_fall_back_to_none() -> None:
    async def broken() -> str | None:
        raise RuntimeError("slack down")

    async def fine() -> str | None:
        return "https://x"

    assert await thread_link_or_none(broken) is None
    assert await thread_link_or_none(fine) == "https://x"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "title is required."),
        ({"title": 3}, "title must be a string, got a number."),
        ({"title": ["x"]}, "title must be a string, got a list."),
        ({"title": "   "}, "title must not be empty."),
        ({"title": "x" * 11}, "title must be at most 10 characters, got 11."),
    ],
)
def test_text_arg_refusals(args: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        text_arg(args, "title", min_len=1, max_len=10, one_line=True)
    assert str(caught.value) == message


def test_text_arg_collapses_whitespace_of_one_line_values() -> None:
    assert text_arg({"t": " a \n b\t c "}, "t", max_len=10, one_line=True) == "a b c"
    assert text_arg({}, "t", max_len=10, default="Task") == "Task"


@pytest.mark.parametrize("value", [0, -3, True, 1.5, "42", None])
def test_positive_int_arg_refusals(value: Any) -> None:
    with pytest.raises(InvalidInput, match="positive whole number"):
        positive_int_arg({"number": value}, "number")


def test_pattern_arg() -> None:
    pattern = re.compile(r"^[a-z]+/[a-z]+$")
    assert pattern_arg({"repo": " acme/widgets "}, "repo", pattern, "'o/n'") == "acme/widgets"
    with pytest.raises(InvalidInput, match="repo must look like 'o/n'"):
        pattern_arg({"repo": "acme"}, "repo", pattern, "'o/n'")
    with pytest.raises(InvalidInput, match="repo is required"):
        pattern_arg({"repo": 7}, "repo", pattern, "'o/n'")


def test_not_allowed_lists_what_is() -> None:
    message = not_allowed("Project", "XX", frozenset({"OPS", "AD"}), "JIRA_PROJECTS")
    assert message.startswith("Project 'XX' is not allowed: only AD, OPS can be used")
    assert "JIRA_PROJECTS" in message


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (
            IntegrationError(
                "GitHub", "authentication failed (401): check GITHUB_TOKEN", status=401
            ),
            "Could not create the issue. GitHub said: authentication failed (401): check "
            "GITHUB_TOKEN. This is a configuration problem only an operator can fix;",
        ),
        (
            IntegrationError("Jira", "rate limited, retry after 30 s", status=429),
            "Could not create the issue. Jira said: rate limited, retry after 30 s. Tell the user;",
        ),
        (
            IntegrationError("Jira", "rejected the request (400): summary: too long", status=400),
            "Could not create the issue. Jira said: rejected the request (400): summary: too "
            "long. Fix what was rejected",
        ),
        (
            IntegrationError("GitHub", "server error (502)", status=502),
            "Could not create the issue. GitHub said: server error (502). GitHub seems to be "
            "unavailable right now;",
        ),
        (
            IntegrationError("GitHub", "did not answer in time (repository acme/widgets)"),
            "Could not create the issue. GitHub did not answer in time (repository "
            "acme/widgets). GitHub seems to be unavailable",
        ),
        (
            NotFound("GitHub", "repository acme/gone was not found", status=404),
            "Could not create the issue: GitHub repository acme/gone was not found.",
        ),
    ],
)
def test_upstream_failures_read_as_sentences(err: IntegrationError, expected: str) -> None:
    assert upstream_failure(err, "create the issue").startswith(expected)


def test_linked_sentence() -> None:
    ours = linked_sentence(KeyClaim("k", "me", True), "the issue", "the issue")
    theirs = linked_sentence(KeyClaim("k", "other-session", False), "the issue", "the issue")
    assert "come back here" in ours
    assert theirs.startswith("The issue is already linked to another conversation")
    assert "other-session" in theirs
