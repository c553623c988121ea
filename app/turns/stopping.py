"""Stopping a turn in progress: asked at the edge, noticed by the turn, committed as it stands.

A person stops a turn with Slack's native stop button (``agent_session_stopped``) or the Stop
button on an answer. The edge marks the conversation's delivery being handled now
(``stop_ref``); the replica running it notices within a second, cancels the turn, keeps what
was already shown, and commits the conversation as it stands: what the agent said and did so
far, a tool call that had not finished answered as not run, and a closing line. A stopped turn
is a valid turn, and the next message continues from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final

from app.errors import StoreError
from app.store.base import Delivery, Store

log = logging.getLogger("app.turn")

WATCH_INTERVAL: Final = 1.0
STOPPED_NOTE: Final = "_Stopped._"


def stop_ref(delivery_id: str) -> str:
    """The ``remember_posted`` ref that asks the turn of ``delivery_id`` to stop."""
    return f"stop:{delivery_id}"


async def request_stop(store: Store, lanes: Sequence[str]) -> bool:
    """Ask the turn running in any of ``lanes`` (conversation keys) to stop; whether one was
    running. Raises ``StoreError``."""
    for lane in lanes:
        delivery = await store.processing_delivery(lane)
        if delivery is not None:
            await store.remember_posted(stop_ref(delivery.delivery_id))
            return True
    return False


@contextlib.asynccontextmanager
async def watch_for_stop(
    store: Store,
    delivery: Delivery,
    on_stop: Callable[[], None],
    *,
    interval: float = WATCH_INTERVAL,
) -> AsyncIterator[None]:
    """Call ``on_stop`` once if someone asks this delivery's turn to stop while the block runs."""

    async def watch() -> None:
        ref = stop_ref(delivery.delivery_id)
        while True:
            await asyncio.sleep(interval)
            try:
                if await store.was_posted(ref):
                    on_stop()
                    return
            except StoreError as exc:
                log.debug("stop check skipped: %s", exc)

    task = asyncio.create_task(watch())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def stopped_messages(
    record: Sequence[dict[str, Any]], partial_text: str, note: str = "(Stopped before finishing.)"
) -> list[dict[str, Any]]:
    """The turn's new messages as they stand when stopped, as a valid conversation (pure).

    ``record``: the messages the agent completed; ``partial_text``: what it was saying when
    stopped. A tool call without its result gets one saying it was not run; the turn ends with
    an assistant message holding the partial text and ``note``.
    """
    messages = [{**m, "content": list(m["content"])} for m in record]
    results: list[dict[str, Any]] | None = None
    if messages and messages[-1]["role"] == "user":  # tool results, maybe not all of them
        results = messages[-1]["content"]
        messages = messages[:-1]
    if messages and messages[-1]["role"] == "assistant":
        calls = [b for b in messages[-1]["content"] if b.get("type") == "tool_use"]
        if not calls and results is None:
            return messages  # the answer was complete
        done = {r.get("tool_use_id") for r in results or []}
        missing = [
            {
                "type": "tool_result",
                "tool_use_id": call["id"],
                "content": "(not run: the turn was stopped)",
                "is_error": True,
            }
            for call in calls
            if call["id"] not in done
        ]
        if calls:
            messages.append({"role": "user", "content": [*(results or []), *missing]})
    said = partial_text.strip()
    text = f"{said}\n\n{note}" if said else note
    messages.append({"role": "assistant", "content": [{"type": "text", "text": text}]})
    return messages
