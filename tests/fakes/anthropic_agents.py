"""Claude Managed Agents on the fake Anthropic API: sessions, their events, and webhooks.

``FakeAnthropic`` mounts one ``FakeManagedAgents`` as ``fake.managed``; the real SDK's
``client.beta.sessions``, ``.sessions.events``, ``.agents.retrieve`` and
``.environments.retrieve`` talk to it. Every request needs an API key, ``anthropic-version``
and the beta ``managed-agents-2026-04-01`` in ``anthropic-beta``; errors come in the API's
shape (``{"type": "error", "error": {"type", "message"}}``): 400 ``invalid_request_error``
for a bad body or a session that cannot take the event, 404 ``not_found_error`` for an unknown
session, agent or environment.

How a session behaves (as the real service does):

- It is created ``idle``; initial ``user.message`` events make it ``running``. A
  ``user.message`` sent to an idle session makes it ``running`` again (``resume``); to a
  running one it is queued; to a terminated or archived one it is a 400.
- ``user.interrupt`` on a running session makes it ``idle`` (stop reason ``end_turn``).
- ``archive`` terminates the session (``session.status_terminated``) and hides it from
  ``list`` unless ``include_archived``; archiving again answers it unchanged. ``delete``
  makes it a 404.
- Events are listed oldest first (``order=desc`` reverses), ``limit`` defaults to 20 and
  pages with an opaque ``next_page``; ``types[]`` filters.

Test-side API (``m = fake.managed``; ``sid`` a session id; each returns the webhook events
it emitted, which are delivered at once when ``subscribe`` was called):

- ``m.sessions``: id -> ``FakeSession`` (``status``, ``metadata``, ``title``, ``resources``,
  ``events``, ``archived``); ``m.session_for(job_id=...)`` finds one by metadata value;
  ``m.calls``: every request (``AgentCall``: op, path, body, headers, status).
- ``m.say(sid, text)``: an ``agent.message`` while it runs (work in progress).
- ``m.use_tool(sid, command, output)``: an ``agent.tool_use`` and its ``agent.tool_result``.
- ``m.finish(sid, *texts)``: a tool use, the final ``agent.message``s, then idle with
  ``end_turn``.
- ``m.require_action(sid, tool="bash", input=...)``: an ``agent.tool_use`` awaiting
  confirmation, then idle with ``requires_action``.
- ``m.reach_budget(sid, *texts)``: idle with ``budget_reached`` (only for a session created
  with a ``budget``, as the real service).
- ``m.terminate(sid, error="unknown_error")``: a ``session.error`` then terminated.
- ``m.hold_runs = True``: a ``user.message`` sent to an idle session leaves it idle for a
  while before it runs, as the real service may: the event is listed at once, with
  ``processed_at`` null, and no idle event follows it; ``m.begin(sid)`` starts the run.
- ``m.auto_finish = seconds``: every run ends by itself that long after it started, with
  "Done: {its last user message}" (for trying the bot by hand against the standalone fake).
- ``m.private_repos``: repositories (owner/name) that clone only with an
  ``authorization_token``; mounted without one, the session records a
  ``repository_authentication_error`` and runs on without it, as the real service does.
- ``m.fail(op, Fail(...), ...)``: the next request(s) of ``op`` ("sessions.create",
  "sessions.retrieve", "sessions.list", "sessions.archive", "sessions.delete",
  "events.send", "events.list", "agents.retrieve", "environments.retrieve" or "*") answer
  that error (429 with ``retry_after``, 500, 529 ...) or wait first (``Hang(seconds)``).
- Webhooks (Standard Webhooks; ``webhook-id`` is the event id, the same on every retry):
  ``m.subscribe(url, secret=m.webhook_secret, types=None)`` delivers every emitted event
  (``session.created``, ``.status_run_started``, ``.status_idled``, ``.requires_action``,
  ``.budget_reached``, ``.status_terminated``, ``.archived``) in order, retrying a non-2xx
  answer ``max_attempts`` times; ``await m.settled()`` waits until the queue is empty.
  ``await m.deliver(event, url=..., secret=...)`` sends one by hand; ``m.webhook_events``
  lists every event emitted; ``m.deliveries`` every attempt (``Delivery``: event, status,
  headers, body). Forgeries: ``await m.deliver(event, forge="bad_signature" | "stale" |
  "unsigned" | "tampered" | "malformed")``, and ``await m.replay(delivery)`` resends a
  delivery byte for byte (same id, timestamp and signature).

Beside this module: ``anthropic_webhooks`` (the deliveries), ``anthropic_sessions`` (the
state and its JSON) and ``anthropic_agents_checks`` (what a request body must hold).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.anthropic_agents_checks import check_create, check_send
from tests.fakes.anthropic_sessions import (
    AGENT_ONLY,
    AgentCall,
    FakeSession,
    many,
    needs_token,
    one_page,
    resource_json,
)
from tests.fakes.anthropic_steps import ApiError, Fail, Hang, bad_request
from tests.fakes.anthropic_webhooks import Delivery, Webhooks, now, stamp

__all__ = [
    "DEFAULT_AGENT_ID",
    "DEFAULT_ENVIRONMENT_ID",
    "Delivery",
    "FakeManagedAgents",
    "FakeSession",
]

BETA = "managed-agents-2026-04-01"
DEFAULT_AGENT_ID = "agent_011FakeThreadlineJobs"
DEFAULT_ENVIRONMENT_ID = "env_011FakeThreadlineJobs"
OPS = (
    "sessions.create",
    "sessions.retrieve",
    "sessions.list",
    "sessions.archive",
    "sessions.delete",
    "events.send",
    "events.list",
    "agents.retrieve",
    "environments.retrieve",
)


class FakeManagedAgents(Webhooks):
    """State and routes of the Managed Agents API; see the module docstring."""

    def __init__(self, check_auth: Callable[[dict[str, str], bool], None]) -> None:
        super().__init__()
        self._check_auth = check_auth
        self.agents: dict[str, dict[str, Any]] = {}
        self.environments: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, FakeSession] = {}
        self.calls: list[AgentCall] = []
        self.private_repos: set[str] = set()  # owner/name that clone only with a token
        self.auto_finish: float | None = None  # seconds after which a run finishes by itself
        self.hold_runs = False  # a message to an idle session waits for ``begin``
        self._failures: deque[tuple[str, Fail | Hang]] = deque()
        self._ids = itertools.count(1)
        self.add_agent(DEFAULT_AGENT_ID, name="Threadline jobs")
        self.add_environment(DEFAULT_ENVIRONMENT_ID, name="threadline")

    # -- test-side setup --------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_011Fake{next(self._ids):017d}"

    def add_agent(self, agent_id: str, *, name: str = "agent", model: str = "claude-sonnet-5-5"):
        moment = stamp(now())
        self.agents[agent_id] = {
            "type": "agent",
            "id": agent_id,
            "name": name,
            "version": 1,
            "description": None,
            "system": None,
            "model": {"id": model},
            "execution_identity": {"type": "service_account"},
            "mcp_servers": [],
            "skills": [],
            "tools": [],
            "multiagent": None,
            "metadata": {},
            "created_at": moment,
            "updated_at": moment,
            "archived_at": None,
        }
        return self.agents[agent_id]

    def add_environment(self, environment_id: str, *, name: str = "environment"):
        moment = stamp(now())
        packages = {k: [] for k in ("apt", "cargo", "gem", "go", "npm", "pip")}
        self.environments[environment_id] = {
            "type": "environment",
            "id": environment_id,
            "name": name,
            "description": None,
            "metadata": {},
            "config": {
                "type": "cloud",
                "networking": {"type": "unrestricted"},
                "packages": {"type": "packages", **packages},
            },
            "scope": "organization",
            "created_at": moment,
            "updated_at": moment,
            "archived_at": None,
        }
        return self.environments[environment_id]

    def fail(self, op: str, *steps: Fail | Hang) -> None:
        """Queue errors (or waits) for the next requests of ``op`` (see ``OPS``, or "*")."""
        if op != "*" and op not in OPS:
            raise ValueError(f"unknown op {op!r}; one of {OPS}")
        for step in steps:
            for _ in range(max(1, step.times)):
                self._failures.append((op, step))

    def session_for(self, **metadata: str) -> FakeSession:
        """The one session whose metadata holds every given pair."""
        found = [
            s
            for s in self.sessions.values()
            if all(s.metadata.get(k) == v for k, v in metadata.items())
        ]
        if len(found) != 1:
            raise LookupError(f"{len(found)} sessions have metadata {metadata}")
        return found[0]

    # -- test-side script of a session's work -----------------------------------------------

    def _running(self, sid: str) -> FakeSession:
        session = self.sessions[sid]
        if session.status != "running":
            raise ValueError(f"session {sid} is {session.status}, not running")
        return session

    def _event(self, session: FakeSession, type_: str, **fields: Any) -> dict[str, Any]:
        event = {"id": self._id("sevt"), "type": type_, "processed_at": stamp(now()), **fields}
        session.events.append(event)
        session.updated_at = now()
        return event

    def _agent_message(self, session: FakeSession, text: str) -> None:
        self._event(session, "agent.message", content=[{"type": "text", "text": text}])
        session.output_tokens += max(1, len(text) // 4)

    def _idle(self, session: FakeSession, stop: dict[str, Any], *hooks: str) -> list[dict]:
        session.status = "idle"
        self._event(session, "session.status_idle", stop_reason=stop, stop_details=None)
        return [self.emit(session.id, h) for h in (*hooks, "session.status_idled")]

    def say(self, sid: str, text: str) -> None:
        self._agent_message(self._running(sid), text)

    def use_tool(self, sid: str, command: str = "git status", output: str = "clean") -> None:
        """The agent runs a command in its container: ``agent.tool_use``, ``.tool_result``."""
        session = self._running(sid)
        use = self._event(
            session,
            "agent.tool_use",
            name="bash",
            input={"command": command},
            evaluated_permission="allow",
        )
        content = [{"type": "text", "text": output}]
        self._event(session, "agent.tool_result", tool_use_id=use["id"], content=content)

    def finish(self, sid: str, *texts: str) -> list[dict[str, Any]]:
        session = self._running(sid)
        self.use_tool(sid)  # a run does some work before it reports
        for text in texts:
            self._agent_message(session, text)
        return self._idle(session, {"type": "end_turn"})

    def require_action(
        self, sid: str, *, tool: str = "bash", input: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        session = self._running(sid)
        use = self._event(
            session,
            "agent.tool_use",
            name=tool,
            input=input or {"command": "git push --force"},
            evaluated_permission="ask",
        )
        stop = {"type": "requires_action", "event_ids": [use["id"]]}
        return self._idle(session, stop, "session.requires_action")

    def reach_budget(self, sid: str, *texts: str) -> list[dict[str, Any]]:
        session = self._running(sid)
        if session.budget is None:
            raise ValueError(f"session {sid} has no budget: it cannot reach one")
        for text in texts:
            self._agent_message(session, text)
        return self._idle(session, {"type": "budget_reached"}, "session.budget_reached")

    def terminate(self, sid: str, *, error: str | None = "unknown_error") -> list[dict]:
        session = self.sessions[sid]
        if session.status == "terminated":
            raise ValueError(f"session {sid} is already terminated")
        if error:
            detail = {
                "type": error,
                "message": "The session failed.",
                "retry_status": {"type": "terminal"},
            }
            self._event(session, "session.error", error=detail)
        return [self._terminated(session)]

    def _terminated(self, session: FakeSession) -> dict[str, Any]:
        session.status = "terminated"
        self._event(session, "session.status_terminated")
        return self.emit(session.id, "session.status_terminated")

    def begin(self, sid: str) -> list[dict[str, Any]]:
        """``hold_runs``: the idle session takes the messages it holds and runs."""
        session = self.sessions[sid]
        held = [e for e in session.events if e.get("processed_at", "") is None]
        if session.status != "idle" or not held:
            raise ValueError(f"session {sid} holds no message to run")
        for event in held:
            event["processed_at"] = stamp(now())
        return self._run(session)

    def _run(self, session: FakeSession) -> list[dict[str, Any]]:
        if session.status == "running":
            return []
        session.status = "running"
        self._event(session, "session.status_running")
        if self.auto_finish is not None:
            run = len(session.events)
            loop = asyncio.get_running_loop()
            loop.call_later(self.auto_finish, self._finish_run, session.id, run)
        return [self.emit(session.id, "session.status_run_started")]

    def _finish_run(self, sid: str, run: int) -> None:
        """``auto_finish``: the run started at event ``run`` ends, unless it already did."""
        session = self.sessions.get(sid)
        started = (
            [i for i, e in enumerate(session.events) if e["type"] == "session.status_running"]
            if session
            else []
        )
        if session is None or session.status != "running" or started[-1] + 1 != run:
            return
        self.finish(sid, f"Done: {session.user_texts()[-1]}")

    # -- HTTP -------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        routes = [
            ("POST", "/v1/sessions", "sessions.create", self._create),
            ("GET", "/v1/sessions", "sessions.list", self._list),
            ("GET", "/v1/sessions/{sid}", "sessions.retrieve", self._retrieve),
            ("DELETE", "/v1/sessions/{sid}", "sessions.delete", self._delete),
            ("POST", "/v1/sessions/{sid}/archive", "sessions.archive", self._archive),
            ("POST", "/v1/sessions/{sid}/events", "events.send", self._send),
            ("GET", "/v1/sessions/{sid}/events", "events.list", self._events),
            ("GET", "/v1/agents/{aid}", "agents.retrieve", self._agent),
            ("GET", "/v1/environments/{eid}", "environments.retrieve", self._environment),
        ]
        for method, path, op, handler in routes:
            app.router.add_route(method, path, self._wrap(op, handler))
        app.on_cleanup.append(lambda _app: self.close())

    def _wrap(self, op: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        async def handle(request: web.Request) -> web.Response:
            raw = await request.read() if request.can_read_body else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = None
            headers = {k.lower(): v for k, v in request.headers.items()}
            query = {k: request.query.getall(k) for k in request.query}
            call = AgentCall(op=op, path=request.path, query=query, body=body, headers=headers)
            self.calls.append(call)
            request_id = f"req_fake_{next(self._ids):024x}"
            try:
                self._check_auth(headers, isinstance(body, dict))
                betas = [b.strip() for b in headers.get("anthropic-beta", "").split(",")]
                if BETA not in betas:
                    raise bad_request(f"this endpoint requires the anthropic-beta header {BETA}")
                failure = await self._scripted(op)
                if failure is not None:
                    call.status = failure.status
                    return self._error(
                        failure.status,
                        failure.type,
                        failure.message,
                        request_id,
                        failure.retry_after,
                    )
                result = handler(request, body if isinstance(body, dict) else {})
            except ApiError as err:
                call.status = err.status
                return self._error(err.status, err.type, err.message, request_id)
            call.status = 200
            return web.json_response(result, headers={"request-id": request_id})

        return handle

    async def _scripted(self, op: str) -> Fail | None:
        for i, (wanted, step) in enumerate(self._failures):
            if wanted in (op, "*"):
                del self._failures[i]
                if isinstance(step, Hang):
                    await asyncio.sleep(step.seconds)
                    return step.then if isinstance(step.then, Fail) else None
                return step
        return None

    @staticmethod
    def _error(
        status: int, type_: str, message: str, request_id: str, retry_after: float | None = None
    ) -> web.Response:
        body = {"type": "error", "error": {"type": type_, "message": message}}
        body["request_id"] = request_id
        headers = {"request-id": request_id}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        return web.json_response(body, status=status, headers=headers)

    def _session(self, request: web.Request) -> FakeSession:
        sid = request.match_info["sid"]
        session = self.sessions.get(sid)
        if session is None:
            raise ApiError(404, "not_found_error", f"session {sid} not found")
        return session

    def _create(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        agent_id, version, events = check_create(body, self.agents, self.environments)
        agent = {k: v for k, v in self.agents[agent_id].items() if k not in AGENT_ONLY}
        agent["version"] = version
        moment = now()
        resources = [
            resource_json(r, self._id("sesrsc"), moment) for r in body.get("resources") or []
        ]
        session = FakeSession(
            id=self._id("sesn"),
            agent=agent,
            environment_id=body["environment_id"],
            title=body.get("title"),
            metadata=dict(body.get("metadata") or {}),
            resources=resources,
            budget=body.get("budget"),
            created_at=moment,
            updated_at=moment,
        )
        self.sessions[session.id] = session
        self.emit(session.id, "session.created")
        self._take(session, events)
        answer = session.to_json()
        for repo in body.get("resources") or []:
            if needs_token(repo, self.private_repos):
                error = {
                    "type": "repository_authentication_error",
                    "message": "The repository host required credentials and received none.",
                    "repository_url": repo["url"],
                    "retry_status": {"type": "retrying"},
                }
                self._event(session, "session.error", error=error)
        return answer

    def _take(self, session: FakeSession, events: list[dict[str, Any]]) -> list[dict]:
        """Record sent events and apply them to the session's status."""
        taken = []
        for sent in events:
            fields = {k: v for k, v in sent.items() if k != "type"}
            taken.append(self._event(session, sent["type"], **fields))
            if sent["type"] in ("user.message", "user.tool_confirmation", "user.define_outcome"):
                if self.hold_runs and session.status == "idle":
                    taken[-1]["processed_at"] = None  # listed, not yet taken up
                else:
                    self._run(session)
            elif sent["type"] == "user.interrupt" and session.status == "running":
                self._idle(session, {"type": "end_turn"})
        return taken

    def _retrieve(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        return self._session(request).to_json()

    def _list(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        q = request.query
        found = [
            s
            for s in self.sessions.values()
            if (q.get("include_archived") == "true" or not s.archived)
            and (not q.get("agent_id") or s.agent["id"] == q["agent_id"])
            and (not many(q, "statuses") or s.status in many(q, "statuses"))
        ]
        found.sort(key=lambda s: s.created_at, reverse=q.get("order", "desc") == "desc")
        page, next_page, prev_page = one_page(found, q)
        return {
            "data": [s.to_json() for s in page],
            "next_page": next_page,
            "prev_page": prev_page,
        }

    def _delete(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session(request)
        del self.sessions[session.id]
        return {"type": "session_deleted", "id": session.id}

    def _archive(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session(request)
        if not session.archived:
            session.archived_at = now()
            if session.status != "terminated":
                self._terminated(session)
            self.emit(session.id, "session.archived")
        return session.to_json()

    def _send(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session(request)
        events = check_send(body)
        if session.archived or session.status == "terminated":
            state = "archived" if session.archived else "terminated"
            raise bad_request(f"session {session.id} is {state} and accepts no events")
        return {"data": self._take(session, events)}

    def _events(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session(request)
        q = request.query
        types = many(q, "types")
        found = [e for e in session.events if not types or e["type"] in types]
        if q.get("order") == "desc":
            found.reverse()
        page, next_page, _ = one_page(found, q)
        return {"data": page, "next_page": next_page}

    def _agent(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        agent = self.agents.get(request.match_info["aid"])
        if agent is None:
            raise ApiError(404, "not_found_error", f"agent {request.match_info['aid']} not found")
        return agent

    def _environment(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        eid = request.match_info["eid"]
        if eid not in self.environments:
            raise ApiError(404, "not_found_error", f"environment {eid} not found")
        return self.environments[eid]
