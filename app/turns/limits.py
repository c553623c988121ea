"""Limits and budgets of turns, counted in the store so they hold across replicas.

Before any model call the pipeline asks ``Limits.admit(inbound)``; a ``Refusal`` means no
turn: the pipeline counts ``refusal.reason`` (``metrics.refusal``) and shows ``refusal.note``
to the person. A turn's tokens are recorded by its commit, under ``Limits.spend_scopes`` and
``tokens_of``.

What is counted, per scope of ``Quotas`` (a limit or budget of 0 is unlimited)::

    scope                 counted for                      limit (per hour) / budget (per day)
    user:{author_id}      a Slack message's author, or a   USER_TURNS_PER_HOUR
                          Slack person's dashboard reply   USER_DAILY_TOKEN_BUDGET
    channel:{channel}     a Slack message's channel or DM, CHANNEL_TURNS_PER_HOUR
                          or the Slack channel of the
                          conversation a dashboard reply
                          is written in
    item:{key}            a GitHub or Jira comment's item, CHANNEL_TURNS_PER_HOUR
                          or a dashboard reply in a
                          conversation with no Slack
                          channel (its conversation key)
    workspace             every turn                       DAILY_TOKEN_BUDGET

* Comments count against their item, with the channel limit: an issue or a ticket is a place
  people talk in, as a channel is. Their authors are not Slack users: a GitHub login could
  look like a Slack id, so they never count against ``user:`` scopes (nor its budget).
* A background job's result is told as a turn of the person who asked for it: in Slack it
  counts against them and the channel (its ``author_id`` is theirs), on an item against the
  item. Its turn is never refused (it must be told), only counted.
* A reply written on the dashboard by someone signed in with Slack is theirs as a Slack
  message is (the dashboard records their workspace, ``team_id``; an operator signed in with
  the token has none and counts only against the place): it counts against them and against
  the conversation's Slack channel (``channel``, set by the dashboard) when it has one.
* Rates are sliding windows of an hour; an admitted turn counts whether or not it then
  succeeds. Budgets count input and output tokens since midnight UTC, and are checked before
  the turn: the turn that crosses a budget finishes, the next one is refused.
* Budgets are checked first, and only read: a turn refused for its budget uses up none of the
  hour's allowance. ``Quotas.admit`` then checks and records the rates atomically.

The notes say which limit was reached and when it resets, and nothing else (no counts of
other people, no setting values beyond the limit itself). A rate's note names the latest
time it frees up (an hour from now, when every turn counted now has left the window); it may
free up sooner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from app.config import ActionSettings
from app.core import Inbound, Usage
from app.store.base import Quotas

WINDOW: Final = timedelta(hours=1)
WORKSPACE: Final = "workspace"
USER: Final = "user:"
CHANNEL: Final = "channel:"
ITEM: Final = "item:"
# Where a message's ``channel`` is the Slack channel it counts against.
SLACK_PLACES: Final = ("slack", "dashboard")
# What a place is called in a note about its rate.
_PLACE: Final = {"slack": "This channel", "github": "This issue", "jira": "This ticket"}


@dataclass(frozen=True)
class Refusal:
    """A turn not to run: ``reason`` is the metric label (``user_rate``, ``channel_rate``,
    ``daily_budget``, ``user_daily_budget``), ``note`` what the person is told, ``resets_at``
    when the limit frees up at the latest."""

    reason: str
    note: str
    resets_at: datetime


def user_scope(inbound: Inbound) -> str | None:
    """``user:{author_id}`` for a Slack message or a Slack person's dashboard reply; None for
    anything else."""
    if inbound.source == "slack" or _slack_person_on_dashboard(inbound):
        return f"{USER}{inbound.author_id}"
    return None


def place_scope(inbound: Inbound) -> str | None:
    """``channel:{channel}`` for a Slack message (or a dashboard reply in a conversation with
    a Slack channel), ``item:{key}`` for a comment (or another dashboard reply), else None."""
    if inbound.source in SLACK_PLACES and inbound.channel:
        return f"{CHANNEL}{inbound.channel}"
    if inbound.item_ref:
        return f"{ITEM}{inbound.key}"
    return None


def _slack_person_on_dashboard(inbound: Inbound) -> bool:
    return inbound.source == "dashboard" and bool(inbound.team_id)


def tokens_of(usage: Usage) -> int:
    """A turn's input and output tokens. Input read from or written to the prompt cache is
    input too: it is counted with the rest."""
    cached = usage.cache_read_tokens + usage.cache_write_tokens
    return usage.input_tokens + cached + usage.output_tokens


def day_start(now: datetime) -> datetime:
    """Midnight UTC at the start of ``now``'s day: when the daily budgets start counting."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _clock_time(moment: datetime) -> str:
    """``14:05``: UTC, rounded up to the minute (never earlier than the moment)."""
    moment = moment.astimezone(UTC)
    rounded = moment.replace(second=0, microsecond=0)
    if rounded < moment:
        rounded += timedelta(minutes=1)
    return f"{rounded:%H:%M}"


def rate_note(reason: str, inbound: Inbound, limit: int, resets_at: datetime) -> str:
    when = _clock_time(resets_at)
    messages = f"{limit:,} message{'' if limit == 1 else 's'} an hour"
    if reason == "user_rate":
        return f"You've reached {messages}; you can ask again by {when} UTC."
    if inbound.source in SLACK_PLACES and inbound.channel:
        place = "This channel"
    else:
        place = _PLACE.get(inbound.source, "This conversation")
    return f"{place} has reached {messages}; you can ask again by {when} UTC."


def budget_note(reason: str, budget: int) -> str:
    if reason == "user_daily_budget":
        return (
            f"You've used your daily budget of {budget:,} tokens; "
            "you can ask again after midnight UTC."
        )
    return (
        f"The team's daily budget of {budget:,} tokens is used up; "
        "I can answer again after midnight UTC."
    )


class Limits:
    """The limits of ``settings`` over ``store``'s quotas, with time from ``clock``."""

    def __init__(
        self, store: Quotas, settings: ActionSettings, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock

    @property
    def active(self) -> bool:
        """Whether any rate or budget is set (all 0: nothing to check before a turn)."""
        s = self._settings
        return any(
            (
                s.user_turns_per_hour,
                s.channel_turns_per_hour,
                s.daily_token_budget,
                s.user_daily_token_budget,
            )
        )

    async def admit(self, inbound: Inbound) -> Refusal | None:
        """None: the turn may run (and is counted against the hour's rates); else why not.

        Raises ``StoreError`` when the store cannot count (the pipeline's to handle).
        """
        refusal = await self._over_budget(inbound)
        if refusal is not None:
            return refusal
        s = self._settings
        user, place = user_scope(inbound), place_scope(inbound)
        rates: list[tuple[str, int, str]] = []
        if user is not None and s.user_turns_per_hour > 0:
            rates.append((user, s.user_turns_per_hour, "user_rate"))
        if place is not None and s.channel_turns_per_hour > 0:
            rates.append((place, s.channel_turns_per_hour, "channel_rate"))
        if not rates:
            return None
        full = await self._store.admit(
            scopes=[(scope, limit) for scope, limit, _ in rates],
            window_seconds=WINDOW.total_seconds(),
        )
        for scope, limit, reason in rates:
            if scope == full:
                resets_at = self._clock() + WINDOW
                return Refusal(reason, rate_note(reason, inbound, limit, resets_at), resets_at)
        return None

    def spend_scopes(self, inbound: Inbound) -> list[str]:
        """Where a turn's tokens count: the workspace, its author (Slack) and its place
        (channel or item, for ``python -m app usage``)."""
        scopes = [WORKSPACE]
        return scopes + [s for s in (user_scope(inbound), place_scope(inbound)) if s]

    async def spent(self, inbound: Inbound, usage: Usage) -> None:
        """Record a turn's tokens on its own, as its commit would (see ``spend_scopes``)."""
        await self._store.add_tokens(scopes=self.spend_scopes(inbound), tokens=tokens_of(usage))

    async def _over_budget(self, inbound: Inbound) -> Refusal | None:
        s = self._settings
        now = self._clock()
        since = day_start(now)
        budgets: list[tuple[str | None, int, str]] = [
            (WORKSPACE, s.daily_token_budget, "daily_budget"),
            (user_scope(inbound), s.user_daily_token_budget, "user_daily_budget"),
        ]
        for scope, budget, reason in budgets:
            if scope is None or budget <= 0:
                continue
            if await self._store.tokens_since(scope, since) >= budget:
                return Refusal(reason, budget_note(reason, budget), since + timedelta(days=1))
        return None
