"""Bounded input: where a long message is cut, and what that leaves for Claude to read."""

from __future__ import annotations

import random

import pytest

from app.agent.prompt import user_message
from app.core.bounds import cut_marker, cut_message, cut_notice, rendered_size
from app.core.text import clean_name, quote

DEFAULT = 40_000


def test_a_message_within_the_limit_is_kept_whole() -> None:
    text = "line one\nline two\n" * 100
    assert cut_message(text, 10_000) == (text, None)
    assert cut_message("x" * 1000, 1000) == ("x" * 1000, None)


@pytest.mark.parametrize(
    ("text", "limit", "kept"),
    [
        # At the last line break that fits.
        ("first line\nsecond line\nthird line", 25, "first line\nsecond line"),
        ("aaaa\nbbbb\ncccc\ndddd", 13, "aaaa\nbbbb"),
        ("[aa\n[bb\n[cc", 10, "[aa\n[bb"),  # each line may gain a "\\"
        # One long line: at the last word that fits.
        ("one two three four five six", 16, "one two three"),
        # A first line too short to be worth keeping alone: into the next, at a word.
        ("hi\n" + "word " * 20, 40, "hi\nword word word word word word word"),
        # No space at all (a pasted blob): at the limit.
        ("x" * 50, 20, "x" * 20),
        # A space too early to be worth it: at the limit.
        ("ab " + "y" * 50, 20, "ab " + "y" * 17),
    ],
)
def test_where_a_long_message_is_cut(text: str, limit: int, kept: str) -> None:
    assert cut_message(text, limit) == (kept, len(text))


def test_a_cut_never_splits_a_character() -> None:
    # A lone surrogate pair (as a JSON decoder can leave it), then a combining accent and a
    # skin-tone modifier: each cut lands before the whole character.
    pair = "\ud83d\ude00"
    text, cut_from = cut_message("x" * 19 + pair + "x" * 30, 20)
    assert text == "x" * 19 and cut_from == 51
    text, _ = cut_message("x" * 19 + "e\u0301" + "x" * 30, 20)
    assert text == "x" * 19
    text, _ = cut_message("x" * 19 + "\U0001f44d\U0001f3fd" + "x" * 30, 20)
    assert text == "x" * 19
    text, _ = cut_message("x" * 18 + "\U0001f469\u200d\U0001f4bb" + "x" * 30, 20)
    assert text == "x" * 18


def test_quoting_counts_against_the_limit() -> None:
    many_short_lines = "a\n" * 20_000  # 40,000 characters, 80,000 once quoted
    assert cut_message(many_short_lines, DEFAULT)[1] is None
    kept, cut_from = cut_message(many_short_lines, DEFAULT, quoted=True)
    assert cut_from == 40_000
    assert len(quote(kept)) <= DEFAULT
    assert len(quote(kept)) > DEFAULT - 10  # the whole room is used


def test_header_like_lines_count_their_escape() -> None:
    lines = "[a () in x]\n" * 4_000  # 48,000 characters, each line escaped for Claude
    kept, cut_from = cut_message(lines, DEFAULT)
    assert cut_from == len(lines)
    assert rendered_size(kept) <= DEFAULT
    body = user_message("[h (U1) in Slack]", kept)["content"][0]["text"]
    assert len(body) <= DEFAULT + len("[h (U1) in Slack]\n")


def _adversarial(seed: int) -> str:
    """Long texts of every shape: short and long lines, header look-alikes, blobs, emoji."""
    rng = random.Random(seed)
    pieces = ["\n", " ", "word", "[x (U1) in Slack]", "x" * 3_000, "é", "\U0001f600", "a\n\n"]
    out: list[str] = []
    size = 0
    while size < 60_000:
        piece = rng.choice(pieces) * rng.randint(1, 400)
        out.append(piece)
        size += len(piece)
    return "".join(out)


@pytest.mark.parametrize("seed", range(40))
def test_what_reaches_claude_stays_under_42000_characters(seed: int) -> None:
    text = _adversarial(seed)
    header = f"[{clean_name('N' * 200)} (U0123456789ABCDEF) in GitHub acme/widgets#12345]"
    for quoted in (False, True):
        kept, cut_from = cut_message(text, DEFAULT, quoted=quoted)
        assert cut_from == len(text)
        assert text.startswith(kept) and len(kept) >= DEFAULT // 4
        message = user_message(header, quote(kept) if quoted else kept)
        reaching = message["content"][0]["text"] + "\n" + cut_marker(cut_from, DEFAULT)
        assert len(reaching) < 42_000
        assert rendered_size(kept, quoted=quoted) <= DEFAULT


def test_the_notices_say_how_long_it_was_and_the_limit() -> None:
    assert cut_notice(52_310, 40_000) == (
        "Your message was too long (52,310 characters, over the limit of 40,000), "
        "so I read only its beginning."
    )
    marker = cut_marker(52_310, 40_000)
    assert marker.startswith("[This message was cut") and "52,310" in marker
    assert "40,000" in marker and "\n" not in marker


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        cut_message("x", 0)
