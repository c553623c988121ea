"""Markdown → ADF → text: structure, marks, and that no word is ever lost."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.integrations.adf import adf_to_text, markdown_to_adf
from app.integrations.filing import filing_footer
from tests.fakes.jira import adf_problem


def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9]+", text))


def blocks(markdown: str) -> list[dict[str, Any]]:
    doc = markdown_to_adf(markdown)
    assert adf_problem(doc) is None
    content: list[dict[str, Any]] = doc["content"]
    return content


def text_node(text: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


LINK = {"type": "link", "attrs": {"href": "https://example.com/a_b"}}

RICH = """# Release plan

We ship **on Friday** unless _QA_ objects; see [the board](https://example.com/a_b) or
https://jira.example.com/browse/AD-12.

## Steps
1. Freeze `main`
2. Tag ***v1.2*** and ~~announce~~ publish
   - nested bullet with snake_case_name
   - another, with 2 * 3 = 6

```python
def ship():
    return "done"  # **not bold**
```

> A quote with *emphasis*
> spanning two lines

---
| col a | col b |
| ----- | ----- |
| 1 | 2 |

Unclosed **bold and `tick and [bracket and _under
"""


def test_an_empty_text_is_an_empty_document() -> None:
    assert markdown_to_adf("") == {"type": "doc", "version": 1, "content": []}


def test_paragraph_lines_are_kept_with_hard_breaks() -> None:
    (para,) = blocks("first line\nsecond line")
    assert para == {
        "type": "paragraph",
        "content": [text_node("first line"), {"type": "hardBreak"}, text_node("second line")],
    }


def test_headings_keep_their_level() -> None:
    first, second = blocks("# Title\n### Sub *part*")
    assert first == {"type": "heading", "attrs": {"level": 1}, "content": [text_node("Title")]}
    assert second["attrs"] == {"level": 3}
    assert second["content"] == [text_node("Sub "), text_node("part", {"type": "em"})]


def test_inline_marks() -> None:
    (para,) = blocks("**b** _i_ `c` ~~s~~ [l](https://example.com/a_b)")
    assert para["content"] == [
        text_node("b", {"type": "strong"}),
        text_node(" "),
        text_node("i", {"type": "em"}),
        text_node(" "),
        text_node("c", {"type": "code"}),
        text_node(" "),
        text_node("s", {"type": "strike"}),
        text_node(" "),
        text_node("l", LINK),
    ]


def test_bare_urls_and_autolinks_become_links_without_trailing_punctuation() -> None:
    (para,) = blocks("see https://example.com/a_b. or <https://example.com/a_b>")
    assert para["content"] == [
        text_node("see "),
        text_node("https://example.com/a_b", LINK),
        text_node(". or "),
        text_node("https://example.com/a_b", LINK),
    ]


def test_code_spans_are_literal_and_only_combine_with_links() -> None:
    (para,) = blocks("[`x**y**`](https://example.com/a_b) **`z`**")
    assert para["content"] == [
        text_node("x**y**", {"type": "code"}, LINK),
        text_node(" "),
        text_node("z", {"type": "code"}),
    ]


def test_unsafe_link_targets_stay_text() -> None:
    (para,) = blocks("[click](javascript:alert(1))")
    assert para["content"] == [text_node("[click](javascript:alert(1))")]


def test_intraword_underscores_and_lone_stars_are_text() -> None:
    (para,) = blocks("snake_case_name and 2 * 3 * 4 and \\*escaped\\*")
    assert para["content"] == [text_node("snake_case_name and 2 * 3 * 4 and *escaped*")]


def test_lists_nest_by_indentation_and_keep_their_start() -> None:
    bullets, numbers = blocks("- a\n  - a1\n- b\n\n3. three\n4. four")
    assert bullets["type"] == "bulletList"
    first, second = bullets["content"]
    assert [b["type"] for b in first["content"]] == ["paragraph", "bulletList"]
    assert second["content"] == [{"type": "paragraph", "content": [text_node("b")]}]
    assert numbers["type"] == "orderedList"
    assert numbers["attrs"] == {"order": 3}
    assert len(numbers["content"]) == 2


def test_fenced_code_keeps_language_and_text_verbatim() -> None:
    (code,) = blocks("```python\nx = 1  # **no**\n\n  y = 2\n```")
    assert code == {
        "type": "codeBlock",
        "attrs": {"language": "python"},
        "content": [text_node("x = 1  # **no**\n\n  y = 2")],
    }


def test_an_unclosed_fence_runs_to_the_end() -> None:
    (code,) = blocks("```\nstill code")
    assert code["content"] == [text_node("still code")]


def test_quote_and_rule() -> None:
    quote, rule = blocks("> quoted\n> # heading inside\n\n***")
    assert quote["type"] == "blockquote"
    assert [b["type"] for b in quote["content"]] == ["paragraph", "paragraph"]
    assert rule == {"type": "rule"}


def test_the_filing_footer_links_the_thread_even_with_underscores() -> None:
    link = "https://acme.slack.com/archives/C01/p1763700000000100?thread_ts=1763700000.000100"
    *_, rule, para = blocks("Body" + filing_footer(link, "sess-1"))
    assert rule == {"type": "rule"}
    em = {"type": "em"}
    assert para["content"] == [
        text_node("Filed from Slack by Threadline: ", em),
        text_node(link, em, {"type": "link", "attrs": {"href": link}}),
        text_node(" · session ", em),
        text_node("sess-1", {"type": "code"}),
    ]


@pytest.mark.parametrize(
    "markdown",
    [
        RICH,
        "plain words only",
        "**a *b* c** and *unclosed and **also",
        "- [ ] task one\n- [x] task two\n\n1) paren style\n2) second",
        "text with <angle> brackets & ampersands, 50% off, a_b_c, __dunder__ init",
        "    indented code-ish line\n\ttabbed line",
        "trailing backslash \\",
        "1. one\n\n   continued after blank\n2. two\nlazy line",
        "- item\n  ```\n  code in item\n  ```",
        "####### seven hashes is text",
    ],
)
def test_round_trip_keeps_every_word(markdown: str) -> None:
    doc = markdown_to_adf(markdown)
    assert adf_problem(doc) is None
    assert words(markdown) <= words(adf_to_text(doc))


def test_round_trip_of_simple_markdown_is_identity() -> None:
    markdown = "# T\n\nA **b** _c_ `d` [e](https://example.com/a_b)\n\n- x\n- y\n\n```\ncode\n```"
    assert adf_to_text(markdown_to_adf(markdown)) == markdown


# -- adf_to_text on what Jira sends ------------------------------------------------------------


def test_plain_string_bodies_and_nothing() -> None:
    assert adf_to_text("  a wiki-markup *body*  ") == "a wiki-markup *body*"
    assert adf_to_text(None) == ""
    assert adf_to_text({"type": "doc", "version": 1, "content": []}) == ""


def test_a_jira_comment_with_mentions_emoji_cards_and_a_table() -> None:
    body = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {
                        "type": "mention",
                        "attrs": {"id": "557058:bot", "text": "@Threadline"},
                    },
                    {"type": "text", "text": " can you check "},
                    {"type": "inlineCard", "attrs": {"url": "https://acme.atlassian.net/AD-1"}},
                    {"type": "text", "text": "? "},
                    {"type": "emoji", "attrs": {"shortName": ":pray:", "text": "🙏"}},
                    {"type": "hardBreak"},
                    {"type": "status", "attrs": {"text": "BLOCKED", "color": "red"}},
                    {"type": "date", "attrs": {"timestamp": "1763683200000"}},
                ],
            },
            {
                "type": "orderedList",
                "attrs": {"order": 1},
                "content": [
                    {
                        "type": "listItem",
                        "content": [
                            {"type": "paragraph", "content": [{"type": "text", "text": "one"}]}
                        ],
                    }
                ],
            },
            {
                "type": "table",
                "content": [
                    {
                        "type": "tableRow",
                        "content": [
                            {
                                "type": "tableCell",
                                "content": [
                                    {
                                        "type": "paragraph",
                                        "content": [{"type": "text", "text": "cell"}],
                                    }
                                ],
                            }
                        ],
                    }
                ],
            },
            {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x"}}]},
            {"type": "panel", "content": [{"type": "paragraph", "content": []}]},
            {"type": "someFutureNode", "content": [{"type": "text", "text": "kept"}]},
        ],
    }
    assert adf_to_text(body) == (
        "@Threadline can you check https://acme.atlassian.net/AD-1? 🙏\n"
        "BLOCKED2025-11-21\n\n"
        "1. one\n\n"
        "| cell |\n\n"
        "[attachment]\n\n"
        "kept"
    )


def test_malformed_nodes_do_not_raise() -> None:
    weird: list[Any] = [
        {"type": "paragraph", "content": "not a list"},
        {"type": "text"},
        {"content": [{"type": "text", "text": "orphan"}]},
        42,
        {"type": "heading", "attrs": {"level": "x"}, "content": [{"type": "text", "text": "h"}]},
    ]
    assert adf_to_text(weird) == "orphan\n\n# h"


def test_emphasis_spanning_nodes_is_rendered_once() -> None:
    assert adf_to_text(markdown_to_adf("**a *b* c** d")) == "**a _b_ c** d"


@pytest.mark.parametrize(
    "markdown",
    [
        "@alice and @acme/team, please look",
        "[~accountid:5b10a2844c20165700ede21g] and [~alice]",
        "**@bold** [@link](https://example.com/@x) `@code`",
        "- @in a list\n\n> @in a quote",
    ],
)
def test_markdown_never_becomes_a_mention_in_jira(markdown: str) -> None:
    # Jira notifies only for ADF "mention" nodes; what the bot writes is text, so naming
    # someone in an answer pings nobody there.
    doc = markdown_to_adf(markdown)
    kinds: set[str] = set()
    stack: list[Any] = [doc]
    while stack:
        node = stack.pop()
        kinds.add(node["type"])
        stack.extend(node.get("content", []))
    assert "mention" not in kinds
    assert kinds <= {"doc", "paragraph", "text", "bulletList", "listItem", "blockquote"}
    assert words(markdown) <= words(adf_to_text(doc))  # still there, as text
