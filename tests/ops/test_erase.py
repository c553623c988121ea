"""``python -m app erase`` against a real store (SQLite and PostgreSQL), through ``app.cli.main``;
and the pure rewrite of a person's message it applies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.cli import main
from app.ops.erase import erased_content
from tests.ops.conftest import Cli, Seeded

TOOL_RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Created AD-12"}
TOOL_USE = {"type": "tool_use", "id": "toolu_2", "name": "x", "input": {}}


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": body}


@pytest.mark.parametrize(
    ("content", "erased"),
    [
        # the header line stays, with the name replaced
        (
            [text("[Ada Lovelace (U1) in Slack]\nmy secret")],
            [text("[removed (U1) in Slack]\n[removed]")],
        ),
        (
            [text("[octo (octocat) in GitHub acme/widgets#42]\nline 1\nline 2")],
            [text("[removed (octocat) in GitHub acme/widgets#42]\n[removed]")],
        ),
        # a name with parentheses: the last "(id) in place" ends it
        ([text("[Ada (Eng) (U1) in Slack]\nhi")], [text("[removed (U1) in Slack]\n[removed]")]),
        # a header alone still gets the body marker
        ([text("[Ada (U1) in Slack]")], [text("[removed (U1) in Slack]\n[removed]")]),
        # no header: the whole block goes
        ([text("just words\nmore")], [text("[removed]")]),
        ([text("[not a header]\nwords")], [text("[removed]")]),
        # other text blocks, images and documents go; tool blocks stay
        (
            [
                TOOL_RESULT,
                text("[Ada (U1) in Slack]\nsee this"),
                text("and this"),
                {"type": "image", "source": {"type": "base64", "data": "AAAA"}},
                TOOL_USE,
            ],
            [
                TOOL_RESULT,
                text("[removed (U1) in Slack]\n[removed]"),
                text("[removed]"),
                text("[removed]"),
                TOOL_USE,
            ],
        ),
        ([TOOL_RESULT], [TOOL_RESULT]),
        # erasing twice changes nothing more
        (
            [text("[removed (U1) in Slack]\n[removed]")],
            [text("[removed (U1) in Slack]\n[removed]")],
        ),
    ],
)
def test_erased_content(content: list[dict[str, Any]], erased: list[dict[str, Any]]) -> None:
    assert erased_content(content) == erased


def test_erased_content_keeps_other_fields_of_the_first_text_block() -> None:
    block = {"type": "text", "text": "[Ada (U1) in Slack]\nhi", "cache_control": {"type": "x"}}
    assert erased_content([block]) == [
        {
            "type": "text",
            "text": "[removed (U1) in Slack]\n[removed]",
            "cache_control": {"type": "x"},
        }
    ]


async def test_erase_a_slack_user_everywhere(cli: Cli, seeded: Seeded) -> None:
    store = seeded.store
    await store.record_delivery("d1", "slack", "L1", {"author_id": "U1", "text": "hello"})
    await store.record_delivery("d2", "slack", "L2", {"author_id": "U1", "text": "again"})
    await store.record_delivery("d3", "slack", "L3", {"author_id": "U2", "text": "grace"})
    await store.record_delivery("d4", "github", "L4", {"author_id": "U1", "text": "same id"})

    result = await cli("erase", "--slack-user", "U1", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "source": "slack",
        "author_id": "U1",
        "messages": 2,
        "sessions": 2,
        "deliveries": 2,
        "votes": 0,
    }

    thread = await store.load_transcript(seeded.thread)
    assert thread[0].content == [{"type": "text", "text": "[removed (U1) in Slack]\n[removed]"}]
    assert (thread[0].author_id, thread[0].author_name) == ("U1", None)
    # the rest of the conversation, and grace's words, stay
    assert thread[2].content[0]["type"] == "tool_result"
    assert thread[4].content[0]["text"] == "[grace (U2) in Slack]\nthanks! any update?"
    assert thread[4].author_name == "grace"
    [stale_question, _] = await store.load_transcript(seeded.stale)
    assert stale_question.content[0]["text"] == "[removed (U1) in Slack]\n[removed]"
    for session_id in (seeded.thread, seeded.stale):
        erased = [e for e in await store.events_for(session_id) if e.kind == "author_erased"]
        assert [e.cause for e in erased] == ["erased by operator"]
    assert [e.kind for e in await store.events_for(seeded.github)][-1] != "author_erased"
    left = [await store.get_delivery(pk) for pk in range(1, 5)]
    assert sorted(d.delivery_id for d in left if d is not None) == ["d3", "d4"]

    again = await cli("erase", "--slack-user", "U1", "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["deliveries"] == 0
    assert (await store.load_transcript(seeded.thread))[0].content == thread[0].content


async def test_erase_prints_what_it_touched(cli: Cli, seeded: Seeded) -> None:
    result = await cli("erase", "--github-login", "octocat")
    assert result.code == 0, result.err
    assert result.lines[0] == "Erased GitHub user octocat."
    assert result.lines[1].split() == ["ERASED", "COUNT", "WHICH"]
    assert [line.split()[:2] for line in result.lines[2:]] == [
        ["messages", "1"],
        ["sessions", "1"],
        ["deliveries", "0"],
    ]
    [question, _] = await seeded.store.load_transcript(seeded.github)
    assert question.content[0]["text"] == "[removed (octocat) in GitHub]\n[removed]"

    jira = await cli("erase", "--jira-account", "U2")
    assert jira.code == 0, jira.err
    assert jira.lines[0] == "Erased Jira account U2."
    assert [line.split()[1] for line in jira.lines[2:]] == ["1", "1", "0"]


async def test_erase_nobody_changes_nothing(cli: Cli, seeded: Seeded) -> None:
    result = await cli("erase", "--slack-user", "UNOBODY", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert (doc["messages"], doc["sessions"], doc["deliveries"]) == (0, 0, 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["erase"],  # nobody named
        ["erase", "--slack-user", "u1"],  # not a Slack id
        ["erase", "--slack-user", "U1", "--github-login", "octocat"],  # two people
        ["erase", "--github-login", "-octo"],
        ["erase", "--jira-account", "a b"],
    ],
)
def test_erase_refuses_a_bad_person(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "erase" in capsys.readouterr().err
