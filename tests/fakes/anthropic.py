"""A fake Anthropic Messages API for tests: the real ``anthropic`` SDK talks to it over HTTP.

    async with FakeAnthropic() as fake:
        fake.script(Reply("hello"), Fail(529, "overloaded_error", "Overloaded"))
        client = anthropic.AsyncAnthropic(base_url=fake.url, api_key="test")

Unscripted requests get ``Reply(f"echo: {first text of the last user turn}")``. Token
usage (including prompt caching) is estimated as ceil(len(json)/4) per block, so tests can
measure caching.

Standalone: ``python -m tests.fakes.anthropic --port 9002`` (prints the root URL, serves
until SIGTERM/SIGINT).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiohttp import web

from tests.fakes.server import FakeServer, add_common_arguments, run, serve_forever, short

__all__ = [
    "Exchange",
    "Fail",
    "FakeAnthropic",
    "Hang",
    "Reply",
    "ToolCall",
    "main",
]

DEFAULT_MODEL = "claude-sonnet-5-5"


# -- script steps ----------------------------------------------------------------------------


@dataclass
class ToolCall:
    name: str
    input: dict[str, Any] = field(default_factory=dict)
    id: str | None = None  # generated ("toolu_fake...") when None


@dataclass
class Reply:
    """A successful answer: text and/or tool calls (stop_reason tool_use when any)."""

    text: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    stop_reason: str | None = None  # default: "tool_use" if tool_calls else "end_turn"
    times: int = 1


@dataclass
class Fail:
    """An API error in the real shape, e.g. ``Fail(529, "overloaded_error", "Overloaded")``.

    ``retry_after`` sets the ``retry-after`` header (the SDK treats 0 as absent and falls back
    to its own ~0.5s backoff; use a small positive float for fast retries). ``should_retry``
    sets ``x-should-retry``. ``mid_stream=True``: a streaming request gets HTTP 200, the
    message start, ``partial_text``, then an SSE ``error`` event (as the real API does when
    it overloads mid-answer); non-streaming requests get the plain HTTP error.
    """

    status: int
    type: str
    message: str
    retry_after: float | None = None
    times: int = 1
    should_retry: bool | None = None
    mid_stream: bool = False
    partial_text: str = ""


@dataclass
class Hang:
    """Wait ``seconds`` before answering (with ``then``, default: the echo reply)."""

    seconds: float
    then: Step | None = None
    times: int = 1


Step: TypeAlias = "Reply | Fail | Hang | Callable[[dict[str, Any]], Step | None]"


@dataclass
class Exchange:
    """One request to the fake and what it answered."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]  # lower-cased names
    status: int = 0
    request_id: str = ""
    step: str = ""  # what answered: "Reply", "Fail", "echo", "invalid", ...
    usage: dict[str, Any] | None = None
    response: dict[str, Any] | None = None  # the Message (or error body) returned
    streamed: bool = False


class _ApiError(Exception):
    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


# -- token accounting ------------------------------------------------------------------------


@dataclass
class _Segment:
    tokens: int
    breakpoint: bool
    digest: bytes  # hash of the whole prefix up to and including this segment


def _strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list | tuple):
        return [_strip_cache_control(v) for v in value]
    return value


def _estimate(value: Any) -> int:
    return math.ceil(len(json.dumps(value)) / 4)


def _segments(body: dict[str, Any]) -> list[_Segment]:
    """Cacheable units in API order (tools, system, message blocks) with rolling hashes."""
    items: list[tuple[Any, bool]] = []
    for tool in body.get("tools") or []:
        items.append((("tool", tool), isinstance(tool, dict) and "cache_control" in tool))
    system = body.get("system")
    if isinstance(system, str) and system:
        items.append((("system", system), False))
    elif isinstance(system, list):
        for block in system:
            items.append((("system", block), isinstance(block, dict) and "cache_control" in block))
    for msg in body.get("messages") or []:
        if not isinstance(msg, dict):
            continue
        role, content = msg.get("role"), msg.get("content")
        if isinstance(content, list):
            for j, block in enumerate(content):
                cc = isinstance(block, dict) and "cache_control" in block
                items.append((("message", role, j == 0, block), cc))
        else:
            items.append((("message", role, True, content), False))
    if body.get("cache_control") and items:  # automatic caching: breakpoint on the last block
        items[-1] = (items[-1][0], True)

    digest = hashlib.sha256(str(body.get("model")).encode()).digest()
    out = []
    for item, cc in items:
        canonical = _strip_cache_control(item)
        encoded = json.dumps(canonical, sort_keys=True).encode()
        digest = hashlib.sha256(digest + encoded).digest()
        out.append(_Segment(tokens=max(1, _estimate(canonical[-1])), breakpoint=cc, digest=digest))
    return out


# -- the fake --------------------------------------------------------------------------------


class FakeAnthropic(FakeServer):
    """Fake Anthropic API. ``url`` is the root URL for ``AsyncAnthropic(base_url=...)``."""

    url_path = ""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.valid_models: set[str] = {DEFAULT_MODEL}
        self.api_keys: set[str] | None = None  # None: any non-empty key is accepted
        self.context_limit = 200_000
        self.max_output_tokens = 128_000
        self.strict = True  # validate tool_use/tool_result pairing and empty content
        self.min_cacheable_tokens = 0  # the real API: 1024+ depending on the model
        self.cache_lookback = 20  # blocks before a breakpoint checked for earlier cache entries
        self.delta_chars = 8  # text_delta size (grows for long texts: at most ~64 deltas)
        self.stream_delay = 0.0  # seconds between streamed events
        self._last_segments: tuple[dict[str, Any], list[_Segment]] | None = None
        self.default_step: Callable[[dict[str, Any]], Step | None] | None = None  # None: echo
        self.exchanges: list[Exchange] = []
        self.requests: list[dict[str, Any]] = []  # every POST /v1/messages body, in order
        self.request_headers: list[dict[str, str]] = []
        self.usages: list[dict[str, Any]] = []  # usage of every answered message, in order
        self._script: deque[list[Any]] = deque()  # [step, remaining times]
        self._cache: set[bytes] = set()
        self._ids = itertools.count(1)

    # -- public helpers --------------------------------------------------------------------

    def script(self, *steps: Step) -> None:
        """Queue steps; each request consumes one (a step with ``times=n`` serves n)."""
        for step in steps:
            self._script.append([step, max(1, int(getattr(step, "times", 1)))])

    def clear_script(self) -> None:
        self._script.clear()

    @property
    def pending_steps(self) -> int:
        return sum(n for _, n in self._script)

    def clear_cache(self) -> None:
        self._cache.clear()

    async def wait_for_requests(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the documented API
    ) -> list[dict[str, Any]]:
        await self.wait_for(
            lambda f: len(f.requests) >= n, timeout, message=f"at least {n} request(s)"
        )
        return self.requests

    def last_user_texts(self, i: int = -1) -> list[str]:
        """Every text block of every user message in request ``i`` (tool results skipped)."""
        return [t for m in self._messages(i) if m.get("role") == "user" for t in _texts(m)]

    def newest_user_text(self, i: int = -1) -> str:
        """The first text block of the last user message of request ``i``: what the person
        wrote, with its header (context and the audience line follow it)."""
        users = [m for m in self._messages(i) if m.get("role") == "user" and _texts(m)]
        return _texts(users[-1])[0] if users else ""

    def system_of(self, i: int = -1) -> str:
        system = self.requests[i].get("system")
        if isinstance(system, list):
            return "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
        return str(system or "")

    def tools_of(self, i: int = -1) -> list[str]:
        return [str(t.get("name")) for t in self.requests[i].get("tools") or []]

    def tool_results(self, i: int = -1) -> list[dict[str, Any]]:
        return [
            b
            for m in self._messages(i)
            if m.get("role") == "user" and isinstance(m.get("content"), list)
            for b in m["content"]
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]

    def estimate_tokens(self, body: dict[str, Any]) -> int:
        return sum(s.tokens for s in self._segments_of(body))

    def _segments_of(self, body: dict[str, Any]) -> list[_Segment]:
        """``_segments`` of a request body, computed once per request (validation and usage
        both need them; hashing a long conversation twice would slow the fake, not the app)."""
        cached = self._last_segments
        if cached is not None and cached[0] is body:
            return cached[1]
        segments = _segments(body)
        self._last_segments = (body, segments)
        return segments

    def describe(self) -> str:
        lines = [f"{len(self.exchanges)} request(s) recorded, {self.pending_steps} step(s) left:"]
        for i, ex in enumerate(self.exchanges):
            texts = (
                [t for m in ex.body.get("messages") or [] if isinstance(m, dict) for t in _texts(m)]
                if isinstance(ex.body, dict)
                else []
            )
            last = short(texts[-1], 80) if texts else "-"
            lines.append(f"  [{i}] {ex.path} -> {ex.status} {ex.step} last_text={last}")
        return "\n".join(lines)

    def _messages(self, i: int) -> list[dict[str, Any]]:
        msgs = self.requests[i].get("messages") or []
        return [m for m in msgs if isinstance(m, dict)]

    # -- HTTP ------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._handle_messages)
        app.router.add_post("/v1/messages/count_tokens", self._handle_count_tokens)
        app.router.add_get("/v1/models", self._handle_models)
        app.router.add_get("/v1/models/{model_id}", self._handle_model)

    def _request_id(self) -> str:
        return f"req_fake_{next(self._ids):024x}"

    def _error_response(
        self, ex: Exchange, status: int, type_: str, message: str, headers: dict[str, str] | None
    ) -> web.Response:
        body = {"type": "error", "error": {"type": type_, "message": message}}
        body["request_id"] = ex.request_id
        ex.status, ex.response = status, body
        return web.json_response(
            body, status=status, headers={"request-id": ex.request_id, **(headers or {})}
        )

    async def _begin(self, request: web.Request, *, record: bool) -> tuple[Exchange, bool]:
        """Record the request; the flag says whether a POST body was a JSON object."""
        raw = await request.read() if request.can_read_body else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        ex = Exchange(
            path=request.path,
            body=body if isinstance(body, dict) else {},
            headers=headers,
            request_id=self._request_id(),
        )
        self.exchanges.append(ex)
        if record:
            self.requests.append(ex.body)
            self.request_headers.append(headers)
        return ex, isinstance(body, dict)

    def _check_auth(self, headers: dict[str, str]) -> None:
        key = headers.get("x-api-key", "")
        auth = headers.get("authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()  # anthropic>=2 sends the api key as a bearer token
        if not key:
            raise _ApiError(401, "authentication_error", "x-api-key header is required")
        if self.api_keys is not None and key not in self.api_keys:
            raise _ApiError(401, "authentication_error", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            raise _ApiError(400, "invalid_request_error", "anthropic-version: header is required")

    def _validate(self, body: dict[str, Any], *, need_max_tokens: bool) -> None:
        def bad(message: str) -> _ApiError:
            return _ApiError(400, "invalid_request_error", message)

        for name in (
            ("model", "max_tokens", "messages") if need_max_tokens else ("model", "messages")
        ):
            if name not in body:
                raise bad(f"{name}: Field required")
        if need_max_tokens:
            mt = body["max_tokens"]
            if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
                raise bad("max_tokens: Input should be greater than or equal to 1")
            if mt > self.max_output_tokens:
                raise bad(
                    f"max_tokens: {mt} > {self.max_output_tokens}, which is the maximum allowed "
                    f"number of output tokens for {body['model']}"
                )
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            raise bad("messages: at least one message is required")
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
                raise bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            if "content" not in msg:
                raise bad(f"messages.{i}.content: Field required")
        if body["model"] not in self.valid_models:
            raise _ApiError(404, "not_found_error", f"model: {body['model']}")
        if self.strict:
            _validate_content(messages)
        total = self.estimate_tokens(body)
        if total > self.context_limit:
            raise bad(f"prompt is too long: {total} tokens > {self.context_limit} maximum")

    async def _handle_messages(self, request: web.Request) -> web.StreamResponse:
        ex, is_json = await self._begin(request, record=True)
        try:
            self._check_auth(ex.headers)
            if not is_json:
                raise _ApiError(400, "invalid_request_error", "request body must be JSON")
            self._validate(ex.body, need_max_tokens=True)
        except _ApiError as err:
            ex.step = "invalid"
            return self._error_response(ex, err.status, err.type, err.message, None)
        ex.streamed = ex.body.get("stream") is True

        step = self._resolve(self._next_step(), ex.body)
        trail: list[str] = []
        while isinstance(step, Hang):
            trail.append(f"Hang({step.seconds})")
            ex.step = "+".join(trail)
            try:
                await self._sleep(step.seconds)
            except asyncio.CancelledError:
                ex.step += " (client went away)"
                raise
            step = self._resolve(step.then, ex.body)
        if step is None:
            step = self._echo(ex.body)
            trail.append("echo")
        elif isinstance(step, Fail):
            trail.append(f"Fail({step.status}, {step.type})")
        else:
            trail.append("Reply")
        ex.step = "+".join(trail)
        if isinstance(step, Fail):
            if not (step.mid_stream and ex.streamed):
                headers: dict[str, str] = {}
                if step.retry_after is not None:
                    ra = step.retry_after
                    headers["retry-after"] = str(int(ra)) if float(ra).is_integer() else str(ra)
                if step.should_retry is not None:
                    headers["x-should-retry"] = "true" if step.should_retry else "false"
                return self._error_response(ex, step.status, step.type, step.message, headers)
            return await self._stream_failure(request, ex, step)
        message = self._build_message(ex.body, step)
        ex.usage, ex.response, ex.status = message["usage"], message, 200
        self.usages.append(message["usage"])
        if not ex.streamed:
            return web.json_response(message, headers={"request-id": ex.request_id})
        return await self._stream_message(request, ex, message)

    async def _handle_count_tokens(self, request: web.Request) -> web.Response:
        ex, is_json = await self._begin(request, record=False)
        try:
            self._check_auth(ex.headers)
            if not is_json:
                raise _ApiError(400, "invalid_request_error", "request body must be JSON")
            self._validate(ex.body, need_max_tokens=False)
        except _ApiError as err:
            ex.step = "invalid"
            return self._error_response(ex, err.status, err.type, err.message, None)
        result = {"input_tokens": self.estimate_tokens(ex.body)}
        ex.status, ex.step, ex.response = 200, "count_tokens", result
        return web.json_response(result, headers={"request-id": ex.request_id})

    def _model_info(self, model_id: str) -> dict[str, Any]:
        return {
            "type": "model",
            "id": model_id,
            "display_name": model_id.replace("-", " ").title(),
            "created_at": "2026-01-01T00:00:00Z",
            "lifecycle": "active",
            "max_input_tokens": self.context_limit,
            "max_tokens": self.max_output_tokens,
        }

    async def _handle_models(self, request: web.Request) -> web.Response:
        ex, is_json = await self._begin(request, record=False)
        try:
            self._check_auth(ex.headers)
            if not is_json:
                raise _ApiError(400, "invalid_request_error", "request body must be JSON")
        except _ApiError as err:
            return self._error_response(ex, err.status, err.type, err.message, None)
        data = [self._model_info(m) for m in sorted(self.valid_models)]
        result = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
        ex.status, ex.step, ex.response = 200, "models", result
        return web.json_response(result, headers={"request-id": ex.request_id})

    async def _handle_model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["model_id"]
        ex, _ = await self._begin(request, record=False)
        try:
            self._check_auth(ex.headers)
            if model_id not in self.valid_models:
                raise _ApiError(404, "not_found_error", f"model: {model_id}")
        except _ApiError as err:
            return self._error_response(ex, err.status, err.type, err.message, None)
        result = self._model_info(model_id)
        ex.status, ex.step, ex.response = 200, "model", result
        return web.json_response(result, headers={"request-id": ex.request_id})

    # -- steps -----------------------------------------------------------------------------

    def _next_step(self) -> Step | None:
        if not self._script:
            return self.default_step
        entry = self._script[0]
        entry[1] -= 1
        if entry[1] <= 0:
            self._script.popleft()
        step: Step = entry[0]
        return step

    @staticmethod
    def _resolve(step: Step | None, body: dict[str, Any]) -> Reply | Fail | Hang | None:
        for _ in range(100):
            if step is None or isinstance(step, Reply | Fail | Hang):
                return step
            step = step(body)
        raise RuntimeError("script callable kept returning callables")

    @staticmethod
    def _echo(body: dict[str, Any]) -> Reply:
        for msg in reversed(body.get("messages") or []):
            if isinstance(msg, dict) and msg.get("role") == "user":
                # The person's words: the first text block (thread context and the line
                # saying who reads the answer follow it).
                texts = _texts(msg)
                if texts:
                    return Reply(f"echo: {texts[0]}")
        return Reply("echo: ")

    def _usage(self, body: dict[str, Any], output_tokens: int) -> dict[str, Any]:
        segs = self._segments_of(body)
        cum = list(itertools.accumulate(s.tokens for s in segs))
        total = cum[-1] if cum else 0
        breakpoints = [i for i, s in enumerate(segs) if s.breakpoint]
        read = creation = 0
        if breakpoints and cum[breakpoints[-1]] >= self.min_cacheable_tokens:
            last = breakpoints[-1]
            hit = -1
            for b in breakpoints:
                for p in range(b, max(-1, b - self.cache_lookback), -1):
                    if segs[p].digest in self._cache and cum[p] >= self.min_cacheable_tokens:
                        hit = max(hit, p)
                        break
            read = cum[hit] if hit >= 0 else 0
            creation = cum[last] - read
            for b in breakpoints:
                if cum[b] >= self.min_cacheable_tokens:
                    self._cache.add(segs[b].digest)
        return {
            "input_tokens": total - read - creation,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": creation,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }

    def _build_message(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if reply.text is not None and (reply.text or not reply.tool_calls):
            content.append({"type": "text", "text": reply.text})
        for call in reply.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": call.id or f"toolu_fake{next(self._ids):014d}",
                    "name": call.name,
                    "input": call.input,
                }
            )
        output = math.ceil(len(reply.text or "") / 4) + sum(
            _estimate(c.input) + math.ceil(len(c.name) / 4) for c in reply.tool_calls
        )
        output = max(1, output)
        stop = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
        return {
            "id": f"msg_fake{next(self._ids):020d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": self._usage(body, output),
        }

    # -- streaming -------------------------------------------------------------------------

    async def _open_stream(self, request: web.Request, ex: Exchange) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "request-id": ex.request_id,
            },
        )
        await resp.prepare(request)
        return resp

    async def _send(self, resp: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
        payload = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
        await resp.write(payload)
        if self.stream_delay > 0:
            await self._sleep(self.stream_delay)
        else:
            await asyncio.sleep(0)

    def _pieces(self, text: str) -> list[str]:
        size = max(1, self.delta_chars, math.ceil(len(text) / 64))
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]

    @staticmethod
    def _start_message(message: dict[str, Any]) -> dict[str, Any]:
        usage = dict(message["usage"], output_tokens=1)
        return dict(message, content=[], stop_reason=None, stop_sequence=None, usage=usage)

    async def _stream_message(
        self, request: web.Request, ex: Exchange, message: dict[str, Any]
    ) -> web.StreamResponse:
        resp = await self._open_stream(request, ex)
        try:
            start = self._start_message(message)
            await self._send(resp, "message_start", {"type": "message_start", "message": start})
            await self._send(resp, "ping", {"type": "ping"})
            for index, block in enumerate(message["content"]):
                first: dict[str, Any]
                if block["type"] == "text":
                    first = {"type": "text", "text": ""}
                    deltas = [
                        {"type": "text_delta", "text": p} for p in self._pieces(block["text"])
                    ]
                else:
                    first = {**block, "input": {}}
                    deltas = [
                        {"type": "input_json_delta", "partial_json": p}
                        for p in ["", *self._pieces(json.dumps(block["input"]))]
                    ]
                await self._send(
                    resp,
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": first},
                )
                for delta in deltas:
                    event = {"type": "content_block_delta", "index": index, "delta": delta}
                    await self._send(resp, "content_block_delta", event)
                await self._send(
                    resp, "content_block_stop", {"type": "content_block_stop", "index": index}
                )
            usage = message["usage"]
            delta_usage = {
                k: usage[k]
                for k in (
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                    "output_tokens",
                )
            }
            await self._send(
                resp,
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                    "usage": delta_usage,
                },
            )
            await self._send(resp, "message_stop", {"type": "message_stop"})
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            ex.step += " (client went away)"
            raise
        return resp

    async def _stream_failure(
        self, request: web.Request, ex: Exchange, fail: Fail
    ) -> web.StreamResponse:
        ex.status = 200
        resp = await self._open_stream(request, ex)
        message = self._build_message(ex.body, Reply(fail.partial_text))
        await self._send(
            resp,
            "message_start",
            {"type": "message_start", "message": self._start_message(message)},
        )
        await self._send(resp, "ping", {"type": "ping"})
        if fail.partial_text:
            await self._send(
                resp,
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            for piece in self._pieces(fail.partial_text):
                delta = {"type": "text_delta", "text": piece}
                await self._send(
                    resp,
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                )
        error = {"type": "error", "error": {"type": fail.type, "message": fail.message}}
        ex.response = error
        await self._send(resp, "error", error)
        await resp.write_eof()
        return resp


# -- request helpers -------------------------------------------------------------------------


def _texts(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [
        str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
    ]


def _validate_content(messages: list[dict[str, Any]]) -> None:
    """The checks of the real API that history bugs most often trip."""

    def bad(message: str) -> _ApiError:
        return _ApiError(400, "invalid_request_error", message)

    last = len(messages) - 1
    for i, msg in enumerate(messages):
        content = msg["content"]
        if content in ("", []) and not (i == last and msg["role"] == "assistant"):
            raise bad(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        blocks = content if isinstance(content, list) else []
        for j, block in enumerate(blocks):
            if isinstance(block, dict) and block.get("type") == "text":
                text = block.get("text")
                if not text:
                    raise bad(
                        f"messages.{i}.content.{j}.text: text content blocks must be non-empty"
                    )
                if not str(text).strip():
                    raise bad(
                        f"messages.{i}.content.{j}.text: text content blocks must "
                        "contain non-whitespace text"
                    )

        if msg["role"] == "assistant":
            use_ids = [
                b.get("id") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"
            ]
            if not use_ids:
                continue
            nxt = messages[i + 1] if i < last else None
            nxt_blocks = nxt["content"] if nxt and isinstance(nxt["content"], list) else []
            answered = {
                b.get("tool_use_id")
                for b in nxt_blocks
                if isinstance(b, dict) and b.get("type") == "tool_result"
            }
            missing = [u for u in use_ids if u not in answered]
            if nxt is None or nxt["role"] != "user" or missing:
                ids = ", ".join(str(u) for u in (missing or use_ids))
                raise bad(
                    f"messages.{min(i + 1, last)}: `tool_use` ids were found without "
                    f"`tool_result` blocks immediately after: {ids}. Each `tool_use` block "
                    "must have a corresponding `tool_result` block in the next message."
                )
        else:
            prev = messages[i - 1] if i > 0 else None
            prev_blocks = prev["content"] if prev and isinstance(prev["content"], list) else []
            known = {
                b.get("id")
                for b in prev_blocks
                if isinstance(b, dict)
                and b.get("type") == "tool_use"
                and prev is not None
                and prev["role"] == "assistant"
            }
            for j, block in enumerate(blocks):
                if (
                    isinstance(block, dict)
                    and block.get("type") == "tool_result"
                    and block.get("tool_use_id") not in known
                ):
                    raise bad(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block.get('tool_use_id')}. Each "
                        "`tool_result` block must have a corresponding `tool_use` block in "
                        "the previous message."
                    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.anthropic", description=__doc__)
    add_common_arguments(parser, default_port=9002)
    parser.add_argument(
        "--model", action="append", default=[], help="extra valid model id (repeatable)"
    )
    parser.add_argument(
        "--stream-delay", type=float, default=0.0, help="seconds between streamed events"
    )
    parser.add_argument("--context-limit", type=int, default=200_000)
    args = parser.parse_args(argv)
    fake = FakeAnthropic(host=args.host, port=args.port)
    fake.valid_models.update(args.model)
    fake.stream_delay = args.stream_delay
    fake.context_limit = args.context_limit
    run(serve_forever(fake, banner=[f"models: {', '.join(sorted(fake.valid_models))}"]))


if __name__ == "__main__":
    main()
