"""``sessions list``, ``sessions show`` and ``sessions drop``: conversations as the store has them.

A session is named on the command line by its id or by any of its keys, with or without the
agent prefix (``threadline:jira:AD-12`` or ``jira:AD-12``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from app.core import Usage
from app.ops import output
from app.store.base import (
    Session,
    SessionFilter,
    SessionSummary,
    Store,
    is_live,
)
from app.store.types import DEFAULT_MAX_AGE_DAYS
from app.surfaces import PLATFORMS

STATUSES: Final = ("active", "reset", "dropped", "expired")
DROP_CAUSE: Final = "dropped by operator"


def add_parser(commands: Any, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    sessions = commands.add_parser(
        "sessions",
        help="list, inspect and drop conversations",
        description="List, inspect and drop conversations (sessions).",
    )
    sub = sessions.add_subparsers(dest="sessions_command", metavar="subcommand", required=True)

    listing = sub.add_parser(
        "list",
        help="sessions, most recently active first",
        description="Sessions, most recently active first, with their keys, turns and tokens.",
    )
    listing.add_argument("--platform", choices=PLATFORMS, help="only sessions with such a key")
    listing.add_argument("--key", metavar="SUBSTR", help="only sessions with a key containing this")
    listing.add_argument(
        "--active-within", type=days_arg, metavar="DAYS", help="active in the last DAYS days"
    )
    listing.add_argument(
        "--older-than", type=days_arg, metavar="DAYS", help="idle for more than DAYS days"
    )
    listing.add_argument("--status", choices=STATUSES, help="only sessions in this state")
    listing.add_argument(
        "--limit", type=_positive, default=50, metavar="N", help="at most N sessions (50)"
    )
    json_flag(listing)

    show = sub.add_parser(
        "show",
        help="one session: keys, events, transcript, token usage",
        description="One session: keys, status, event log, transcript and token usage per turn.",
    )
    show.add_argument("ref", metavar="ID|KEY", help="session id, or one of its keys")
    json_flag(show)

    drop = sub.add_parser(
        "drop",
        help="end a session (its keys start fresh); --delete removes it",
        description=(
            "End a session as dropped by the operator: its keys are released, so the next "
            "message on any of them starts a new conversation. With --delete the session, "
            "its transcript and its log are removed from the database."
        ),
    )
    drop.add_argument("ref", metavar="ID|KEY", help="session id, or one of its keys")
    drop.add_argument("--delete", action="store_true", help="remove it from the database")
    json_flag(drop)


def days_arg(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {value!r}") from None
    if days < 0:
        raise argparse.ArgumentTypeError("days cannot be negative")
    return days


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


@dataclass(frozen=True)
class Context:
    store: Store
    agent: str
    now: datetime
    ttl_days: float
    max_age_days: float = DEFAULT_MAX_AGE_DAYS

    def live(self, session: Session) -> bool:
        """Active, within the TTL and the maximum age: its keys still lead to it."""
        return is_live(
            session, self.now, timedelta(days=self.ttl_days), timedelta(days=self.max_age_days)
        )


async def run(args: argparse.Namespace, ctx: Context) -> int:
    sub = args.sessions_command
    if sub == "list":
        return await list_sessions(args, ctx)
    if sub == "show":
        from app.ops.session_view import show_session

        return await show_session(args, ctx)
    if sub == "drop":
        return await drop_session(args, ctx)
    raise ValueError(f"unknown sessions command {sub!r}")  # argparse prevents this


# -- finding a session -------------------------------------------------------------------------


def full_key(ref: str, agent: str) -> str:
    """``jira:AD-12`` -> ``{agent}:jira:AD-12``; anything else is returned unchanged."""
    platform = ref.split(":", 1)[0]
    return f"{agent}:{ref}" if platform in PLATFORMS and ":" in ref else ref


async def find(store: Store, ref: str, agent: str) -> Session | None:
    """The session ``ref`` names: an id, else the session holding that key, live or not (an
    operator also looks up sessions idle past the TTL that are not yet marked expired)."""
    ref = ref.strip()
    if not ref:
        return None
    session = await store.get_session(ref)
    if session is not None:
        return session
    return await store.session_for_key(full_key(ref, agent))


async def found(ctx: Context, ref: str) -> Session | None:
    session = await find(ctx.store, ref, ctx.agent)
    if session is None:
        output.error(f"no session with id or key {ref!r}")
    return session


# -- list --------------------------------------------------------------------------------------


def usage_json(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    }


def session_json(session: Session, ctx: Context) -> dict[str, Any]:
    return {
        "id": session.id,
        "agent": session.agent,
        "status": session.status,
        "live": ctx.live(session),
        "created_at": session.created_at.isoformat(),
        "last_active_at": session.last_active_at.isoformat(),
        "resume_count": session.resume_count,
    }


def total_tokens(usage: Usage) -> int:
    return (
        usage.input_tokens
        + usage.output_tokens
        + usage.cache_read_tokens
        + usage.cache_write_tokens
    )


async def list_sessions(args: argparse.Namespace, ctx: Context) -> int:
    flt = SessionFilter(
        platform=args.platform,
        key_contains=args.key,
        active_within_days=args.active_within,
        older_than_days=args.older_than,
        status=args.status,
        limit=args.limit,
    )
    summaries = await ctx.store.list_sessions(flt)
    if args.json:
        output.emit_json(
            {
                "sessions": [
                    {
                        **session_json(s.session, ctx),
                        "keys": s.keys,
                        "turns": s.turns,
                        "usage": usage_json(s.usage),
                    }
                    for s in summaries
                ],
            }
        )
        return 0
    if not summaries:
        print("No sessions match.")
        return 0
    print(_list_table(summaries, ctx))
    if len(summaries) == flt.limit:
        print(f"(first {flt.limit}; use --limit for more)")
    return 0


def status_label(session: Session, ctx: Context) -> str:
    if session.status == "active" and not ctx.live(session):
        idle = not is_live(session, ctx.now, timedelta(days=ctx.ttl_days))
        return "active (past TTL)" if idle else "active (past max age)"
    return session.status


def _list_table(summaries: list[SessionSummary], ctx: Context) -> str:
    rows = []
    for s in summaries:
        keys = output.printable(s.keys[0]) if s.keys else "-"
        if len(s.keys) > 1:
            keys += f"  (+{len(s.keys) - 1} more)"
        rows.append(
            [
                s.session.id,
                status_label(s.session, ctx),
                output.when(s.session.last_active_at),
                output.ago(s.session.last_active_at, ctx.now),
                str(s.turns),
                output.count(total_tokens(s.usage)),
                keys,
            ]
        )
    headers = ["SESSION", "STATUS", "LAST ACTIVE (UTC)", "IDLE", "TURNS", "TOKENS", "KEYS"]
    return output.table(headers, rows, right={4, 5})


# -- show --------------------------------------------------------------------------------------


async def drop_session(args: argparse.Namespace, ctx: Context) -> int:
    session = await found(ctx, args.ref)
    if session is None:
        return 1
    keys = [k.key for k in await ctx.store.keys_for(session.id)]
    if args.delete:
        await ctx.store.delete_session(session.id)
        action = "deleted"
        message = f"Deleted session {session.id} with its transcript and log."
    elif session.status != "active":
        action = "unchanged"
        message = f"Session {session.id} has already ended ({session.status}); nothing to do."
    else:
        await ctx.store.end_session(session.id, "dropped", cause=DROP_CAUSE)
        action = "dropped"
        message = f"Dropped session {session.id}."
    if args.json:
        output.emit_json(
            {
                "session_id": session.id,
                "action": action,
                "previous_status": session.status,
                "released_keys": keys if action != "unchanged" else [],
            }
        )
        return 0
    print(message)
    if keys and action != "unchanged":
        print("Released keys (the next message on each starts a new conversation):")
        for key in keys:
            print(f"  {output.printable(key)}")
    return 0
