"""The ``Feedback`` role in memory: the same rules as ``app.store.sql.feedback``."""

from __future__ import annotations

from dataclasses import replace

from app.store.memory.tables import Tables
from app.store.types import MAX_REASON_CHARS, VOTES, Vote, VoteFilter, VoteValue, as_utc

_Key = tuple[str, str, str]  # channel, message_ts, user_id


class MemoryFeedback:
    """``Feedback`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables
        self._votes: dict[_Key, Vote] = tables.votes

    async def record_vote(
        self,
        *,
        channel: str,
        message_ts: str,
        user_id: str,
        vote: VoteValue,
        turn_id: str | None,
    ) -> Vote:
        if vote not in VOTES:
            raise ValueError(f"a vote is up or down, not {vote!r}")
        t = self._t
        now = t.now()
        async with t.lock:
            turn = t.turns.get(turn_id) if turn_id else None
            session_id = turn.session_id if turn is not None else None
            key = (channel, message_ts, user_id)
            before = self._votes.get(key)
            if before is None:
                stored = Vote(
                    channel, message_ts, user_id, vote, session_id, turn_id, None, now, now
                )
            else:
                stored = replace(
                    before,
                    vote=vote,
                    session_id=session_id,
                    turn_id=turn_id,
                    reason=before.reason if vote == "down" else None,
                    updated_at=now,
                )
            self._votes[key] = stored
            return stored

    async def record_reason(
        self, *, channel: str, message_ts: str, user_id: str, reason: str
    ) -> Vote | None:
        kept = reason.strip()[:MAX_REASON_CHARS] or None
        async with self._t.lock:
            key = (channel, message_ts, user_id)
            before = self._votes.get(key)
            if before is None or before.vote != "down":
                return None
            stored = replace(before, reason=kept, updated_at=self._t.now())
            self._votes[key] = stored
            return stored

    async def list_votes(self, flt: VoteFilter) -> list[Vote]:
        since = as_utc(flt.since) if flt.since else None
        until = as_utc(flt.until) if flt.until else None
        async with self._t.lock:
            found = [
                v
                for v in self._votes.values()
                if (since is None or v.updated_at >= since)
                and (until is None or v.updated_at < until)
                and (flt.channel is None or v.channel == flt.channel)
                and (flt.vote is None or v.vote == flt.vote)
            ]
        found.sort(key=lambda v: (v.channel, v.message_ts, v.user_id))
        found.sort(key=lambda v: v.updated_at, reverse=True)
        return found[: flt.limit]

    async def votes_for_turns(self, turn_ids: list[str]) -> list[Vote]:
        wanted = set(turn_ids)
        async with self._t.lock:
            found = [v for v in self._votes.values() if v.turn_id in wanted]
        return sorted(found, key=lambda v: (v.created_at, v.channel, v.message_ts, v.user_id))

    async def vote_totals(self) -> dict[VoteValue, int]:
        async with self._t.lock:
            votes = [v.vote for v in self._votes.values()]
        return {"up": votes.count("up"), "down": votes.count("down")}

    async def forget_voter(self, user_id: str) -> int:
        async with self._t.lock:
            keys = [key for key in self._votes if key[2] == user_id]
            for key in keys:
                del self._votes[key]
        return len(keys)
