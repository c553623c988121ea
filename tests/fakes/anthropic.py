"""A fake Anthropic Messages API for tests: the real ``anthropic`` SDK talks to it over HTTP.

    async with FakeAnthropic() as fake:
        fake.script(Reply("hello"), Fail(529, "overloaded_error", "Overloaded"))
        client = anthropic.AsyncAnthropic(base_url=fake.url, api_key="test")

Unscripted requests get ``Reply(f"echo: {first text of the last user turn}")``. Token
usage (including prompt caching) is estimated as ceil(len(json)/``chars_per_token``) per
block, so tests can measure caching and make small texts count as many tokens.

Knobs (attributes): ``context_limit_tokens`` (alias ``context_limit``): a request counted
above it gets 400 "prompt is too long: N tokens > M maximum". ``refuse_compaction``: answer
like an API without the compaction beta. ``summary_words``: words of each user text kept in
a compaction summary. ``compactions``: the compaction blocks issued, in order. Server-side
compaction and thinking follow ``anthropic_context`` (its docstring states the rules); the
modules beside this one hold the steps, token accounting, checks and event streaming.
Claude Managed Agents (sessions, events, webhooks) live on ``fake.managed``
(``anthropic_agents``).

Standalone: ``python -m tests.fakes.anthropic --port 9002`` (prints the root URL, serves
until SIGTERM/SIGINT).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes import anthropic_context as context
from tests.fakes.anthropic_agents import (
    DEFAULT_AGENT_ID,
    DEFAULT_ENVIRONMENT_ID,
    FakeManagedAgents,
)
from tests.fakes.anthropic_answers import Answers
from tests.fakes.anthropic_checks import check_content, check_fields
from tests.fakes.anthropic_inspect import RecordedRequests
from tests.fakes.anthropic_steps import (
    DEFAULT_MODEL,
    DEFAULT_THINKING,
    ApiError,
    Exchange,
    Fail,
    Hang,
    Reply,
    Step,
    ToolCall,
    bad_request,
    resolve,
    texts,
)
from tests.fakes.anthropic_tokens import PromptCache, Segment
from tests.fakes.server import FakeServer, add_common_arguments, run, serve_forever, short

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_THINKING",
    "Exchange",
    "Fail",
    "FakeAnthropic",
    "Hang",
    "Reply",
    "Step",
    "ToolCall",
    "main",
]


class FakeAnthropic(RecordedRequests, Answers, FakeServer):
    """Fake Anthropic API. ``url`` is the root URL for ``AsyncAnthropic(base_url=...)``."""

    url_path = ""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.valid_models: set[str] = {DEFAULT_MODEL}
        self.api_keys: set[str] | None = None  # None: any non-empty key is accepted
        self.context_limit_tokens = 200_000
        self.max_output_tokens = 128_000
        self.chars_per_token = 4.0
        self.strict = True  # validate tool_use/tool_result pairing and empty content
        self.refuse_compaction = False
        self.summary_words = 12
        self.delta_chars = 8  # text_delta size (grows for long texts: at most ~64 deltas)
        self.stream_delay = 0.0  # seconds between streamed events
        self.default_step: Callable[[dict[str, Any]], Step | None] | None = None  # None: echo
        self.exchanges: list[Exchange] = []
        self.requests: list[dict[str, Any]] = []  # every POST /v1/messages body, in order
        self.request_headers: list[dict[str, str]] = []
        self.usages: list[dict[str, Any]] = []  # usage of every answered message, in order
        self._script: deque[list[Any]] = deque()  # [step, remaining times]
        self._prompt_cache = PromptCache()
        self._last_segments: tuple[dict[str, Any], list[Segment]] | None = None
        signer = context.Signer()
        self._compactor = context.Compactor(signer)
        self._thinker = context.Thinker(signer)
        self._ids = itertools.count(1)
        self.managed = FakeManagedAgents(self._check_auth)  # Managed Agents: its docstring

    # -- knobs -----------------------------------------------------------------------------

    @property
    def context_limit(self) -> int:
        return self.context_limit_tokens

    @context_limit.setter
    def context_limit(self, value: int) -> None:
        self.context_limit_tokens = value

    @property
    def min_cacheable_tokens(self) -> int:  # the real API: 1024+ depending on the model
        return self._prompt_cache.min_cacheable_tokens

    @min_cacheable_tokens.setter
    def min_cacheable_tokens(self, value: int) -> None:
        self._prompt_cache.min_cacheable_tokens = value

    @property
    def cache_lookback(self) -> int:  # blocks before a breakpoint checked for cache entries
        return self._prompt_cache.lookback

    @cache_lookback.setter
    def cache_lookback(self, value: int) -> None:
        self._prompt_cache.lookback = value

    @property
    def compactions(self) -> list[dict[str, Any]]:
        return self._compactor.issued

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
        self._prompt_cache.entries.clear()

    async def wait_for_requests(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the documented API
    ) -> list[dict[str, Any]]:
        await self.wait_for(
            lambda f: len(f.requests) >= n, timeout, message=f"at least {n} request(s)"
        )
        return self.requests

    def describe(self) -> str:
        lines = [f"{len(self.exchanges)} request(s) recorded, {self.pending_steps} step(s) left:"]
        for i, ex in enumerate(self.exchanges):
            messages = ex.body.get("messages") if isinstance(ex.body, dict) else None
            found = [t for m in messages or [] if isinstance(m, dict) for t in texts(m)]
            last = short(found[-1], 80) if found else "-"
            lines.append(f"  [{i}] {ex.path} -> {ex.status} {ex.step} last_text={last}")
        return "\n".join(lines)

    # -- HTTP ------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._handle_messages)
        app.router.add_post("/v1/messages/count_tokens", self._handle_count_tokens)
        app.router.add_get("/v1/models", self._handle_models)
        app.router.add_get("/v1/models/{model_id}", self._handle_model)
        self.managed.add_routes(app)

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
            request_id=f"req_fake_{next(self._ids):024x}",
        )
        self.exchanges.append(ex)
        if record:
            self.requests.append(ex.body)
            self.request_headers.append(headers)
        return ex, isinstance(body, dict)

    def _check_auth(self, headers: dict[str, str], is_json: bool) -> None:
        key = headers.get("x-api-key", "")
        auth = headers.get("authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()  # anthropic>=2 sends the api key as a bearer token
        if not key:
            raise ApiError(401, "authentication_error", "x-api-key header is required")
        if self.api_keys is not None and key not in self.api_keys:
            raise ApiError(401, "authentication_error", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            raise bad_request("anthropic-version: header is required")
        if not is_json:
            raise bad_request("request body must be JSON")

    def _validate(self, ex: Exchange, *, need_max_tokens: bool) -> int | None:
        """Check the request; answers the compaction trigger in effect (None: none)."""
        body = ex.body
        check_fields(
            body,
            need_max_tokens=need_max_tokens,
            valid_models=self.valid_models,
            max_output_tokens=self.max_output_tokens,
        )
        available = context.has_beta(ex.headers) and not self.refuse_compaction
        if "context_management" in body and not available:
            raise bad_request("context_management: Extra inputs are not permitted")
        self._compactor.check_replayed(body["messages"], available=available)
        if self.strict:
            check_content(body["messages"])
        self._thinker.check(body)
        total = self.estimate_tokens(body)
        if total > self.context_limit_tokens:
            raise bad_request(
                f"prompt is too long: {total} tokens > {self.context_limit_tokens} maximum"
            )
        trigger = context.compaction_trigger(body)
        return trigger if trigger is not None and total >= trigger else None

    async def _handle_messages(self, request: web.Request) -> web.StreamResponse:
        ex, is_json = await self._begin(request, record=True)
        try:
            self._check_auth(ex.headers, is_json)
            compact = self._validate(ex, need_max_tokens=True) is not None
        except ApiError as err:
            ex.step = "invalid"
            return self._error_response(ex, err.status, err.type, err.message, None)
        ex.streamed = ex.body.get("stream") is True

        step = resolve(self._next_step(), ex.body)
        trail: list[str] = []
        while isinstance(step, Hang):
            trail.append(f"Hang({step.seconds})")
            ex.step = "+".join(trail)
            try:
                await self._sleep(step.seconds)
            except asyncio.CancelledError:
                ex.step += " (client went away)"
                raise
            step = resolve(step.then, ex.body)
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
        message = self._build_message(ex.body, step, compact=compact)
        ex.usage, ex.response, ex.status = message["usage"], message, 200
        ex.compacted = compact
        self.usages.append(message["usage"])
        if not ex.streamed:
            return web.json_response(message, headers={"request-id": ex.request_id})
        return await self._stream_message(request, ex, message)

    async def _handle_count_tokens(self, request: web.Request) -> web.Response:
        ex, is_json = await self._begin(request, record=False)
        try:
            self._check_auth(ex.headers, is_json)
            self._validate(ex, need_max_tokens=False)
        except ApiError as err:
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
            "max_input_tokens": self.context_limit_tokens,
            "max_tokens": self.max_output_tokens,
        }

    async def _handle_models(self, request: web.Request) -> web.Response:
        ex, is_json = await self._begin(request, record=False)
        try:
            self._check_auth(ex.headers, is_json)
        except ApiError as err:
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
            self._check_auth(ex.headers, True)
            if model_id not in self.valid_models:
                raise ApiError(404, "not_found_error", f"model: {model_id}")
        except ApiError as err:
            return self._error_response(ex, err.status, err.type, err.message, None)
        result = self._model_info(model_id)
        ex.status, ex.step, ex.response = 200, "model", result
        return web.json_response(result, headers={"request-id": ex.request_id})


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
    parser.add_argument(
        "--refuse-compaction", action="store_true", help="answer like an API without the beta"
    )
    parser.add_argument(
        "--finish-jobs-after",
        type=float,
        metavar="SECONDS",
        help="Managed Agents runs end by themselves",
    )
    parser.add_argument(
        "--webhook-url",
        help="deliver Managed Agents webhooks there (e.g. the bot's /webhooks/anthropic)",
    )
    args = parser.parse_args(argv)
    fake = FakeAnthropic(host=args.host, port=args.port)
    fake.valid_models.update(args.model)
    fake.stream_delay = args.stream_delay
    fake.context_limit_tokens = args.context_limit
    fake.refuse_compaction = args.refuse_compaction
    fake.managed.auto_finish = args.finish_jobs_after
    if args.webhook_url:
        fake.managed.subscribe(args.webhook_url)
    banner = [
        f"models: {', '.join(sorted(fake.valid_models))}",
        f"JOBS_AGENT_ID={DEFAULT_AGENT_ID} JOBS_ENVIRONMENT_ID={DEFAULT_ENVIRONMENT_ID}",
        f"ANTHROPIC_WEBHOOK_SECRET={fake.managed.webhook_secret}",
    ]
    run(serve_forever(fake, banner=banner))


if __name__ == "__main__":
    main()
