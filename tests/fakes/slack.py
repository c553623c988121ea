"""A fake Slack Web API for tests: the real ``slack_sdk`` client talks to it over HTTP.

    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.url)
        await client.chat_postMessage(channel="C1", thread_ts="1.0", text="hi")
        assert slack.thread_texts("C1", "1.0") == ["hi"]

Socket Mode: ``apps.connections.open`` (with an ``xapp-`` token) hands out a
``ws://127.0.0.1:<port>/socket-mode/<ticket>`` URL on the same server; the fake says hello
to a client that connects, and a test pushes envelopes to it and reads its acks:

    await slack.socket_connected()
    envelope_id = await slack.push_envelope("events_api", event_body)
    ack = await slack.wait_for_ack(envelope_id)

Standalone: ``python -m tests.fakes.slack --port 9001`` (prints the base URL, serves until
SIGTERM/SIGINT).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSCloseCode, WSMsgType, web

from tests.fakes.server import FakeServer, add_common_arguments, run, serve_forever, short
from tests.fakes.slack_oidc import FakeSlackOIDC
from tests.fakes.slack_views import ViewError, check_home_view

__all__ = ["Call", "FakeSlack", "Message", "main"]

JSON_FIELDS = frozenset(
    {
        "attachments",
        "blocks",
        "chunks",
        "loading_messages",
        "metadata",
        "prompts",
        "unfurls",
        "user_auth_blocks",
        "view",
    }
)
"""Form fields whose value slack_sdk sends as a JSON string; decoded in the recorded params."""

BASE_TS_MICROS = 1_763_700_000 * 1_000_000
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
"""What the fake takes for a user id (Slack's are ``U…`` or ``W…``); anything else is unknown."""
Handler = Callable[[dict[str, Any]], dict[str, Any]]

APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
"""Methods called with the app-level token (``app_token_prefixes``), not the bot token."""


@dataclass
class Call:
    """One HTTP request the fake received (recorded even when it failed)."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]  # lower-cased names
    http_method: str = "POST"
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return None if self.ok else self.response.get("error")


@dataclass
class Message:
    """What a user would see for one message."""

    ts: str
    channel: str
    thread_ts: str | None
    text: str
    user: str
    bot_id: str | None = None
    blocks: list[Any] = field(default_factory=list)
    chunks: list[dict[str, Any]] = field(default_factory=list)  # non-markdown stream chunks
    streamed: bool = False
    stopped: bool = False
    updates: int = 0
    ephemeral_to: str | None = None
    deleted: bool = False
    metadata: Any = None
    task_display_mode: str | None = None  # a stream's, as chat.startStream set it

    def to_slack(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        out["user"] = self.user
        if self.bot_id:
            out["bot_id"] = self.bot_id
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.blocks:
            out["blocks"] = self.blocks
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


@dataclass
class _FailRule:
    status: int
    retry_after: float | None
    error: str | None
    remaining: int | None  # None: forever


def _visible_text(params: dict[str, Any]) -> str:
    """markdown_text, else the text of markdown blocks, else text."""
    if params.get("markdown_text"):
        return str(params["markdown_text"])
    blocks = params.get("blocks")
    if isinstance(blocks, list):
        texts = [
            str(b.get("text", ""))
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "markdown"
        ]
        if texts:
            return "\n".join(texts)
    return str(params.get("text") or "")


def _split_chunks(chunks: Any) -> tuple[str, list[dict[str, Any]]]:
    text = ""
    others: list[dict[str, Any]] = []
    if isinstance(chunks, list):
        for chunk in chunks:
            if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
                text += str(chunk.get("text", ""))
            elif isinstance(chunk, dict):
                others.append(chunk)
    return text, others


class FakeSlack(FakeServer):
    """Fake Slack Web API. ``url`` is the base URL for ``AsyncWebClient(base_url=...)``."""

    url_path = "/api/"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        # identity returned by auth.test and stamped on bot messages
        self.user_id = "UBOT"
        self.bot_id = "BBOT"
        self.team_id = "T1"
        self.team = "Threadline Test"
        self.user = "threadline"
        self.workspace_url = "https://fake.slack.test/"
        # the token's scopes, sent by auth.test in the x-oauth-scopes header as Slack does
        self.oauth_scopes: list[str] = [
            "app_mentions:read",
            "assistant:write",
            "channels:history",
            "channels:read",
            "chat:write",
            "commands",
            "groups:history",
            "groups:read",
            "im:history",
            "im:read",
            "im:write",
            "mpim:history",
            "users:read",
        ]
        self.token_prefixes: tuple[str, ...] = ("xoxb-",)
        self.app_token_prefixes: tuple[str, ...] = ("xapp-",)
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        """Flags ``conversations.info`` reports per channel id (``is_private``, ``is_im``,
        ``is_ext_shared``, ``is_shared``...), set by tests; unset flags read false."""
        self.members: dict[str, list[str]] = {}
        """User ids ``conversations.members`` lists per channel id, set by tests; unset: none."""
        self.dms: dict[str, str] = {}
        """Each user's DM channel with the bot (``conversations.open``); made up when unset."""
        self.oidc = FakeSlackOIDC()
        """Sign in with Slack (``tests.fakes.slack_oidc``), on this server."""
        self.refuse_streaming = False
        self.calls: list[Call] = []
        self.connections: set[str] = set()
        """The client connections (address and port) calls came over."""
        self._messages: list[Message] = []
        self._fail_rules: dict[str, list[_FailRule]] = {}
        self._delays: dict[str, float] = {}
        self._handlers: dict[str, Handler] = {}
        self._statuses: dict[tuple[str, str], list[str]] = {}
        self._current_status: dict[tuple[str, str], str] = {}
        self.titles: dict[tuple[str, str], str] = {}
        self.suggested_prompts: dict[tuple[str, str | None], list[dict[str, str]]] = {}
        """The prompts set per (channel, thread_ts or None), the latest call's."""
        self.views_opened: list[dict[str, Any]] = []
        """Every modal opened with ``views.open``, as sent (with the id the fake gave it)."""
        self.expired_triggers: set[str] = set()
        """trigger_ids ``views.open`` answers ``expired_trigger_id`` for (set by tests)."""
        self.reactions: dict[tuple[str, str], list[str]] = {}
        # App Home: whether the Home tab is on (``not_enabled`` otherwise), and the view each
        # user's Home tab shows now (``views.publish``)
        self.home_tab_enabled = True
        self.home_views: dict[str, dict[str, Any]] = {}
        self._ts_counter = 0
        # Socket Mode
        self.socket_acks: list[dict[str, Any]] = []
        """Every JSON object with an ``envelope_id`` a Socket Mode client sent, in order."""
        self.socket_messages: list[str] = []
        """Any other text a Socket Mode client sent (Slack clients send nothing else)."""
        self.socket_close_codes: list[int | None] = []
        """The close code of each ended Socket Mode connection (1000: the client said bye)."""
        self.socket_connections = 0
        """How many Socket Mode connections were accepted (reconnects count)."""
        self._socket_tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []  # open, hello sent; newest last

    # -- public helpers --------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def messages(
        self, channel: str, thread_ts: str | None = None, *, include_ephemeral: bool = True
    ) -> list[Message]:
        """Messages in ``channel`` (thread_ts=None: all of them), in ts order.

        With ``thread_ts``: the thread as displayed, i.e. the parent (if it was posted or
        seeded with :meth:`add_message`) followed by the replies. Deleted messages are omitted.
        """
        out = [
            m
            for m in self._messages
            if m.channel == channel
            and not m.deleted
            and (include_ephemeral or m.ephemeral_to is None)
            and (thread_ts is None or m.ts == thread_ts or m.thread_ts == thread_ts)
        ]
        return sorted(out, key=lambda m: _ts_key(m.ts))

    def thread_texts(self, channel: str, thread_ts: str) -> list[str]:
        return [m.text for m in self.messages(channel, thread_ts)]

    def message(self, channel: str, ts: str) -> Message | None:
        for m in self._messages:
            if m.channel == channel and m.ts == ts:
                return m
        return None

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U1",
        thread_ts: str | None = None,
        ts: str | None = None,
    ) -> Message:
        """Seed a message (e.g. the human's message that starts a thread)."""
        msg = Message(
            ts=ts or self._next_ts(), channel=channel, thread_ts=thread_ts, text=text, user=user
        )
        self._messages.append(msg)
        return msg

    def set_channel(self, channel: str, **flags: Any) -> None:
        """Describe ``channel`` for ``conversations.info``, e.g. ``is_ext_shared=True``."""
        self.channels.setdefault(channel, {}).update(flags)

    def set_members(self, channel: str, *users: str) -> None:
        """The people in ``channel``, for ``conversations.members``."""
        self.members[channel] = list(users)

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[Message]:
        """Ephemeral messages posted (to ``user``, in ``channel``), oldest first."""
        return [
            m
            for m in sorted(self._messages, key=lambda m: _ts_key(m.ts))
            if m.ephemeral_to is not None
            and (channel is None or m.channel == channel)
            and (user is None or m.ephemeral_to == user)
        ]

    def status(self, channel: str, thread_ts: str) -> str:
        """Current assistant thread status ("" when cleared or never set)."""
        return self._current_status.get((channel, thread_ts), "")

    def statuses(self, channel: str, thread_ts: str) -> list[str]:
        """Every status set via assistant.threads.setStatus for the thread, in order."""
        return list(self._statuses.get((channel, thread_ts), []))

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: float | None = 1,
        error: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Make the next ``times`` calls to ``method`` ("*": any method) fail.

        429 -> HTTP 429 + Retry-After + ``ratelimited``; >=500 -> that HTTP status;
        200 + error -> ``{"ok": false, "error": error}``. times=None: forever.
        Rules queue up per method and are consumed in order.
        """
        rule = _FailRule(status=status, retry_after=retry_after, error=error, remaining=times)
        self._fail_rules.setdefault(method, []).append(rule)

    def clear_failures(self) -> None:
        self._fail_rules.clear()

    def delay(self, method: str, seconds: float) -> None:
        """Delay answers to ``method`` ("*": every method) by ``seconds`` (0 removes)."""
        if seconds > 0:
            self._delays[method] = seconds
        else:
            self._delays.pop(method, None)

    def on(self, method: str, handler: Handler) -> None:
        """Answer ``method`` with ``handler(params) -> response dict`` (added or overridden)."""
        self._handlers[method] = handler

    # -- Socket Mode -----------------------------------------------------------------------

    @property
    def socket_open(self) -> bool:
        """Whether a Socket Mode client is connected (and has been sent hello)."""
        return any(not ws.closed for ws in self._sockets)

    async def socket_connected(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until a Socket Mode client is connected and has been sent hello."""
        await self.wait_for(
            lambda s: s.socket_open, timeout, message="a Socket Mode client is connected"
        )

    async def push_envelope(
        self,
        type_: str,
        payload: dict[str, Any],
        envelope_id: str | None = None,
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
    ) -> str:
        """Send one envelope to the newest connected client, as Slack does; return its id.

        ``type_`` is ``events_api`` (``payload``: an Events API body), ``slash_commands``
        (the command's form fields as a dict) or ``interactive``. Events carry
        ``retry_attempt``/``retry_reason`` (a redelivery: ``retry_attempt=1``,
        ``retry_reason="timeout"``); ``accepts_response_payload`` defaults to Slack's (false
        for events, true otherwise). Waits (briefly) for a client to be connected.
        """
        await self.socket_connected()
        ws = next(ws for ws in reversed(self._sockets) if not ws.closed)
        envelope_id = envelope_id or str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = type_ != "events_api"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": type_,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if type_ == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        await ws.send_json(envelope)
        return envelope_id

    def acks_for(self, envelope_id: str) -> list[dict[str, Any]]:
        return [a for a in self.socket_acks if a.get("envelope_id") == envelope_id]

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait for the client's ack of ``envelope_id`` and return it (the first, if several)."""
        acks: list[dict[str, Any]] = await self.wait_for(
            lambda s: s.acks_for(envelope_id), timeout, message=f"ack of {envelope_id}"
        )
        return acks[0]

    async def close(self) -> None:
        # Say goodbye to connected clients first, so the server's shutdown does not cut them.
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"fake slack closing")
        await super().close()

    def describe(self) -> str:
        lines = [f"{len(self.calls)} call(s) recorded:"]
        for i, c in enumerate(self.calls):
            result = "ok" if c.ok else f"{c.status} {c.error}"
            lines.append(f"  [{i}] {c.method} {short(c.params)} -> {result}")
        visible = [m for m in self._messages if not m.deleted]
        lines.append(f"{len(visible)} message(s):")
        for m in sorted(visible, key=lambda m: _ts_key(m.ts)):
            flags = []
            if m.streamed:
                flags.append("streamed" + (",stopped" if m.stopped else ",open"))
            if m.updates:
                flags.append(f"updates={m.updates}")
            if m.ephemeral_to:
                flags.append(f"ephemeral_to={m.ephemeral_to}")
            lines.append(
                f"  {m.channel} ts={m.ts} thread={m.thread_ts} user={m.user} "
                f"{' '.join(flags)} text={short(m.text)}"
            )
        if self.socket_connections:
            lines.append(
                f"Socket Mode: {self.socket_connections} connection(s), "
                f"open={self.socket_open}, closes={self.socket_close_codes}, "
                f"{len(self.socket_acks)} ack(s):"
            )
            lines.extend(f"  {short(a)}" for a in self.socket_acks)
        return "\n".join(lines)

    # -- HTTP ------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        self.oidc.add_routes(app)  # before /api/{method}: its methods take no bot token
        app.router.add_route("*", "/api/{method}", self._handle)
        app.router.add_get("/socket-mode/{ticket}", self._socket)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        """One Socket Mode connection: hello, then record what the client sends until it
        (or :meth:`close`) ends the connection."""
        if request.match_info["ticket"] not in self._socket_tickets:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        # autoping answers the client's pings; a short close timeout keeps teardown quick
        ws = web.WebSocketResponse(timeout=2.0)
        await ws.prepare(request)
        self.socket_connections += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets) + 1,
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A1"},
            }
        )
        self._sockets.append(ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    data = None
                if isinstance(data, dict) and "envelope_id" in data:
                    self.socket_acks.append(data)
                else:
                    self.socket_messages.append(msg.data)
        finally:
            self._sockets.remove(ws)
            self.socket_close_codes.append(ws.close_code)
        return ws

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await _read_params(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        call = Call(method=method, params=params, headers=headers, http_method=request.method)
        self.calls.append(call)
        if request.transport is not None:
            self.connections.add(str(request.transport.get_extra_info("peername")))

        delay = self._delays.get(method, self._delays.get("*", 0.0))
        await self._sleep(delay)

        status, body, extra_headers = self._dispatch(method, params, headers)
        call.status, call.response = status, body
        return web.json_response(body, status=status, headers=extra_headers)

    def _dispatch(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        auth = headers.get("authorization", "")
        body_token = str(params.pop("token", "") or "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        token = token or body_token
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        prefixes = self.app_token_prefixes if method in APP_TOKEN_METHODS else self.token_prefixes
        if not token.startswith(prefixes):
            return 200, {"ok": False, "error": "invalid_auth"}, {}

        rule = self._take_fail_rule(method)
        if rule is not None:
            return self._failure(rule)

        handler = self._handlers.get(method)
        if handler is None:
            builtin = None
            if "_" not in method:
                builtin = getattr(self, "_m_" + method.replace(".", "_"), None)
            if builtin is None:
                return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
            handler = builtin
        try:
            body = handler(params)
        except _SlackError as err:
            body = {"ok": False, "error": err.error}
        if method == "auth.test":
            return 200, body, {"x-oauth-scopes": ",".join(self.oauth_scopes)}
        return 200, body, {}

    def _take_fail_rule(self, method: str) -> _FailRule | None:
        for key in (method, "*"):
            rules = self._fail_rules.get(key, [])
            while rules:
                rule = rules[0]
                if rule.remaining is None:
                    return rule
                if rule.remaining > 0:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        rules.pop(0)
                    return rule
                rules.pop(0)
        return None

    @staticmethod
    def _failure(rule: _FailRule) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers: dict[str, str] = {}
        if rule.status == 429:
            if rule.retry_after is not None:
                ra = rule.retry_after
                headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
            return 429, {"ok": False, "error": rule.error or "ratelimited"}, headers
        if rule.status >= 500:
            return rule.status, {"ok": False, "error": rule.error or "internal_error"}, headers
        return rule.status, {"ok": False, "error": rule.error or "fatal_error"}, headers

    # -- state helpers ---------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts_counter += 1
        micros = BASE_TS_MICROS + 100 * self._ts_counter
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _bot_message(self, channel: str, thread_ts: str | None, text: str) -> Message:
        msg = Message(
            ts=self._next_ts(),
            channel=channel,
            thread_ts=thread_ts or None,
            text=text,
            user=self.user_id,
            bot_id=self.bot_id,
        )
        self._messages.append(msg)
        if thread_ts:
            # Slack clears the assistant status when the app replies in the thread
            self._current_status.pop((channel, thread_ts), None)
        return msg

    def _find(self, channel: str, ts: str) -> Message:
        msg = self.message(channel, ts)
        if msg is None or msg.deleted:
            raise _SlackError("message_not_found")
        return msg

    # -- methods ---------------------------------------------------------------------------

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": self.workspace_url,
            "team": self.team,
            "user": self.user,
            "team_id": self.team_id,
            "user_id": self.user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        ticket = secrets.token_urlsafe(12)
        self._socket_tickets.add(ticket)
        return {"ok": True, "url": f"ws://{self.host}:{self.port}/socket-mode/{ticket}"}

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        uid = str(_require(params, "user"))
        info = self.users.get(uid)
        if info is None:
            raise _SlackError("user_not_found")
        real_name = info.get("real_name", "")
        display_name = info.get("display_name", "")
        extra = {k: v for k, v in info.items() if k not in ("real_name", "display_name")}
        user = {
            "id": uid,
            "team_id": self.team_id,
            "name": info.get("name") or display_name or uid.lower(),
            "deleted": False,
            "real_name": real_name,
            "is_bot": False,
            **extra,
            "profile": {
                "display_name": display_name,
                "real_name": real_name,
                **(extra.get("profile") or {}),
            },
        }
        return {"ok": True, "user": user}

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(_require(params, "channel"))
        _require_content(params)
        _check_blocks(params)
        msg = self._bot_message(channel, params.get("thread_ts"), _visible_text(params))
        msg.blocks = list(params.get("blocks") or [])
        msg.metadata = params.get("metadata")
        return {"ok": True, "channel": channel, "ts": msg.ts, "message": msg.to_slack()}

    def _m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(_require(params, "channel"))
        user = str(_require(params, "user"))
        _require_content(params)
        msg = self._bot_message(channel, params.get("thread_ts"), _visible_text(params))
        msg.blocks = list(params.get("blocks") or [])
        msg.ephemeral_to = user
        return {"ok": True, "message_ts": msg.ts}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(_require(params, "channel"))
        msg = self._find(channel, str(_require(params, "ts")))
        _require_content(params)
        _check_blocks(params)
        msg.text = _visible_text(params)
        if "blocks" in params:
            msg.blocks = list(params.get("blocks") or [])
        if "metadata" in params:
            msg.metadata = params["metadata"]
        msg.updates += 1
        return {
            "ok": True,
            "channel": channel,
            "ts": msg.ts,
            "text": msg.text,
            "message": msg.to_slack(),
        }

    def _m_chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(_require(params, "channel"))
        msg = self._find(channel, str(_require(params, "ts")))
        msg.deleted = True
        return {"ok": True, "channel": channel, "ts": msg.ts}

    def _m_chat_startStream(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(_require(params, "channel"))
        thread_ts = str(_require(params, "thread_ts"))
        if self.refuse_streaming:
            raise _SlackError("not_allowed_token_type")
        mode = params.get("task_display_mode")
        if mode is not None and mode not in TASK_DISPLAY_MODES:
            raise _SlackError("invalid_arguments")
        recipient = params.get("recipient_user_id")
        if recipient is not None and not _USER_ID.fullmatch(str(recipient)):
            raise _SlackError("user_not_found")  # a stream is for a user, as Slack requires
        msg = self._bot_message(channel, thread_ts, "")
        msg.streamed = True
        msg.task_display_mode = mode or "timeline"
        self._append_stream(msg, params)
        return {"ok": True, "channel": channel, "ts": msg.ts}

    def _m_chat_appendStream(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(_require(params, "channel"))
        msg = self._open_stream(channel, str(_require(params, "ts")))
        self._append_stream(msg, params)
        return {"ok": True, "channel": channel, "ts": msg.ts}

    def _m_chat_stopStream(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(_require(params, "channel"))
        msg = self._open_stream(channel, str(_require(params, "ts")))
        _check_blocks(params)
        self._append_stream(msg, params)
        if params.get("blocks"):
            msg.blocks = list(params["blocks"])
        if "metadata" in params:
            msg.metadata = params["metadata"]
        msg.stopped = True
        return {"ok": True, "channel": channel, "ts": msg.ts, "message": msg.to_slack()}

    def _open_stream(self, channel: str, ts: str) -> Message:
        msg = self._find(channel, ts)
        if not msg.streamed or msg.stopped:
            raise _SlackError("message_not_in_streaming_state")
        return msg

    @staticmethod
    def _append_stream(msg: Message, params: dict[str, Any]) -> None:
        chunk_text, others = _split_chunks(params.get("chunks"))
        msg.text += str(params.get("markdown_text") or "") + chunk_text
        msg.chunks.extend(others)

    def _m_assistant_threads_setStatus(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(_require(params, "channel_id"))
        thread_ts = str(_require(params, "thread_ts"))
        status = str(params.get("status") or "")
        self._statuses.setdefault((channel, thread_ts), []).append(status)
        self._current_status[(channel, thread_ts)] = status
        return {"ok": True}

    def _m_assistant_threads_setTitle(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(_require(params, "channel_id")), str(_require(params, "thread_ts")))
        self.titles[key] = str(_require(params, "title"))
        return {"ok": True}

    # -- agent features: suggested prompts, modals, feedback blocks -----------------------

    def _m_assistant_threads_setSuggestedPrompts(self, params: dict[str, Any]) -> dict[str, Any]:
        """Slack takes one to four prompts, each a ``title`` and the ``message`` it sends."""
        channel = str(_require(params, "channel_id"))
        prompts = _require(params, "prompts")
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= 4:
            raise _SlackError("invalid_arguments")
        for prompt in prompts:
            if not (
                isinstance(prompt, dict)
                and isinstance(prompt.get("title"), str)
                and prompt["title"]
                and isinstance(prompt.get("message"), str)
                and prompt["message"]
            ):
                raise _SlackError("invalid_arguments")
        thread = params.get("thread_ts")
        self.suggested_prompts[(channel, str(thread) if thread else None)] = prompts
        return {"ok": True}

    def _m_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """A modal, opened with a fresh trigger_id; checked as Slack checks one."""
        trigger = str(_require(params, "trigger_id"))
        if trigger in self.expired_triggers:
            raise _SlackError("expired_trigger_id")
        view = params.get("view")
        if not isinstance(view, dict):
            raise _SlackError("invalid_arguments")
        _check_modal(view)
        opened = {**view, "id": f"V{len(self.views_opened) + 1:08d}", "trigger_id": trigger}
        self.views_opened.append(opened)
        return {"ok": True, "view": opened}

    # -- App Home ----------------------------------------------------------------------------

    def _m_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        """The user's Home tab as Slack checks it (``tests.fakes.slack_views``); a ``hash``
        must be the current view's."""
        user = str(_require(params, "user_id"))
        view = _require(params, "view")
        if user not in self.users:
            raise _SlackError("user_not_found")
        if not self.home_tab_enabled:
            raise _SlackError("not_enabled")
        try:
            check_home_view(view)
        except ViewError as exc:
            raise _SlackError(exc.error) from exc
        current = self.home_views.get(user)
        if params.get("hash") and (current is None or params["hash"] != current["hash"]):
            raise _SlackError("hash_conflict")
        self._ts_counter += 1
        shown = {
            **view,
            "id": f"VHOME{self._ts_counter:06d}",
            "team_id": self.team_id,
            "hash": f"{self._ts_counter}.{secrets.token_hex(4)}",
            "app_id": "A1",
            "bot_id": self.bot_id,
        }
        self.home_views[user] = shown
        return {"ok": True, "view": shown}

    def _m_reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        # lenient: the reacted-to message need not be known (it is usually the user's)
        key = (str(_require(params, "channel")), str(_require(params, "timestamp")))
        name = str(_require(params, "name"))
        names = self.reactions.setdefault(key, [])
        if name in names:
            raise _SlackError("already_reacted")
        names.append(name)
        return {"ok": True}

    def _m_reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(_require(params, "channel")), str(_require(params, "timestamp")))
        name = str(_require(params, "name"))
        names = self.reactions.get(key, [])
        if name not in names:
            raise _SlackError("no_reaction")
        names.remove(name)
        return {"ok": True}

    def _m_chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(_require(params, "channel"))
        ts = str(_require(params, "message_ts"))
        link = f"https://fake.slack.test/archives/{channel}/p{ts.replace('.', '')}"
        msg = self.message(channel, ts)
        if msg is not None and msg.thread_ts and msg.thread_ts != ts:
            link += f"?thread_ts={msg.thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _m_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """What Slack says of a channel: its kind from the id prefix, flags from ``channels``."""
        channel = str(_require(params, "channel"))
        flags = self.channels.get(channel, {})
        if flags.get("not_found"):
            raise _SlackError("channel_not_found")
        is_im = bool(flags.get("is_im", channel.startswith("D")))
        info: dict[str, Any] = {
            "id": channel,
            "is_channel": not is_im and not flags.get("is_mpim", False),
            "is_group": False,
            "is_im": is_im,
            "is_mpim": False,
            "is_private": is_im,
            "is_archived": False,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "context_team_id": self.team_id,
            "created": 1_700_000_000,
        }
        if is_im:
            info["user"] = "U1"
        else:
            info["name"] = channel.lower()
        info.update({k: v for k, v in flags.items() if k != "not_found"})
        return {"ok": True, "channel": info}

    def _m_conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        """The channel's members from ``members``, paged by ``limit`` and ``cursor``."""
        channel = str(_require(params, "channel"))
        if self.channels.get(channel, {}).get("not_found"):
            raise _SlackError("channel_not_found")
        members = self.members.get(channel, [])
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 100)
        more = start + limit < len(members)
        return {
            "ok": True,
            "members": members[start : start + limit],
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_users_conversations(self, params: dict[str, Any]) -> dict[str, Any]:
        """The channels ``user`` is in (from ``members``, and their DM with the bot for the
        ``im`` type), paged by ``limit`` and ``cursor``."""
        user = str(_require(params, "user"))
        types = str(params.get("types") or "public_channel").split(",")
        ids = [c for c, people in self.members.items() if user in people and c[:1] != "D"]
        if "im" in types and user in self.dms:
            ids.append(self.dms[user])
        if not {"public_channel", "private_channel", "mpim"} & set(types):
            ids = [c for c in ids if c[:1] == "D"]
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 100)
        more = start + limit < len(ids)
        page = [{"id": c, "name": c.lower(), "is_channel": c[:1] == "C"} for c in ids]
        return {
            "ok": True,
            "channels": page[start : start + limit],
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """The bot's DM with ``users`` (one user), made up and kept when it is new."""
        users = str(_require(params, "users")).split(",")
        if len(users) != 1:
            raise _SlackError("not_enough_users" if not users[0] else "invalid_arguments")
        if not users[0].startswith(("U", "W")):
            raise _SlackError("user_not_found")
        channel = self.dms.setdefault(users[0], "D" + users[0][1:].upper() + "BOT")
        return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": channel}}

    def _m_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(_require(params, "channel"))
        ts = str(_require(params, "ts"))
        thread = self.messages(channel, ts, include_ephemeral=False)
        if not thread:
            raise _SlackError("thread_not_found")
        out = []
        for m in thread:
            item = m.to_slack()
            if m.ts == ts:
                replies = [r for r in thread if r.ts != ts]
                item["thread_ts"] = ts
                item["reply_count"] = len(replies)
                if replies:
                    item["latest_reply"] = replies[-1].ts
            out.append(item)
        oldest, latest = params.get("oldest"), params.get("latest")
        inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")
        if oldest:
            out = [
                m
                for m in out
                if _ts_key(m["ts"]) > _ts_key(oldest)
                or (inclusive and m["ts"] == oldest)
                or m["ts"] == ts
            ]
        if latest:
            out = [
                m
                for m in out
                if _ts_key(m["ts"]) < _ts_key(latest)
                or (inclusive and m["ts"] == latest)
                or m["ts"] == ts
            ]
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 1000)
        page = out[start : start + limit]
        has_more = start + limit < len(out)
        return {
            "ok": True,
            "messages": page,
            "has_more": has_more,
            "response_metadata": {"next_cursor": str(start + limit) if has_more else ""},
        }


class _SlackError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _require(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        if name == "channel" or name == "channel_id":
            raise _SlackError("channel_not_found")
        raise _SlackError("invalid_arguments")
    return value


TASK_DISPLAY_MODES = frozenset({"timeline", "plan"})


def _plain_text(value: Any, limit: int) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "plain_text"
        and isinstance(value.get("text"), str)
        and 0 < len(value["text"]) <= limit
    )


def _check_blocks(params: dict[str, Any]) -> None:
    """``invalid_blocks`` for a context_actions block Slack would refuse: one to five
    elements, each ``feedback_buttons`` (an action_id, a positive and a negative button with
    plain text up to 75 characters and a value up to 2000) or an ``icon_button``."""
    blocks = params.get("blocks")
    if blocks is None:
        return
    if not isinstance(blocks, list) or len(blocks) > 50:
        raise _SlackError("invalid_blocks")
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "context_actions":
            continue
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 5:
            raise _SlackError("invalid_blocks")
        for element in elements:
            if not isinstance(element, dict) or element.get("type") not in (
                "feedback_buttons",
                "icon_button",
            ):
                raise _SlackError("invalid_blocks")
            if element["type"] != "feedback_buttons":
                continue
            if not isinstance(element.get("action_id"), str) or not element["action_id"]:
                raise _SlackError("invalid_blocks")
            for side in ("positive_button", "negative_button"):
                button = element.get(side)
                if not (
                    isinstance(button, dict)
                    and _plain_text(button.get("text"), 75)
                    and isinstance(button.get("value"), str)
                    and 0 < len(button["value"]) <= 2000
                ):
                    raise _SlackError("invalid_blocks")


def _check_modal(view: dict[str, Any]) -> None:
    """What Slack requires of a modal: a title (24 characters at most), blocks, submit text
    when it has inputs, private_metadata up to 3000 characters, a callback_id up to 255."""
    if view.get("type") != "modal" or not _plain_text(view.get("title"), 24):
        raise _SlackError("invalid_arguments")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 100:
        raise _SlackError("invalid_arguments")
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if has_input and not _plain_text(view.get("submit"), 24):
        raise _SlackError("invalid_arguments")
    if len(str(view.get("private_metadata") or "")) > 3000:
        raise _SlackError("invalid_arguments")
    if len(str(view.get("callback_id") or "")) > 255:
        raise _SlackError("invalid_arguments")


def _require_content(params: dict[str, Any]) -> None:
    if not any(params.get(k) for k in ("text", "markdown_text", "blocks", "attachments")):
        raise _SlackError("no_text")


def _ts_key(ts: str) -> tuple[int, int]:
    sec, _, frac = str(ts).partition(".")
    try:
        return int(sec), int((frac + "000000")[:6])
    except ValueError:
        return 0, 0


def _decode_json_fields(params: dict[str, Any]) -> dict[str, Any]:
    for key in JSON_FIELDS & params.keys():
        value = params[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Query string + body (JSON or form), with JSON-in-form fields decoded."""
    params: dict[str, Any] = dict(request.query)
    if not request.can_read_body:
        return _decode_json_fields(params)
    if request.content_type == "multipart/form-data":
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return _decode_json_fields(params)
    raw = await request.read()
    if request.content_type == "application/json" or raw.lstrip()[:1] == b"{":
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if isinstance(body, dict):
            params.update(body)
            return _decode_json_fields(params)
    params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return _decode_json_fields(params)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.slack", description=__doc__)
    add_common_arguments(parser, default_port=9001)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to delay every answer")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="ID=REAL NAME",
        help="add a user for users.info (repeatable)",
    )
    args = parser.parse_args(argv)
    slack = FakeSlack(host=args.host, port=args.port)
    slack.delay("*", args.latency)
    for spec in args.user:
        uid, _, name = spec.partition("=")
        slack.users[uid] = {"real_name": name or uid, "display_name": (name or uid).split()[0]}
    sign_in = [  # Sign in with Slack to the dashboard (signs in as U1 of T1)
        f"SLACK_CLIENT_ID={slack.oidc.client_id}",
        f"SLACK_CLIENT_SECRET={slack.oidc.client_secret}",
    ]
    run(serve_forever(slack, sign_in))


if __name__ == "__main__":
    main()
