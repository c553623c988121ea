"""``feedback``: the votes people gave the bot's answers in Slack, newest first.

``python -m app feedback [--day YYYY-MM-DD] [--channel C…] [--vote up|down] [--limit N]
[--json]``

Each vote is one person's on one answer (a second click changed it, so it shows once, as it
is now), with the turn that wrote the answer (``sessions show`` lists a session's votes on its
turns) and what the person said about a thumbs-down. ``--day`` takes the UTC day a vote was
last changed. A reason is what someone typed: printed with its control characters escaped.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from app.ops import output
from app.store.base import Store, Vote, VoteFilter

MAX_LIMIT: Final = 10_000
REASON_WIDTH: Final = 60


def add_parser(commands: Any, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    votes = commands.add_parser(
        "feedback",
        help="votes on the bot's answers, with the reasons for thumbs-down",
        description=(
            "Votes people gave answers in Slack (one per person per answer, as it is now), "
            "newest first, with the turn that wrote the answer and the reason given for a "
            "thumbs-down. Filter by the UTC day a vote was cast or changed, by channel, by vote."
        ),
    )
    votes.add_argument("--day", type=_day, metavar="YYYY-MM-DD", help="votes of that UTC day")
    votes.add_argument("--channel", metavar="CHANNEL", help="votes in this channel or DM (C…, D…)")
    votes.add_argument("--vote", choices=("up", "down"), help="only thumbs-up or thumbs-down")
    votes.add_argument(
        "--limit", type=_limit, default=200, metavar="N", help="at most N votes (default 200)"
    )
    json_flag(votes)


def _day(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {value!r}") from None


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def vote_filter(args: argparse.Namespace) -> VoteFilter:
    day: datetime | None = args.day
    return VoteFilter(
        since=day,
        until=day + timedelta(days=1) if day else None,
        channel=args.channel,
        vote=args.vote,
        limit=args.limit,
    )


async def run(args: argparse.Namespace, store: Store) -> int:
    votes = await store.list_votes(vote_filter(args))
    if args.json:
        output.emit_json(
            {
                "up": sum(v.vote == "up" for v in votes),
                "down": sum(v.vote == "down" for v in votes),
                "votes": votes,
            }
        )
    else:
        print(render(votes))
    return 0


def render(votes: list[Vote]) -> str:
    if not votes:
        return "No votes match."
    up = sum(v.vote == "up" for v in votes)
    headline = f"{len(votes)} vote(s): {up} up, {len(votes) - up} down."
    rows = [
        [
            output.when(v.updated_at),
            v.vote,
            output.printable(v.channel),
            output.printable(v.message_ts),
            output.printable(v.user_id),
            output.printable(v.turn_id or "-"),
            output.printable(output.one_line(v.reason or "", REASON_WIDTH)),
        ]
        for v in votes
    ]
    headers = ["WHEN (UTC)", "VOTE", "CHANNEL", "MESSAGE", "USER", "TURN", "REASON"]
    return "\n".join([headline, "", output.table(headers, rows)])
