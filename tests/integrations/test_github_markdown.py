"""github_safe: what the bot posts on GitHub pings nobody and loads no image from elsewhere."""

from __future__ import annotations

import pytest

from app.integrations.github_markdown import (
    escape_mentions,
    github_safe,
    is_github_image_url,
)

Z = "\u200d"  # the zero-width joiner put after a neutralised mention's @


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thanks @alice", f"thanks @{Z}alice"),
        ("cc @acme/security-team!", f"cc @{Z}acme/security-team!"),
        ("@octocat: done", f"@{Z}octocat: done"),
        ("(@a-b) and [@c]", f"(@{Z}a-b) and [@{Z}c]"),
        ("**@bold** _@it_", f"**@{Z}bold** _@{Z}it_"),
        (
            "<details><summary>@team</summary></details>",
            f"<details><summary>@{Z}team</summary></details>",
        ),
        ("> quoting @bob", f"> quoting @{Z}bob"),
        # not mentions on GitHub
        ("mail bob@example.com", "mail bob@example.com"),
        ("@ alone, @-dash, @_under", "@ alone, @-dash, @_under"),
        # an underscore may open emphasis (``_@it_``): escaped, to be safe
        ("a_@b", f"a_@{Z}b"),
        # already neutralised: unchanged
        (f"@{Z}alice", f"@{Z}alice"),
    ],
)
def test_mentions_are_neutralised(text: str, expected: str) -> None:
    assert github_safe(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "use `@dataclass` here",
        "``a `@b` c``",
        "```python\n@dataclass\nclass A: ...\n```",
        "~~~\n@team\n~~~",
        "    ```\n    @indented fence\n    ```\n",
        "https://medium.com/@alice/post",
        "see [the post](https://medium.com/@alice/post)",
        "<https://example.com/@bob>",
        '<a href="mailto:team@acme.test">write</a>',
        "[ref]: https://example.com/@carol",
    ],
)
def test_code_urls_and_tags_are_left_as_written(text: str) -> None:
    assert github_safe(text) == text


def test_prose_after_a_closed_fence_is_escaped_again() -> None:
    text = "```\n@in_code\n```\nthen @out and `@code` and ``@x` unbalanced"
    assert github_safe(text) == (
        f"```\n@in_code\n```\nthen @{Z}out and `@code` and ``@{Z}x` unbalanced"
    )


def test_a_fence_in_a_list_item_ends_with_the_item() -> None:
    text = "- step\n  ```\n  @in_code\nnot in the list any more: @team"
    assert github_safe(text) == f"- step\n  ```\n  @in_code\nnot in the list any more: @{Z}team"


def test_a_code_span_does_not_reach_across_a_blank_line() -> None:
    assert github_safe("a ` b\n\n@team\n\nc ` d") == f"a ` b\n\n@{Z}team\n\nc ` d"


def test_an_unclosed_fence_runs_to_the_end() -> None:
    assert github_safe("```\n@a\n@b") == "```\n@a\n@b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("![logo](https://evil.example/x.png)", "logo"),
        ("![](https://evil.example/x.png)", "image"),
        ('![chart](https://evil.example/c.png "Title")', "chart"),
        ("![a [b] c](https://evil.example/a_(b).png)", "a [b] c"),
        ("![x](<https://evil.example/a b.png>)", "x"),
        ("![x](//evil.example/x.png)", "x"),
        ("![x](/relative/x.png)", "x"),
        ("![x](data:image/png;base64,AAAA)", "x"),
        ("![x](https://github.com.evil.example/x.png)", "x"),
        ("![x](https://evilgithub.com/x.png)", "x"),
        ("![@team](https://evil.example/x.png)", f"@{Z}team"),
        ("![![inner](https://evil.example/i.png)](https://evil.example/o.png)", "inner"),
        (
            "[![build](https://img.shields.io/b.svg)](https://ci.example/run)",
            "[build](https://ci.example/run)",
        ),
        # GitHub's own hosts stay
        ("![ok](https://github.com/acme/w/raw/main/a.png)", None),
        ("![ok](https://user-images.githubusercontent.com/1/a.png)", None),
        ("![ok](https://raw.githubusercontent.com/acme/w/main/a.png)", None),
        ("![ok](HTTPS://AVATARS.GITHUBUSERCONTENT.COM/u/1)", None),
        # not images
        ("! [x](https://evil.example/x.png)", None),
        ("![x] (https://evil.example/x.png)", None),
        ("`![x](https://evil.example/x.png)`", None),
    ],
)
def test_markdown_images_from_outside_github_are_dropped(text: str, expected: str | None) -> None:
    assert github_safe(text) == (text if expected is None else expected)


def test_reference_images_follow_their_definition() -> None:
    text = (
        "![foreign][f] ![own][g] ![Shortcut] ![collapsed][] ![undefined][u]\n\n"
        "[f]: https://evil.example/f.png\n"
        "[g]: https://github.com/acme/w/raw/main/g.png\n"
        "[shortcut]: <https://evil.example/s.png>\n"
        "[Collapsed]: https://evil.example/c.png 'title'\n"
    )
    assert github_safe(text).split("\n")[0] == (
        "foreign ![own][g] Shortcut collapsed ![undefined][u]"
    )


def test_a_definition_inside_code_defines_nothing() -> None:
    text = "![x][r]\n\n```\n[r]: https://evil.example/r.png\n```"
    assert github_safe(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('<img src="https://evil.example/x.png" alt="A cat">', "A cat"),
        ("<IMG SRC=https://evil.example/x.png>", "image"),
        ('<img alt="hi @bob" src=\'https://evil.example/x.png\' width="20"/>', f"hi @{Z}bob"),
        ('<img src="https://evil.example/x.png" alt="![y](https://evil.example/y.png)">', "y"),
        ('<img src="https://github.com/a.png" alt="ok">', None),
        ('<img src="https://github.com/a.png" srcset="https://evil.example/2x.png 2x">', "image"),
        (
            '<picture><source srcset="https://evil.example/d.png" media="(prefers-color-scheme:'
            ' dark)"><img src="https://github.com/l.png"></picture>',
            '<picture><img src="https://github.com/l.png"></picture>',
        ),
        ("<img>", "image"),
    ],
)
def test_html_images_from_outside_github_are_dropped(text: str, expected: str | None) -> None:
    assert github_safe(text) == (text if expected is None else expected)


def test_a_whole_answer_keeps_its_shape() -> None:
    answer = (
        "## Findings\n\n"
        "Thanks @alice — @acme/oncall should look.\n\n"
        "- see https://example.com/@x\n"
        "- ![graph](https://evil.example/g.png)\n\n"
        "```sh\ngit log --author=@me\n```\n"
    )
    assert github_safe(answer) == (
        "## Findings\n\n"
        f"Thanks @{Z}alice — @{Z}acme/oncall should look.\n\n"
        "- see https://example.com/@x\n"
        "- graph\n\n"
        "```sh\ngit log --author=@me\n```\n"
    )


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://github.com/a.png", True),
        ("http://gist.github.com/a.png", True),
        ("https://objects.githubusercontent.com/a", True),
        ("https://github.com:443/a.png", True),
        ("ftp://github.com/a.png", False),
        ("https://github.co/a.png", False),
        ("https://notgithub.com/a.png", False),
        ("https://github.com@evil.example/a.png", False),
        ("https://[::1/a.png", False),
        ("", False),
    ],
)
def test_is_github_image_url(url: str, allowed: bool) -> None:
    assert is_github_image_url(url) is allowed


def test_escape_mentions_alone() -> None:
    assert escape_mentions("@a b@c @d/e") == f"@{Z}a b@c @{Z}d/e"
