"""``usage``: the tokens spent today (UTC), by person and by place, against the budgets.

``python -m app usage [--days N] [--json]``

It reads the tokens (input and output) each turn's commit records under
``app.turns.limits.Limits.spend_scopes``, through ``Quotas.usage_by_scope``: the whole
workspace, each Slack user, each Slack channel or DM, and each GitHub issue or Jira ticket
whose comments started turns. Largest first. The window starts at midnight UTC, today, or
``N - 1`` days before with ``--days N``.

The store keeps token spend for ``QUOTA_RETENTION`` (enough for the daily budgets); a longer
window says so on stderr, since its older days count nothing.

The users' and channels' totals need not add up to the workspace's: a comment's turn has no
Slack user, and anything without a person or place (a background job) counts only for the
workspace.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from app.config import ActionSettings
from app.ops import output
from app.store.base import Store
from app.store.types import QUOTA_RETENTION
from app.turns.limits import CHANNEL, ITEM, USER, WORKSPACE, day_start

MAX_DAYS: Final = 366


def add_parser(commands: Any, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    usage = commands.add_parser(
        "usage",
        help="tokens spent today, by user and by channel, against the budgets",
        description=(
            "Input and output tokens spent since midnight UTC (today, or the last N days with "
            "--days), for the whole workspace, by Slack user, and by channel, DM, issue or "
            "ticket, largest first, with DAILY_TOKEN_BUDGET and USER_DAILY_TOKEN_BUDGET."
        ),
    )
    usage.add_argument(
        "--days",
        type=_days,
        default=1,
        metavar="N",
        help="the last N days, today included (default 1: today)",
    )
    json_flag(usage)


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of days, got {value!r}"
        ) from None
    if not 1 <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"days must be between 1 and {MAX_DAYS}")
    return days


@dataclass(frozen=True)
class UsageReport:
    """What ``usage`` reports (also its ``--json`` document)."""

    since: datetime
    until: datetime
    days: int
    workspace: int
    daily_token_budget: int  # 0: unlimited
    user_daily_token_budget: int  # 0: unlimited
    users: list[tuple[str, int]]  # (Slack user id, tokens), largest first
    channels: list[tuple[str, int]]  # (channel or DM id, tokens)
    items: list[tuple[str, int]]  # (conversation key of an issue or ticket, tokens)


async def read(store: Store, actions: ActionSettings, *, now: datetime, days: int) -> UsageReport:
    since = day_start(now) - timedelta(days=days - 1)

    async def by(prefix: str) -> list[tuple[str, int]]:
        rows = await store.usage_by_scope(since, prefix)
        return [(scope.removeprefix(prefix), tokens) for scope, tokens in rows]

    return UsageReport(
        since=since,
        until=now,
        days=days,
        workspace=await store.tokens_since(WORKSPACE, since),
        daily_token_budget=actions.daily_token_budget,
        user_daily_token_budget=actions.user_daily_token_budget,
        users=await by(USER),
        channels=await by(CHANNEL),
        items=await by(ITEM),
    )


async def run(
    args: argparse.Namespace, store: Store, actions: ActionSettings, now: datetime
) -> int:
    report = await read(store, actions, now=now, days=args.days)
    if report.since < now - QUOTA_RETENTION:
        kept = QUOTA_RETENTION.days
        output.error(f"token spend is kept for {kept} days; earlier days count nothing")
    if args.json:
        output.emit_json(_document(report))
    else:
        print(render(report))
    return 0


def _document(report: UsageReport) -> dict[str, Any]:
    def rows(name: str, pairs: list[tuple[str, int]]) -> list[dict[str, Any]]:
        return [{name: who, "tokens": tokens} for who, tokens in pairs]

    return {
        "since": report.since,
        "until": report.until,
        "days": report.days,
        "workspace": report.workspace,
        "budgets": {
            "daily_token_budget": report.daily_token_budget,
            "user_daily_token_budget": report.user_daily_token_budget,
        },
        "users": rows("user", report.users),
        "channels": rows("channel", report.channels),
        "items": rows("key", report.items),
    }


def render(report: UsageReport) -> str:
    """The terminal report: the window, the workspace against its budget, then one table per
    kind of scope (a budget's share only for a one-day window: budgets are per day)."""
    window = "today" if report.days == 1 else f"the last {report.days} days"
    lines = [
        f"Tokens (input + output) since {report.since:%Y-%m-%d %H:%M} UTC ({window}).",
        output.fields(
            [
                ("Workspace", _of(report.workspace, report.daily_token_budget, report.days)),
                ("Daily budget", _budget(report.daily_token_budget, "DAILY_TOKEN_BUDGET")),
                (
                    "Per user a day",
                    _budget(report.user_daily_token_budget, "USER_DAILY_TOKEN_BUDGET"),
                ),
            ]
        ),
    ]
    personal = report.user_daily_token_budget if report.days == 1 else 0
    lines += _table("USER", report.users, personal)
    lines += _table("CHANNEL", report.channels, 0)
    lines += _table("ISSUE OR TICKET", report.items, 0)
    return "\n".join(lines)


def _table(title: str, pairs: list[tuple[str, int]], budget: int) -> list[str]:
    if not pairs:
        return ["", f"{title}: none"]
    headers = [title, "TOKENS"] + (["OF BUDGET"] if budget else [])
    rows = [
        [output.printable(who), output.count(tokens)] + ([_share(tokens, budget)] if budget else [])
        for who, tokens in pairs
    ]
    total = sum(tokens for _, tokens in pairs)
    rows.append(["total", output.count(total)] + ([""] if budget else []))
    return ["", output.table(headers, rows, right={1, 2})]


def _of(tokens: int, budget: int, days: int) -> str:
    if budget and days == 1:
        return f"{output.count(tokens)} ({_share(tokens, budget)} of the daily budget)"
    return output.count(tokens)


def _share(tokens: int, budget: int) -> str:
    return f"{100 * tokens / budget:.0f}%"


def _budget(budget: int, setting: str) -> str:
    amount = f"{output.count(budget)} tokens" if budget else "unlimited"
    return f"{amount} ({setting})"
