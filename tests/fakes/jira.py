"""A fake Jira Cloud REST API (v3) on loopback, and signed webhook deliveries for tests.

    async with FakeJira(projects=["AD"]) as jira:
        client = JiraClient(jira.settings(), httpx.AsyncClient())
        ...
        assert jira.issues["AD-1"]["fields"]["summary"] == "Crash"

Implements POST/GET issue, POST issue comment and GET myself, checks Basic auth (wrong → 401,
plain text as Jira does), validates that descriptions and comments are ADF documents, records
every request, and can be scripted to fail or to be slow (see ``ScriptedFake``). Projects have
a type (``service_desks`` are ``service_desk``, the others ``software``); comments carry
``jsdPublic`` (true, as Jira Cloud sets it, unless created with the ``sd.public.comment``
property marking them internal) and authors their ``accountType``. Webhook payloads
(``tests.fakes.jira_events``, re-exported here) have the same fields.

Run standalone: ``python -m tests.fakes.jira --port 8082``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hmac
import itertools
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from app.config import JiraSettings, Secret
from tests.fakes.jira_events import (
    SERVICE_DESK,
    SOFTWARE,
    comment_created_event,
    issue_deleted_event,
    issue_updated_event,
    jira_webhook,
    project_payload,
    text_adf,
)
from tests.fakes.scripted import ScriptedFake

__all__ = [
    "FakeJira",
    "adf_problem",
    "comment_created_event",
    "issue_deleted_event",
    "issue_updated_event",
    "jira_webhook",
    "text_adf",
]

ISSUE_TYPES = ("Task", "Bug", "Story", "Epic", "Improvement", "New Feature")
_MARKS = {"strong", "em", "code", "strike", "link", "underline", "subsup", "textColor"}


def adf_problem(doc: Any) -> str | None:
    """Why ``doc`` is not an ADF document Jira would accept, or None when it is."""
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return "Operation value must be an Atlassian Document (type doc, version 1)"
    stack: list[Any] = list(doc.get("content") or [])
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            return "every node needs a type"
        if node["type"] == "text":
            if not isinstance(node.get("text"), str) or not node["text"]:
                return "text nodes must have non-empty text"
            marks = node.get("marks", [])
            kinds = [m.get("type") for m in marks]
            if any(k not in _MARKS for k in kinds):
                return f"unknown mark in {kinds}"
            if "code" in kinds and any(k not in ("code", "link") for k in kinds):
                return "code marks combine only with links"
        content = node.get("content", [])
        if not isinstance(content, list):
            return "content must be a list"
        stack.extend(content)
    return None


class FakeJira(ScriptedFake):
    """The slice of the Jira Cloud REST API v3 Threadline uses."""

    def __init__(
        self,
        *,
        email: str = "bot@example.com",
        token: str = "jira-fake-token-0123456789",
        account_id: str = "557058:bot-account",
        projects: Iterable[str] = ("AD", "OPS"),
        service_desks: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.email = email
        self.token = token
        self.account_id = account_id
        desks = {p.upper() for p in service_desks}
        self.projects = {p.upper() for p in projects} | desks
        # projectTypeKey per project, as Jira Cloud reports it
        self.project_types = {p: SERVICE_DESK if p in desks else SOFTWARE for p in self.projects}
        self.issues: dict[str, dict[str, Any]] = {}
        self._comments: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(10001)

    def settings(
        self, projects: Iterable[str] = ("AD",), *, token: str | None = None
    ) -> JiraSettings:
        """Jira settings pointing at this fake."""
        return JiraSettings(
            base_url=self.url,
            email=self.email,
            api_token=Secret(self.token if token is None else token),
            projects=frozenset(projects),
            webhook_secret=None,
        )

    def comments(self, key: str) -> list[dict[str, Any]]:
        return list(self._comments.get(key.upper(), []))

    def add_issue(
        self, project: str, summary: str, *, issue_type: str = "Task", resolved: bool = False
    ) -> str:
        """Seed an existing issue; returns its key."""
        project = project.upper()
        number = 1 + sum(1 for k in self.issues if k.startswith(f"{project}-"))
        key = f"{project}-{number}"
        issue_id = str(next(self._ids))
        self.issues[key] = {
            "id": issue_id,
            "key": key,
            "self": f"{self.url}/rest/api/3/issue/{issue_id}",
            "fields": {
                "summary": summary,
                "project": project_payload(project, self.project_types.get(project, SOFTWARE)),
                "issuetype": {"name": issue_type},
                "description": None,
                "status": {"name": "To Do", "statusCategory": {"key": "new"}},
                "resolution": None,
            },
        }
        if resolved:
            self.resolve(key)
        return key

    def resolve(self, key: str) -> None:
        fields = self.issues[key]["fields"]
        fields["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
        fields["resolution"] = {"name": "Done"}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/rest/api/3/myself", self._myself),
            web.get("/rest/api/3/project/{key}", self._project),
            web.post("/rest/api/3/issue", self._create_issue),
            web.get("/rest/api/3/issue/{key}", self._get_issue),
            web.post("/rest/api/3/issue/{key}/comment", self._comment),
        ]

    def authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Basic {expected}".encode())

    def unauthorized(self) -> web.Response:
        return web.Response(
            status=401, text="Client must be authenticated to access this resource."
        )

    def failure_body(self, status: int) -> Any:
        if status == 400:
            return {"errorMessages": [], "errors": {"summary": "Field is invalid."}}
        if status == 404:
            return {"errorMessages": ["Issue does not exist or you do not have permission."]}
        return {"errorMessages": [f"scripted failure {status}"], "errors": {}}

    # handlers ----------------------------------------------------------------------------
    @staticmethod
    def _bad(errors: dict[str, str]) -> web.Response:
        return web.json_response({"errorMessages": [], "errors": errors}, status=400)

    @staticmethod
    def _missing() -> web.Response:
        return web.json_response(
            {
                "errorMessages": ["Issue does not exist or you do not have permission to see it."],
                "errors": {},
            },
            status=404,
        )

    async def _project(self, request: web.Request) -> web.Response:
        key = request.match_info["key"].upper()
        if key not in self.projects:
            return web.json_response(
                {"errorMessages": [f"No project could be found with key '{key}'."], "errors": {}},
                status=404,
            )
        return web.json_response(project_payload(key, self.project_types[key]))

    async def _myself(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "accountId": self.account_id,
                "accountType": "atlassian",
                "emailAddress": self.email,
                "displayName": "Threadline",
                "active": True,
            }
        )

    async def _create_issue(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except ValueError:
            return web.json_response({"errorMessages": ["Unexpected character"]}, status=400)
        fields = data.get("fields") if isinstance(data, dict) else None
        if not isinstance(fields, dict):
            return self._bad({"fields": "fields are required"})
        project = (fields.get("project") or {}).get("key")
        if project not in self.projects:
            return self._bad({"project": "Specify a valid project ID or key"})
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            return self._bad({"summary": "You must specify a summary of the issue."})
        if "\n" in summary:
            return self._bad({"summary": "Field 'summary' cannot contain newline characters."})
        issue_type = (fields.get("issuetype") or {}).get("name")
        if issue_type not in ISSUE_TYPES:
            return self._bad({"issuetype": "Specify a valid issue type"})
        problem = adf_problem(fields.get("description"))
        if problem:
            return self._bad({"description": problem})
        key = self.add_issue(project, summary, issue_type=issue_type)
        self.issues[key]["fields"]["description"] = fields["description"]
        issue = self.issues[key]
        return web.json_response({"id": issue["id"], "key": key, "self": issue["self"]}, status=201)

    async def _get_issue(self, request: web.Request) -> web.Response:
        issue = self.issues.get(request.match_info["key"].upper())
        if issue is None:
            return self._missing()
        wanted = request.query.get("fields")
        fields = issue["fields"]
        if wanted:
            fields = {k: v for k, v in fields.items() if k in wanted.split(",")}
        return web.json_response({**issue, "fields": fields})

    async def _comment(self, request: web.Request) -> web.Response:
        key = request.match_info["key"].upper()
        if key not in self.issues:
            return self._missing()
        data = await request.json()
        body = data.get("body") if isinstance(data, dict) else None
        problem = adf_problem(body)
        if problem:
            return self._bad({"comment": problem})
        internal = any(
            isinstance(p, dict)
            and p.get("key") == "sd.public.comment"
            and isinstance(p.get("value"), dict)
            and p["value"].get("internal") is True
            for p in (data.get("properties") or [])
        )
        comment_id = str(next(self._ids))
        comment = {
            "id": comment_id,
            "self": f"{self.issues[key]['self']}/comment/{comment_id}",
            "author": {
                "accountId": self.account_id,
                "displayName": "Threadline",
                "accountType": "atlassian",
            },
            "body": body,
            "created": "2025-11-21T10:05:00.000+0000",
            "jsdPublic": not internal,
        }
        self._comments.setdefault(key, []).append(comment)
        return web.json_response(comment, status=201)


async def _serve(port: int, email: str, token: str) -> None:
    async with FakeJira(email=email, token=token, port=port) as jira:
        print(f"fake Jira API at {jira.url} (email {email!r}, token {token!r})", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Jira Cloud API on loopback.")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--email", default="bot@example.com")
    parser.add_argument("--token", default="jira-fake-token-0123456789")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.email, args.token))


if __name__ == "__main__":
    main()
