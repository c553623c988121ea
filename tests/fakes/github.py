"""A fake GitHub REST API on loopback, and signed webhook deliveries for tests.

    async with FakeGitHub(repos=["acme/widgets"], visibility={"acme/site": "public"}) as gh:
        client = GitHubClient(gh.settings(), httpx.AsyncClient())
        ...
        assert gh.issues[("acme/widgets", 1)]["title"] == "Crash"

Implements GET /repos/{owner}/{repo} (``private`` and ``visibility`` per repository: private
unless told otherwise; 404 for a repository it does not hold, as GitHub answers for one the
token cannot see), POST/GET issues, POST/GET issue comments and GET /user; checks the bearer
token (wrong → 401), records every request, and can be scripted to fail (``fail``) or to answer
slowly (``delay``); ``ScriptedFake`` (``tests.fakes.scripted``) is the plumbing it shares
with the Jira fake. Webhook payloads are built like GitHub's (``issue_comment_event``: the
comment's ``author_association``, the repository's ``private`` and ``visibility``).

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
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from app.config import GitHubSettings, Secret
from tests.fakes.scripted import Recorded, ScriptedFake

__all__ = [
    "FakeGitHub",
    "Recorded",
    "ScriptedFake",
    "github_webhook",
    "issue_comment_event",
    "issues_event",
    "repository_payload",
]
VISIBILITIES = ("public", "private", "internal")

# -- GitHub ------------------------------------------------------------------------------------


class FakeGitHub(ScriptedFake):
    """The slice of the GitHub REST API Threadline uses."""

    def __init__(
        self,
        *,
        token: str = "ghp_faketoken0123456789",
        login: str = "threadline-bot",
        repos: Iterable[str] | None = None,
        visibility: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self.login = login
        # None: every repository exists; otherwise only these (others answer 404).
        self.repos = None if repos is None else {r.lower() for r in repos}
        # "public", "private" or "internal" per repository; "private" when not named.
        self.visibility: dict[str, str] = {}
        for repo, seen in (visibility or {}).items():
            self.set_visibility(repo, seen)
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

    def set_visibility(self, repo: str, visibility: str) -> None:
        """Make ``repo`` public, private or internal (an Enterprise "internal" repository)."""
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {VISIBILITIES}, got {visibility!r}")
        self.visibility[repo.lower()] = visibility

    def repository(self, repo: str) -> dict[str, Any]:
        """The repository as GitHub describes it (REST and webhook payloads alike)."""
        return repository_payload(repo, self.visibility.get(repo.lower(), "private"))

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
            "author_association": "MEMBER",
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
            web.get("/repos/{owner}/{name}", self._get_repository),
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

    async def _get_repository(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        return self._not_found() if repo is None else web.json_response(self.repository(repo))

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
            "author_association": "NONE",
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


def repository_payload(repo: str, visibility: str = "private") -> dict[str, Any]:
    """A repository object: GitHub sends both ``private`` and ``visibility`` (an Enterprise
    "internal" repository is private too)."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}, got {visibility!r}")
    owner, name = repo.split("/", 1)
    return {
        "id": 70_000_000 + sum(map(ord, repo.lower())),
        "name": name,
        "full_name": repo,
        "private": visibility != "public",
        "visibility": visibility,
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
        "author_association": "MEMBER",
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
    association: str | None = "MEMBER",
    visibility: str = "private",
) -> dict[str, Any]:
    """An ``issue_comment`` webhook payload, shaped like GitHub's: the commenter's
    ``author_association`` on the comment (None: left out), the repository's ``private`` and
    ``visibility``."""
    user = {"login": login, "id": 101, "type": user_type}
    comment: dict[str, Any] = {
        "id": comment_id,
        "html_url": f"https://github.com/{repo}/issues/{number}#issuecomment-{comment_id}",
        "body": body,
        "user": user,
        "created_at": "2025-11-21T10:10:00Z",
    }
    if association is not None:
        comment["author_association"] = association
    return {
        "action": action,
        "issue": _issue(repo, number, state="open", pull_request=pull_request),
        "comment": comment,
        "repository": repository_payload(repo, visibility),
        "sender": user,
    }


def issues_event(
    repo: str,
    number: int,
    action: str = "closed",
    *,
    login: str = "alice",
    visibility: str = "private",
) -> dict[str, Any]:
    """An ``issues`` webhook payload (``closed``, ``reopened``, ``deleted``, ...)."""
    state = "closed" if action == "closed" else "open"
    return {
        "action": action,
        "issue": _issue(repo, number, state=state, pull_request=False),
        "repository": repository_payload(repo, visibility),
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
