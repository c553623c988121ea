"""Showing a turn in Slack: thread status, the answer streamed as it is written, tool steps.

Threads get Slack's native streaming (``chat.startStream``/``appendStream``/``stopStream``).
Where streaming is refused, and for top-level DMs (streams must be thread replies), the answer
is posted once and then edited as it grows. Text reaches Slack a whole line at a time, each
message stays within Slack's limits, and a long answer continues in the next message at a
paragraph or line boundary: nothing is cut. Group pings (``<!here>``, ``<!channel>``...)
are made inert in everything written (``no_group_pings``), and posted messages unfurl nothing.

Tool steps show as a timeline of task cards; when one model reply calls two or more tools,
they show together as a plan instead (``task_display_mode`` "plan": a plan title and the
tasks as pending, then each as it runs), in a new message if text was already streamed. The
final message of an answer carries ``final_blocks`` (the feedback buttons), on the same call
that finishes it: ``chat.stopStream``, or the last ``chat.update`` of a posted answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Final, Protocol, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks.block_elements import UrlSourceElement
from slack_sdk.models.messages.chunk import Chunk, PlanUpdateChunk, TaskUpdateChunk
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from app.core.steps import TaskStep
from app.errors import IntegrationError
from app.slack.failures import SLACK_FAILURES, describe
from app.slack.format import (
    MESSAGE_LIMIT,
    markdown_message,
    new_message,
    no_group_pings,
    split_text,
)
from app.slack.stops import stop_button

log = logging.getLogger(__name__)

OnPosted = Callable[[dict[str, Any]], Awaitable[None]]
PLACEHOLDER = "_Thinking…_"
T = TypeVar("T")
TIMELINE: Final = "timeline"
PLAN: Final = "plan"


class _Writer(Protocol):
    async def write(self, text: str) -> None: ...

    async def step(self, call_id: str, title: str, status: str, **more: Any) -> None: ...

    async def close(self, blocks: Sequence[dict[str, Any]] = ()) -> None: ...


class SlackReply:
    """A ``Progress`` sink for one turn's answer in one Slack conversation."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str | None,
        team_id: str | None,
        user_id: str | None,
        on_posted: OnPosted,
        existing_ts: Sequence[str] = (),
        on_removed: Callable[[str], Awaitable[None]] | None = None,
        limit: int = MESSAGE_LIMIT,
        update_interval: float = 1.0,
        stop_key: str | None = None,
        final_blocks: Sequence[dict[str, Any]] = (),
        on_finished: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._team_id = team_id
        self._user_id = user_id
        self._on_posted = on_posted
        self._on_removed = on_removed
        self._limit = limit
        # Posted-and-edited answers carry a Stop button (naming this conversation) until done.
        self._stop_key = stop_key
        # Shown under the answer's last message (feedback buttons); then ``on_finished`` runs.
        self._final_blocks = list(final_blocks)
        self._on_finished = on_finished
        self._pending = ""
        self._written = ""
        self._status: asyncio.Task[None] | None = None  # "is thinking…", on its way
        self._writer: _Writer
        if thread_ts and not existing_ts:
            self._writer = _StreamWriter(self, limit)
        else:
            self._writer = _UpdateWriter(self, limit, update_interval, existing_ts)

    @property
    def text_so_far(self) -> str:
        return self._written + self._pending

    async def begin(self) -> None:
        """Show that the bot is working (best effort: not every conversation allows it).

        The thread status is sent without waiting for it, so the turn goes on preparing its
        answer meanwhile; whatever is written next waits for it first (a status that landed
        after the answer's first message would outlive the answer)."""
        if self._thread_ts:
            self._status = asyncio.create_task(self._show_status("is thinking…"))
        if isinstance(self._writer, _UpdateWriter):
            await self._status_shown()
            with _as_integration_error():
                await self._writer.placeholder()

    async def set_status(self, status: str) -> None:
        await self._status_shown()
        await self._show_status(status)

    async def _status_shown(self) -> None:
        if self._status is not None:
            status, self._status = self._status, None
            await status

    async def _show_status(self, status: str) -> None:
        if not self._thread_ts:
            return
        try:
            await self._client.assistant_threads_setStatus(
                channel_id=self._channel, thread_ts=self._thread_ts, status=status
            )
        except SLACK_FAILURES as exc:
            log.debug("thread status not shown: %s", describe(exc))

    # Progress ---------------------------------------------------------------------------
    # Each raises IntegrationError("slack", ...) when Slack cannot be reached or refuses, so
    # the pipeline can tell "the answer could not be shown" from a failed model call.
    async def text(self, delta: str) -> None:
        self._pending += delta
        cut = self._pending.rfind("\n")
        if cut >= 0:
            ready, self._pending = self._pending[: cut + 1], self._pending[cut + 1 :]
            with _as_integration_error():
                await self._emit(ready)

    async def plan(self, calls: Sequence[tuple[str, str]]) -> None:
        """One model reply calls these tools (``(call_id, name)``, two or more): show them
        together as a plan before they run."""
        if not isinstance(self._writer, _StreamWriter):
            return  # plain messages have no steps; the thread status shows them
        self._paragraph_break()
        with _as_integration_error():
            await self._flush_pending()
        tasks = [(call_id, _tool_title(name)) for call_id, name in calls]
        await self._status_shown()
        try:
            await self._writer.plan(tasks)
        except SLACK_FAILURES as exc:
            with _as_integration_error():
                await self._fall_back(exc)

    async def tool_started(self, call_id: str, name: str) -> None:
        self._paragraph_break()
        with _as_integration_error():
            await self._flush_pending()
        await self._step(call_id, _tool_title(name), "in_progress")
        await self.set_status(f"is using {name}…")

    async def tool_finished(self, call_id: str, name: str, ok: bool) -> None:
        await self._step(call_id, _tool_title(name), "complete" if ok else "error")

    async def show_step(self, step_id: str, step: TaskStep) -> None:
        """A step as ``step`` says it reads: its details, and its link as the task's source."""
        sources = (
            [UrlSourceElement(url=step.url, text=step.url_text or step.url)] if step.url else None
        )
        await self._step(step_id, step.title, step.status, details=step.details, sources=sources)

    def _paragraph_break(self) -> None:
        # What Claude says after its tools is a new paragraph, not glued to what came before.
        said = self._written + self._pending
        if said.strip() and not said.endswith("\n\n"):
            self._pending += "\n" if said.endswith("\n") else "\n\n"

    async def _step(self, call_id: str, title: str, status: str, **more: Any) -> None:
        """Tool steps are progress only: a failure to show one never stops the turn."""
        await self._status_shown()
        try:
            await self._writer.step(call_id, title, status, **more)
        except SLACK_FAILURES as exc:
            if isinstance(self._writer, _StreamWriter):
                with _as_integration_error():
                    await self._fall_back(exc)
            else:
                log.info("tool step not shown: %s", describe(exc))

    # end of turn ------------------------------------------------------------------------
    async def finish(self, note: str | None = None) -> None:
        """Write what is left (and a note, e.g. about a reset or an error) and close."""
        if note:
            separator = "\n\n" if self.text_so_far.strip() else ""
            self._pending += separator + note
        with _as_integration_error():
            await self._close()
        if self._on_finished is not None:
            await self._on_finished()

    async def _close(self) -> None:
        await self._status_shown()
        await self._flush_pending()
        if not self._written.strip():
            await self._emit("_(no answer)_")
        try:
            await self._writer.close(self._final_blocks)
        except SLACK_FAILURES as exc:
            if not isinstance(self._writer, _StreamWriter):
                raise
            # Short answers reach Slack only when the stream stops: a refusal shows up here.
            await self._fall_back(exc)
            await self._writer.close(self._final_blocks)

    async def _flush_pending(self) -> None:
        if self._pending:
            ready, self._pending = self._pending, ""
            await self._emit(ready)

    async def _emit(self, text: str) -> None:
        await self._status_shown()
        self._written += text
        # Text arrives here in whole lines (or a text block's end), and no ping spans a line.
        text = no_group_pings(text)
        try:
            await self._writer.write(text)
        except SLACK_FAILURES as exc:
            if not isinstance(self._writer, _StreamWriter):
                raise
            await self._fall_back(exc)

    async def _fall_back(self, exc: BaseException) -> None:
        """Streaming refused or broken: continue with plain messages. The current message
        is rewritten whole (edited if the stream had started, else posted), so nothing that
        sat in the stream's buffer is lost."""
        assert isinstance(self._writer, _StreamWriter)
        log.info("streaming unavailable, posting instead: %s", describe(exc))
        ts, text = self._writer.current()
        leftover = "".join(self._writer.leftover)
        self._writer = _UpdateWriter(self, self._limit, 1.0, [ts] if ts else ())
        if text:
            await self._writer.write(text)
        if leftover:
            await self._writer.write(leftover)

    # helpers for writers -------------------------------------------------------------------
    async def _stream(self, mode: str = TIMELINE) -> AsyncChatStream:
        args: dict[str, Any] = {"channel": self._channel, "thread_ts": self._thread_ts}
        if mode != TIMELINE:
            args["task_display_mode"] = mode
        if not self._channel.startswith("D"):
            args["recipient_team_id"] = self._team_id
            args["recipient_user_id"] = self._user_id
        # Text is handed over a line at a time; a modest buffer keeps appendStream calls few.
        return await self._client.chat_stream(buffer_size=400, **args)

    async def _posted(self, ts: str) -> None:
        await self._on_posted({"channel": self._channel, "ts": ts})


class _StreamWriter:
    def __init__(self, reply: SlackReply, limit: int) -> None:
        self._reply = reply
        self._limit = limit
        self._stream: AsyncChatStream | None = None
        self._size = 0
        self._given = ""  # text handed to the current stream, maybe not yet flushed
        self._announced = False
        self.leftover: list[str] = []
        self._mode = TIMELINE
        self._planned = 0  # tasks shown in the current plan

    def current(self) -> tuple[str | None, str]:
        """The current message: its ts if the stream started, and all text given to it
        (part of which may still sit unsent in the stream's buffer)."""
        if self._stream is None:
            return None, ""
        return self._stream.ts, self._given

    async def write(self, text: str) -> None:
        pieces = _pieces(text, self._limit)
        for i, piece in enumerate(pieces):
            # What a failure here would leave unshown, beyond the current message.
            self.leftover = pieces[i:]
            if self._stream is not None and self._size + len(piece) > self._limit:
                await self.close()
            stream = await self._open()
            self._given += piece
            self._size += len(piece)
            self.leftover = pieces[i + 1 :]
            await stream.append(markdown_text=piece)
            await self._announce()
        self.leftover = []

    async def step(self, call_id: str, title: str, status: str, **more: Any) -> None:
        """``more``: the task's ``details`` and ``sources``, when it has them."""
        stream = await self._open()
        chunk = TaskUpdateChunk(id=call_id, title=title, status=status, **more)
        await stream.append(chunks=[chunk])
        await self._announce()

    async def plan(self, tasks: Sequence[tuple[str, str]]) -> None:
        """Show ``tasks`` (id, title) as pending steps of a plan; a message already streaming
        as a timeline is finished first (a stream keeps the display mode it started with)."""
        if self._mode != PLAN:
            await self.close()
            self._mode = PLAN
        stream = await self._open()
        self._planned += len(tasks)
        chunks: list[Chunk] = [PlanUpdateChunk(title=f"{self._planned} steps")]
        chunks += [TaskUpdateChunk(id=i, title=title, status="pending") for i, title in tasks]
        await stream.append(chunks=chunks)
        await self._announce()

    async def _open(self) -> AsyncChatStream:
        if self._stream is None:
            self._stream = await self._reply._stream(self._mode)
            self._size = 0
            self._given = ""
            self._planned = 0
        return self._stream

    async def close(self, blocks: Sequence[dict[str, Any]] = ()) -> None:
        if self._stream is not None:
            stream = self._stream
            try:
                await _refused_blocks_dropped(
                    lambda extra: stream.stop(blocks=list(extra) or None), blocks
                )
            finally:
                # Known as soon as the stream started, even if stopping it failed: a retry
                # must edit this message, not post another.
                if not self._announced and stream.ts:
                    await self._reply._posted(stream.ts)
            self._stream = None
            self._announced = False

    async def _announce(self) -> None:
        if not self._announced and self._stream is not None and self._stream.ts:
            self._announced = True
            await self._reply._posted(self._stream.ts)


class _UpdateWriter:
    """Post once, then edit the message as the answer grows (throttled)."""

    def __init__(
        self, reply: SlackReply, limit: int, interval: float, existing: Sequence[str] = ()
    ) -> None:
        self._reply = reply
        self._limit = limit
        self._interval = interval
        # Messages an earlier attempt of this turn already posted: edited in order, never
        # posted again; the ones this answer does not need are removed at the end.
        self._spare = list(existing)
        self._ts = self._spare.pop(0) if self._spare else None
        self._text = ""
        self._shown = ""
        self._stop_shown = False  # the message on screen still carries the Stop button
        self._last = 0.0

    async def write(self, text: str) -> None:
        for piece in _pieces(text, self._limit):
            if self._ts is not None and len(self._text) + len(piece) > self._limit:
                await self._show(force=True, final=True)
                self._ts = self._spare.pop(0) if self._spare else None
                self._text, self._shown = "", ""
            self._text += piece
            await self._show(force=False)

    async def placeholder(self) -> None:
        if self._ts is None:
            await self._show(force=False)

    async def step(self, call_id: str, title: str, status: str, **more: Any) -> None:
        return None  # plain messages have no step timeline; the thread status shows it

    async def close(self, blocks: Sequence[dict[str, Any]] = ()) -> None:
        await self._show(force=True, final=True, blocks=blocks)
        while self._spare:
            ts = self._spare.pop(0)
            try:
                await self._reply._client.chat_delete(channel=self._reply._channel, ts=ts)
            except SLACK_FAILURES as exc:
                log.warning("left-over message %s not removed: %s", ts, describe(exc))
            else:
                if self._reply._on_removed is not None:
                    await self._reply._on_removed(ts)

    async def _show(
        self, *, force: bool, final: bool = False, blocks: Sequence[dict[str, Any]] = ()
    ) -> None:
        client = self._reply._client
        stop = None if final else self._reply._stop_key
        if self._ts is None:
            body = self._text if self._text.strip() else PLACEHOLDER
            message = new_message(body, thread_ts=self._reply._thread_ts)
            response = await _refused_blocks_dropped(
                lambda extra: client.chat_postMessage(
                    channel=self._reply._channel, **_with_blocks(_with_stop(message, stop), extra)
                ),
                blocks,
            )
            self._ts = str(response["ts"])
            self._shown, self._stop_shown = body, stop is not None
            self._last = time.monotonic()
            await self._reply._posted(self._ts)
            if final and self._stop_shown:
                await self._show(force=True, final=True, blocks=blocks)  # take the button off
            return
        due = force or time.monotonic() - self._last >= self._interval
        changed = self._text != self._shown or (final and (self._stop_shown or bool(blocks)))
        if due and self._text.strip() and changed:
            shown, ts = _with_stop(markdown_message(self._text), stop), self._ts
            await _refused_blocks_dropped(
                lambda extra: client.chat_update(
                    channel=self._reply._channel, ts=ts, **_with_blocks(shown, extra)
                ),
                blocks,
            )
            self._shown, self._stop_shown = self._text, stop is not None
            self._last = time.monotonic()


def _with_stop(message: dict[str, Any], stop_key: str | None) -> dict[str, Any]:
    """``message`` with the Stop button of conversation ``stop_key`` under it (None: as is)."""
    if stop_key is None:
        return message
    return {**message, "blocks": [*message["blocks"], stop_button(stop_key)]}


def _with_blocks(message: dict[str, Any], blocks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``message`` with ``blocks`` under its own (the answer's last message only)."""
    if not blocks:
        return message
    return {**message, "blocks": [*message["blocks"], *blocks]}


async def _refused_blocks_dropped(
    write: Callable[[Sequence[dict[str, Any]]], Awaitable[T]], blocks: Sequence[dict[str, Any]]
) -> T:
    """``write(blocks)``; if Slack refuses those blocks (``invalid_blocks``), ``write(())``:
    the answer matters more than the buttons under it."""
    try:
        return await write(blocks)
    except SlackApiError as exc:
        if not blocks or exc.response.get("error") != "invalid_blocks":
            raise
        log.warning("Slack refused the blocks under an answer; it is shown without them")
        return await write(())


def _pieces(text: str, limit: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    return [part + "\n\n" for part in split_text(text, limit - 2)]


def _tool_title(name: str) -> str:
    return name.replace("_", " ").capitalize()


@contextlib.contextmanager
def _as_integration_error() -> Iterator[None]:
    try:
        yield
    except SLACK_FAILURES as exc:
        raise IntegrationError("slack", describe(exc)) from exc
