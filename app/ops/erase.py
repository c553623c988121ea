"""``erase``: remove a person's words from every conversation and their deliveries from the inbox.

``python -m app erase --slack-user U… | --github-login L | --jira-account A [--json]``

What it does, through ``Store.erase_author``:

* Every transcript message by that person (matched by platform and id) keeps its place, its
  role and its author header line, with the name in the header replaced by ``removed``:
  ``[Ada Lovelace (U1) in Slack]\\nthe text`` becomes ``[removed (U1) in Slack]\\n[removed]``.
  Any other text block of the message, and any image or document, becomes ``[removed]``;
  tool calls and tool results stay (they are the agent's, and the transcript must stay a
  valid conversation). The stored author name is cleared.
* Their inbox rows (handled or not) are deleted.
* A Slack user's votes on answers, with the reasons they gave, are deleted.
* Each conversation changed logs ``author_erased`` with the cause ``erased by operator``.

Running it again changes nothing more. What it cannot reach: someone else's message quoting
them, and what Claude said about them in its own words.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any, Final

from app.ops import output
from app.store.base import EraseResult, Store

CAUSE: Final = "erased by operator"
REMOVED: Final = "[removed]"
# The author header a surface puts on a user message: "[Name (ID) in Place]". Names are
# cleaned of brackets and newlines, so the last " (ID) in Place]" ends the name; the place
# has no parentheses.
_HEADER = re.compile(r"^\[(?P<name>.*) \((?P<id>[^()]*)\) in (?P<place>[^()\[\]]*)\]$")
# What a person's id looks like on each platform (a typo erases nobody; refuse it instead).
_IDS: Final = {
    "slack": (re.compile(r"^[A-Z][A-Z0-9]+$"), "a Slack user id like U0123ABCD"),
    "github": (
        re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$"),
        "a GitHub login like octocat",
    ),
    "jira": (
        re.compile(r"^[A-Za-z0-9:_-]{1,128}$"),
        "a Jira account id like 5b10ac8d82e05b22cc7d4ef5",
    ),
}


def erased_content(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A user message's blocks with the person's words removed (see the module docstring)."""
    out: list[dict[str, Any]] = []
    header_seen = False
    for block in content:
        kind = block.get("type")
        if kind in ("tool_use", "tool_result"):
            out.append(block)
            continue
        if kind == "text" and not header_seen:
            header_seen = True
            out.append({**block, "text": _erased_first_text(str(block.get("text", "")))})
            continue
        out.append({"type": "text", "text": REMOVED})
    return out


def _erased_first_text(text: str) -> str:
    first_line = text.split("\n", 1)[0]
    header = _HEADER.match(first_line)
    if header is None:
        return REMOVED
    return f"[removed ({header['id']}) in {header['place']}]\n{REMOVED}"


def _person(source: str) -> Callable[[str], str]:
    pattern, example = _IDS[source]

    def parse(value: str) -> str:
        value = value.strip()
        if not pattern.match(value):
            raise argparse.ArgumentTypeError(f"expected {example}, got {value!r}")
        return value

    return parse


def add_parser(commands: Any, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    erase = commands.add_parser(
        "erase",
        help="remove a person's messages from every conversation",
        description=(
            "Replace everything a person wrote in every stored conversation with [removed] "
            "(the author line stays, with their name replaced), and delete their inbox rows. "
            "Each conversation changed records it in its event log."
        ),
    )
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--slack-user", type=_person("slack"), metavar="USER_ID", help="U…")
    who.add_argument("--github-login", type=_person("github"), metavar="LOGIN")
    who.add_argument("--jira-account", type=_person("jira"), metavar="ACCOUNT_ID")
    json_flag(erase)


def person_of(args: argparse.Namespace) -> tuple[str, str]:
    """``(source, author_id)`` from the one option given."""
    for source, value in (
        ("slack", args.slack_user),
        ("github", args.github_login),
        ("jira", args.jira_account),
    ):
        if value is not None:
            return source, value
    raise ValueError("erase needs a person")  # argparse prevents this


async def run(args: argparse.Namespace, store: Store) -> int:
    source, author_id = person_of(args)
    result = await store.erase_author(source, author_id, replacement=erased_content, cause=CAUSE)
    votes = await store.forget_voter(author_id) if source == "slack" else None
    if args.json:
        document = {"source": source, "author_id": author_id, **vars(result)}
        if votes is not None:
            document["votes"] = votes
        output.emit_json(document)
    else:
        print(report(source, author_id, result, votes))
    return 0


def report(source: str, author_id: str, result: EraseResult, votes: int | None = None) -> str:
    """What ``erase`` prints: who, then one row per kind of thing it touched (votes: a Slack
    user's)."""
    label = {"slack": "Slack user", "github": "GitHub user", "jira": "Jira account"}[source]
    rows = [
        ["messages", str(result.messages), f'their words replaced by "{REMOVED}"'],
        ["sessions", str(result.sessions), "conversations that held them (event: author_erased)"],
        ["deliveries", str(result.deliveries), "their inbox rows, deleted"],
    ]
    if votes is not None:
        rows.append(["votes", str(votes), "their votes on answers, with reasons, deleted"])
    table = output.table(["ERASED", "COUNT", "WHICH"], rows, right={1})
    return f"Erased {label} {output.printable(author_id)}.\n{table}"
