"""The ``Mutes`` role in memory: ``Tables.mutes`` maps a muted key to who muted it, and when."""

from __future__ import annotations

from app.store.memory.tables import Tables


class MemoryMutes:
    """``Mutes`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def mute_thread(self, key: str, by: str) -> bool:
        t = self._t
        now = t.now()
        async with t.lock:
            if key in t.mutes:
                return False
            t.mutes[key] = (by, now)
            return True

    async def unmute_thread(self, key: str) -> bool:
        async with self._t.lock:
            return self._t.mutes.pop(key, None) is not None

    async def is_muted(self, key: str) -> bool:
        async with self._t.lock:
            return key in self._t.mutes
