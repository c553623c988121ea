"""The ``Quotas`` role in memory: the same counting rules as ``app.store.sql.quotas``; the lock
makes ``admit`` atomic (one store is one process, so this cannot stand for replicas)."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.store.memory.tables import Tables
from app.store.types import as_utc


class MemoryQuotas:
    """``Quotas`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def admit(self, *, scopes: list[tuple[str, int]], window_seconds: float) -> str | None:
        t = self._t
        now = t.now()
        start = now - timedelta(seconds=window_seconds)
        async with t.lock:
            for scope, limit in scopes:
                if limit <= 0:
                    continue
                count = sum(s == scope and at > start for s, at in t.admissions)
                if count >= limit:
                    return scope
            for scope in dict.fromkeys(scope for scope, _ in scopes):
                t.admissions.append((scope, now))
            return None

    async def add_tokens(self, *, scopes: list[str], tokens: int) -> None:
        if tokens < 0:
            raise ValueError(f"add_tokens takes a count of tokens, not {tokens}")
        if tokens == 0:
            return
        t = self._t
        now = t.now()
        async with t.lock:
            for scope in dict.fromkeys(scopes):
                t.spend.append((scope, now, tokens))

    async def tokens_since(self, scope: str, since: datetime) -> int:
        since = as_utc(since)
        async with self._t.lock:
            return sum(n for s, at, n in self._t.spend if s == scope and at >= since)

    async def usage_by_scope(self, since: datetime, prefix: str) -> list[tuple[str, int]]:
        since = as_utc(since)
        totals: dict[str, int] = {}
        async with self._t.lock:
            for scope, at, n in self._t.spend:
                if scope.startswith(prefix) and at >= since:
                    totals[scope] = totals.get(scope, 0) + n
        return sorted(totals.items(), key=lambda item: (-item[1], item[0]))
