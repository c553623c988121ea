"""A fake GitHub REST API on loopback, and signed webhook deliveries for tests.

    async with FakeGitHub(repos=["acme/widgets"]) as gh:
        client = GitHubClient(gh.settings(), httpx.AsyncClient())
        ...
        assert gh.issues[("acme/widgets", 1)]["title"] == "Crash"

Implements POST/GET issues, POST/GET issue comments and GET /user, checks the bearer token
(wrong → 401), records every request, and can be scripted to fail (``fail``) or to answer
slowly (``delay``). ``ScriptedFake`` is the shared plumbing, also used by the Jira fake.

Run standalone: ``python -m tests.fakes.github --port 8081``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

from app.config import GitHubSettings, Secret

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class _Script:
    pattern: re.Pattern[str]
    times: int | None
    status: int = 0
    retry_after: float | str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def matches(self, route: str) -> bool:
        return (self.times is None or self.times > 0) and bool(self.pattern.search(route))

    def use(self) -> None:
        if self.times is not None:
            self.times -= 1


class ScriptedFake:
    """An aiohttp app on 127.0.0.1:0 that records requests and can be told to misbehave.

    Routes are matched as ``"METHOD /path"`` with ``re.search``: ``"/user"``,
    ``r"POST /repos/.*/issues$"``.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[Recorded] = []
        self._host = host
        self._port = port
        self._failures: list[_Script] = []
        self._delays: list[_Script] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    # scripting ---------------------------------------------------------------------------
    def fail(
        self,
        route: str,
        status: int,
        times: int | None = 1,
        retry_after: float | str | None = None,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests matching ``route`` with ``status`` (None: always)."""
        self._failures.append(
            _Script(re.compile(route), times, status, retry_after, body, dict(headers or {}))
        )

    def delay(self, route: str, seconds: float, times: int | None = None) -> None:
        """Hold requests matching ``route`` for ``seconds`` before answering."""
        self._delays.append(_Script(re.compile(route), times, seconds=seconds))

    def requests_to(self, route: str) -> list[Recorded]:
        pattern = re.compile(route)
        return [r for r in self.requests if pattern.search(r.route)]

    # to override -------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def authorized(self, request: web.Request) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> web.Response:
        raise NotImplementedError

    def failure_body(self, status: int) -> Any:
        return {"message": f"scripted failure {status}"}

    # server ------------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        recorded = Recorded(
            request.method, request.path, dict(request.query), dict(request.headers), body
        )
        self.requests.append(recorded)
        for script in self._delays:
            if script.matches(recorded.route):
                script.use()
                await asyncio.sleep(script.seconds)
        for script in self._failures:
            if script.matches(recorded.route):
                script.use()
                headers = dict(script.headers)
                if script.retry_after is not None:
                    headers["Retry-After"] = str(script.retry_after)
                payload = (
                    script.body if script.body is not None else self.failure_body(script.status)
                )
                if isinstance(payload, str):
                    return web.Response(status=script.status, text=payload, headers=headers)
                return web.json_response(payload, status=script.status, headers=headers)
        if not self.authorized(request):
            return self.unauthorized()
        return await handler(request)

    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(self.routes())
        # Cancel a delayed handler when the client gives up, so shutdown is not held up.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


# -- GitHub ------------------------------------------------------------------------------------


class FakeGitHub(ScriptedFake):
    """The slice of the GitHub REST API Threadline uses."""

    def __init__(
        self,
        *,
        token: str = "ghp_faketoken0123456789",
        login: str = "threadline-bot",
        repos: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self.login = login
        # None: every repository exists; otherwise only these (others answer 404).
        self.repos = None if repos is None else {r.lower() for r in repos}
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}
        self._comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._ids = itertools.count(1_000_001)

    def settings(
        self, repos: Iterable[str] = ("acme/widgets",), *, token: str | None = None
    ) -> GitHubSettings:
        """GitHub settings pointing at this fake."""
        return GitHubSettings(
            api_url=self.url,
            token=Secret(self.token if token is None else token),
            repos=frozenset(r.lower() for r in repos),
            webhook_secret=None,
        )

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return list(self._comments.get((repo.lower(), number), []))

    def add_issue(
        self,
        repo: str,
        title: str,
        body: str = "",
        *,
        state: str = "open",
        pull_request: bool = False,
        author: str = "alice",
    ) -> dict[str, Any]:
        """Seed an existing issue (or pull request) and return it."""
        repo = repo.lower()
        kind = "pull" if pull_request else "issues"
        number = 1 + max((n for (r, n) in self.issues if r == repo), default=0)
        issue = {
            "id": next(self._ids),
            "node_id": f"I_{uuid.uuid4().hex[:16]}",
            "number": number,
            "title": title,
            "body": body,
            "state": state,
            "html_url": f"https://github.com/{repo}/{kind}/{number}",
            "url": f"{self.url}/repos/{repo}/issues/{number}",
            "user": {"login": author, "type": "User"},
            "comments": 0,
            "created_at": "2025-11-21T10:00:00Z",
        }
        if pull_request:
            issue["pull_request"] = {"url": f"{self.url}/repos/{repo}/pulls/{number}"}
        self.issues[(repo, number)] = issue
        return issue

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/user", self._user),
            web.post("/repos/{owner}/{name}/issues", self._create_issue),
            web.get("/repos/{owner}/{name}/issues/{number:\\d+}", self._get_issue),
            web.post("/repos/{owner}/{name}/issues/{number:\\d+}/comments", self._comment),
            web.get("/repos/{owner}/{name}/issues/{number:\\d+}/comments", self._list_comments),
        ]

    def authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {self.token}".encode())

    def unauthorized(self) -> web.Response:
        return web.json_response(
            {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
            status=401,
        )

    def failure_body(self, status: int) -> Any:
        messages = {
            401: "Bad credentials",
            403: "Resource not accessible by personal access token",
            404: "Not Found",
            410: "This issue was deleted",
            422: "Validation Failed",
            429: "API rate limit exceeded",
        }
        body: dict[str, Any] = {
            "message": messages.get(status, "Server Error"),
            "documentation_url": "https://docs.github.com/rest",
            "status": str(status),
        }
        if status == 422:
            body["errors"] = [{"resource": "Issue", "code": "invalid", "field": "title"}]
        return body

    # handlers ----------------------------------------------------------------------------
    def _repo(self, request: web.Request) -> str | None:
        repo = f"{request.match_info['owner']}/{request.match_info['name']}".lower()
        return repo if self.repos is None or repo in self.repos else None

    @staticmethod
    def _not_found() -> web.Response:
        return web.json_response(
            {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
            status=404,
        )

    async def _user(self, request: web.Request) -> web.Response:
        return web.json_response({"login": self.login, "id": 4242, "type": "Bot"})

    async def _create_issue(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        if repo is None:
            return self._not_found()
        try:
            data = await request.json()
        except ValueError:
            return web.json_response({"message": "Problems parsing JSON"}, status=400)
        title = data.get("title") if isinstance(data, dict) else None
        if not isinstance(title, str) or not title.strip():
            return web.json_response(
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
                },
                status=422,
            )
        issue = self.add_issue(repo, title, str(data.get("body") or ""), author=self.login)
        return web.json_response(issue, status=201)

    async def _get_issue(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        issue = self.issues.get((repo or "", int(request.match_info["number"])))
        return self._not_found() if issue is None else web.json_response(issue)

    async def _comment(self, request: web.Request) -> web.Response:
        repo = self._repo(request) or ""
        number = int(request.match_info["number"])
        issue = self.issues.get((repo, number))
        if issue is None:
            return self._not_found()
        data = await request.json()
        body = data.get("body") if isinstance(data, dict) else None
        if not isinstance(body, str) or not body:
            return web.json_response(
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "IssueComment", "code": "missing_field"}],
                },
                status=422,
            )
        comment_id = next(self._ids)
        comment = {
            "id": comment_id,
            "node_id": f"IC_{uuid.uuid4().hex[:16]}",
            "html_url": f"{issue['html_url']}#issuecomment-{comment_id}",
            "body": body,
            "user": {"login": self.login, "type": "Bot"},
            "created_at": "2025-11-21T10:05:00Z",
        }
        self._comments.setdefault((repo, number), []).append(comment)
        issue["comments"] += 1
        return web.json_response(comment, status=201)

    async def _list_comments(self, request: web.Request) -> web.Response:
        repo = self._repo(request) or ""
        key = (repo, int(request.match_info["number"]))
        if key not in self.issues:
            return self._not_found()
        return web.json_response(self._comments.get(key, []))


# -- webhook deliveries ------------------------------------------------------------------------


def github_webhook(
    secret: str | bytes,
    event: str,
    payload: dict[str, Any],
    delivery: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A delivery as GitHub sends it: JSON body and headers, signed with ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    body = json.dumps(payload).encode()
    signature = hmac.new(key, body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/5f3c2a1",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "512345678",
        "X-Hub-Signature-256": f"sha256={signature}",
    }
    return body, headers


def _repository(repo: str) -> dict[str, Any]:
    owner, name = repo.split("/", 1)
    return {
        "id": 70000001,
        "name": name,
        "full_name": repo,
        "private": True,
        "owner": {"login": owner, "type": "Organization"},
        "html_url": f"https://github.com/{repo}",
    }


def _issue(repo: str, number: int, *, state: str, pull_request: bool) -> dict[str, Any]:
    kind = "pull" if pull_request else "issues"
    issue: dict[str, Any] = {
        "id": 3000000 + number,
        "number": number,
        "title": f"Issue {number}",
        "state": state,
        "html_url": f"https://github.com/{repo}/{kind}/{number}",
        "user": {"login": "alice", "type": "User"},
        "body": "",
    }
    if pull_request:
        issue["pull_request"] = {"html_url": issue["html_url"]}
    return issue


def issue_comment_event(
    repo: str,
    number: int,
    body: str,
    *,
    login: str = "alice",
    user_type: str = "User",
    comment_id: int = 9001,
    action: str = "created",
    pull_request: bool = False,
) -> dict[str, Any]:
    """An ``issue_comment`` webhook payload."""
    user = {"login": login, "id": 101, "type": user_type}
    return {
        "action": action,
        "issue": _issue(repo, number, state="open", pull_request=pull_request),
        "comment": {
            "id": comment_id,
            "html_url": f"https://github.com/{repo}/issues/{number}#issuecomment-{comment_id}",
            "body": body,
            "user": user,
            "created_at": "2025-11-21T10:10:00Z",
        },
        "repository": _repository(repo),
        "sender": user,
    }


def issues_event(
    repo: str, number: int, action: str = "closed", *, login: str = "alice"
) -> dict[str, Any]:
    """An ``issues`` webhook payload (``closed``, ``reopened``, ``deleted``, ...)."""
    state = "closed" if action == "closed" else "open"
    return {
        "action": action,
        "issue": _issue(repo, number, state=state, pull_request=False),
        "repository": _repository(repo),
        "sender": {"login": login, "id": 101, "type": "User"},
    }


async def _serve(port: int, token: str, login: str) -> None:
    async with FakeGitHub(token=token, login=login, port=port) as gh:
        print(f"fake GitHub API at {gh.url} (token {token!r}, login {login!r})", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake GitHub API on loopback.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="ghp_faketoken0123456789")
    parser.add_argument("--login", default="threadline-bot")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.token, args.login))


if __name__ == "__main__":
    main()
