"""What the dashboard shows, built from stored records: pure functions, no browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.core import Usage
from app.dashboard.views import (
    dollars,
    entry_views,
    github_web_url,
    key_view,
    price_of,
    usage_view,
)
from app.store.base import KeyLink, TranscriptEntry, TurnRecord
from app.turns import replay_window as rw

AT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def entry(seq: int, role: str, *blocks: dict[str, Any], **fields: Any) -> TranscriptEntry:
    return TranscriptEntry(
        seq=seq,
        role=role,  # type: ignore[arg-type]
        content=list(blocks),
        author_id=fields.get("author_id"),
        author_name=fields.get("author_name"),
        source=fields.get("source"),
        turn_id=fields.get("turn_id", "t1"),
        created_at=AT,
    )


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def test_a_turn_with_a_tool_call_reads_as_people_and_tools() -> None:
    shown = entry_views(
        [
            entry(
                1,
                "user",
                text("[Ada Lovelace (U1) in Slack]\nplease file it"),
                text("[Your answer will be read inside the organisation, on Slack.]"),
                author_id="U1",
                author_name="Ada Lovelace",
                source="slack",
            ),
            entry(
                2,
                "assistant",
                text("Filing it."),
                {"type": "tool_use", "id": "toolu_1", "name": "create_github_issue", "input": {}},
            ),
            entry(
                3,
                "user",
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [text("Created #4")],
                    "is_error": True,
                },
            ),
        ],
        "threadline",
    )
    asked, answer, results = shown
    assert (asked.author, asked.author_id, asked.via) == ("Ada Lovelace", "U1", "Slack")
    # the author header is shown beside the message, not in it; our notes to Claude are notes
    assert [(b.kind, b.text) for b in asked.blocks] == [
        ("text", "please file it"),
        ("meta", "Your answer will be read inside the organisation, on Slack."),
    ]
    assert answer.author == "threadline"
    assert [(b.kind, b.name) for b in answer.blocks] == [
        ("text", ""),
        ("tool_use", "create_github_issue"),
    ]
    assert results.author == "Tool results"
    [result] = results.blocks
    assert (result.kind, result.name, result.text, result.is_error) == (
        "tool_result",
        "create_github_issue",
        "Created #4",
        True,
    )
    assert asked.anchor == "m1"


def test_compaction_points_and_seeds_are_marked_with_their_summaries() -> None:
    point = rw.compaction_point("They agreed on Thursdays.", summarised=40, kept=4, trigger="size")
    seed = rw.seed_message("[Earlier in this thread]\n> hello")
    server = [text("answer"), {"type": "compaction", "content": "All of it, briefly."}]
    failed = [{"type": "compaction", "content": None}]
    shown = entry_views(
        [
            entry(1, "user", *point["content"]),
            entry(2, "user", *seed["content"]),
            entry(3, "assistant", *server),
            entry(4, "assistant", *failed),
        ],
        "tl",
    )
    client, restarted, compacted, empty = shown
    assert client.marker == "client"
    assert client.blocks[1].text == "They agreed on Thursdays."
    assert "summarised 40 earlier messages" in client.blocks[0].text
    assert restarted.marker == "seed" and "hello" in restarted.blocks[0].text
    assert compacted.marker == "server"
    assert compacted.blocks[1].text == "All of it, briefly."
    assert "nothing was summarised" in empty.blocks[0].text


def test_very_long_blocks_are_cut_with_a_note() -> None:
    [shown] = entry_views([entry(1, "assistant", text("x" * 25_000))], "tl")
    assert shown.blocks[0].text.endswith("(5,000 more characters not shown)")


@pytest.mark.parametrize(
    ("key", "stored", "url"),
    [
        (
            "tl:slack:C1::1763700000.000100",
            None,
            "https://app.slack.com/client/T1/C1/thread/C1-1763700000.000100",
        ),
        ("tl:slack:D1::main", None, "https://app.slack.com/client/T1/D1"),
        ("tl:jira:AD-12", None, "https://jira.example.com/browse/AD-12"),
        ("tl:github:acme/widgets#4", None, "https://github.com/acme/widgets/issues/4"),
        (
            "tl:github:acme/widgets#4",
            "https://ghe.example.com/a/w/issues/4",
            "https://ghe.example.com/a/w/issues/4",
        ),
        # only web links are links: anything else stored is ignored
        (
            "tl:github:acme/widgets#4",
            "javascript:alert(1)",
            "https://github.com/acme/widgets/issues/4",
        ),
        ("tl:job:j1", "javascript:alert(1)", None),
        ("tl:dashboard:abc", None, "/dashboard/sessions/abc"),
    ],
)
def test_links_out_of_each_place(key: str, stored: str | None, url: str | None) -> None:
    link = KeyLink(key, "abc", stored, AT)
    shown = key_view(
        key,
        link,
        team_id="T1",
        jira_url="https://jira.example.com/",
        github_url="https://github.com",
        dashboard_path="/dashboard/sessions/abc",
    )
    assert shown.url == url
    assert shown.linked_at == AT


@pytest.mark.parametrize(
    ("api_url", "web_url"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://api.github.com/", "https://github.com"),
        ("https://ghe.example/api/v3", "https://ghe.example"),
        ("https://ghe.example/api/v3/", "https://ghe.example"),
        ("https://api.acme.ghe.com", "https://acme.ghe.com"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
    ],
)
def test_github_links_go_to_the_web_host_of_the_api(api_url: str, web_url: str) -> None:
    assert github_web_url(api_url) == web_url
    shown = key_view(
        "tl:github:acme/widgets#4",
        None,
        team_id=None,
        jira_url=None,
        github_url=github_web_url(api_url),
    )
    assert shown.url == f"{web_url}/acme/widgets/issues/4"


def test_a_slack_key_without_a_known_workspace_has_no_link() -> None:
    shown = key_view(
        "tl:slack:C1::1.2", None, team_id=None, jira_url=None, github_url="https://github.com"
    )
    assert (shown.url, shown.title, shown.label, shown.linked_at) == (
        None,
        "Slack",
        "C1::1.2",
        None,
    )


def test_cost_estimates_by_model_family() -> None:
    million = Usage(1_000_000, 1_000_000, 1_000_000, 1_000_000)
    # input 3 + output 15 + cache read 0.3 + cache write 3.75
    assert price_of("claude-sonnet-5-5", million) == pytest.approx(22.05)
    assert price_of("claude-opus-4-5", Usage(output_tokens=1_000_000)) == pytest.approx(25.0)
    assert price_of("claude-haiku-4-5", Usage(input_tokens=2_000_000)) == pytest.approx(2.0)
    assert price_of("some-other-model", million) is None
    assert price_of(None, Usage()) == 0.0
    assert dollars(None) == "unknown"
    assert dollars(0.004) == "$0.0040"
    assert dollars(1234.5) == "$1,234.50"


def test_usage_per_turn_and_in_total() -> None:
    def turn(model: str | None, usage: Usage) -> TurnRecord:
        return TurnRecord("t", "s", "ok", model, usage, AT, AT + timedelta(seconds=2))

    shown = usage_view(
        [
            turn("claude-sonnet-5-5", Usage(1_000_000, 0, 0, 0)),
            turn("mystery", Usage(10, 0, 0, 0)),
            turn(None, Usage()),
        ]
    )
    assert shown.total == Usage(1_000_010, 0, 0, 0)
    assert [t.cost for t in shown.turns] == [pytest.approx(3.0), None, 0.0]
    assert shown.cost == pytest.approx(3.0)
    assert shown.unpriced == 1
    assert shown.turns[0].seconds == 2.0
