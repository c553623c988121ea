"""What a delivery has already done outside, so a retried turn continues instead of repeating.

A turn that dies after posting part of its answer, or after filing an issue, is run again from
the start (nothing of it was committed). Its inbox row remembers what the earlier attempts
posted to Slack and which items they created, so the retry edits the same messages and gets
the same tool results back instead of filing a second ticket.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from app.agent.tools.base import Toolbox, ToolContext, ToolResult
from app.store.base import Store


class DeliveryRecord:
    """The ``reply_ref`` of one inbox row, merged and saved as it grows (a ``PostedLog``)."""

    def __init__(
        self,
        store: Store,
        pk: int,
        initial: dict[str, Any] | None,
        holder: str,
        *,
        turn_id: str | None = None,
    ) -> None:
        self._store = store
        self._pk = pk
        self._holder = holder
        self._turn_id = turn_id
        self.data: dict[str, Any] = dict(initial or {})

    @property
    def turn_id(self) -> str | None:
        return self._turn_id

    @property
    def slack_messages(self) -> list[str]:
        return list(self.data.get("slack_ts", []))

    @property
    def comments_posted(self) -> int:
        return len(self.data.get("comment_ids", []))

    async def slack_posted(self, ts: str) -> None:
        posted = self.data.setdefault("slack_ts", [])
        if ts not in posted:
            posted.append(ts)
            await self._save()

    async def comment_posted(self, comment_id: str) -> None:
        self.data.setdefault("comment_ids", []).append(comment_id)
        await self._save()

    def tool_result(self, key: str) -> ToolResult | None:
        stored = self.data.get("tools", {}).get(key)
        if not isinstance(stored, dict):
            return None
        return ToolResult(str(stored.get("content", "")), bool(stored.get("is_error")))

    async def tool_done(self, key: str, result: ToolResult) -> None:
        self.data.setdefault("tools", {})[key] = {
            "content": result.content,
            "is_error": result.is_error,
        }
        await self._save()

    async def mark(self, flag: str) -> None:
        """Remember that this delivery got past a point it must not go through twice."""
        if not self.data.get(flag):
            self.data[flag] = True
            await self._save()

    def marked(self, flag: str) -> bool:
        return bool(self.data.get(flag))

    async def slack_removed(self, ts: str) -> None:
        posted = self.data.get("slack_ts", [])
        if ts in posted:
            posted.remove(ts)
            await self._save()

    async def _save(self) -> None:
        await self._store.set_reply_ref(self._pk, self.data, holder=self._holder)


class ReplayingTools:
    """A ``Toolbox`` around another whose side-effecting tools (``create_*``) run at most once
    per delivery.

    The n-th call of such a tool in a retried turn returns what the n-th call of the earlier
    attempt returned, whatever its wording this time: the item exists already.
    """

    def __init__(self, inner: Toolbox, record: DeliveryRecord) -> None:
        self._inner = inner
        self._record = record
        self._calls: Counter[str] = Counter()

    @property
    def names(self) -> list[str]:
        return self._inner.names

    def definitions(self) -> list[dict[str, Any]]:
        return self._inner.definitions()

    def restart(self) -> None:
        """Count calls from zero again (the turn starts over on a fresh session)."""
        self._calls.clear()
        restart = getattr(self._inner, "restart", None)
        if callable(restart):
            restart()  # e.g. the write gate's count of this turn's writes

    async def call(self, name: str, args: Any, ctx: ToolContext) -> ToolResult:
        if not name.startswith("create_"):
            return await self._inner.call(name, args, ctx)
        key = f"{name}#{self._calls[name]}"
        self._calls[name] += 1
        earlier = self._record.tool_result(key)
        if earlier is not None:
            return earlier
        result = await self._inner.call(name, args, ctx)
        await self._record.tool_done(key, result)
        return result
