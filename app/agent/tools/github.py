"""Tools that file a GitHub issue from the conversation, or link an existing one to it.

Once linked (key ``{agent}:github:owner/repo#n``), a comment on the issue runs a turn on this
conversation and is answered on the issue. Only repositories in ``GITHUB_REPOS`` are accepted;
refusals and upstream failures come back as error results, never as exceptions.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from app.agent.tools.base import Tool, ToolContext, ToolResult
from app.config import GitHubSettings
from app.errors import IntegrationError, NotFound, StoreError
from app.integrations.filing import (
    MAX_BODY,
    MAX_TITLE,
    InvalidInput,
    linked_sentence,
    not_allowed,
    pattern_arg,
    positive_int_arg,
    text_arg,
    thread_link_or_none,
    upstream_failure,
    with_footer,
)
from app.integrations.github import GitHubClient
from app.integrations.item import Item
from app.turns.inbound import github_key

log = logging.getLogger(__name__)

_REPO_RE: Final = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class _GitHubTool:
    name: str

    def __init__(self, client: GitHubClient, settings: GitHubSettings) -> None:
        self._client = client
        self._repos = frozenset(r.lower() for r in settings.repos)

    def _repo(self, args: dict[str, Any]) -> str:
        """The allow-listed repository named in ``args``, lower-cased (GitHub ignores case)."""
        repo = pattern_arg(args, "repo", _REPO_RE, "'owner/name'").lower()
        if repo not in self._repos:
            raise InvalidInput(not_allowed("Repository", repo, self._repos, "GITHUB_REPOS"))
        return repo

    def _allowed(self) -> str:
        return ", ".join(sorted(self._repos))

    async def _link(self, item: Item, ctx: ToolContext) -> tuple[str, bool]:
        """Register the item's key for this conversation: (sentence, linked here?)."""
        assert item.number is not None
        repo = item.ref.rsplit("#", 1)[0]
        try:
            claim = await ctx.link_key(github_key(ctx.agent, repo, item.number), item.url)
        except StoreError:
            log.warning("linking %s failed turn=%s", item.ref, ctx.turn_id, exc_info=True)
            return (
                "It could not be linked to this conversation because the database is "
                "unavailable, so comments on it will not come back here.",
                False,
            )
        return linked_sentence(claim, "the issue", "the issue"), claim.registered


class CreateGitHubIssue(_GitHubTool):
    """``create_github_issue(repo, title, body)``."""

    name = "create_github_issue"

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": (
                "Create a GitHub issue and link it to this conversation: comments on the issue "
                "come back to this conversation and are answered on the issue. The body gets a "
                "footer linking back to this Slack thread. Allowed repositories: "
                f"{self._allowed()}."
            ),
            "input_schema": {
                "type": "object",
                "properties": {
                    "repo": {
                        "type": "string",
                        "description": f"owner/name, one of: {self._allowed()}",
                    },
                    "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
                    "body": {
                        "type": "string",
                        "maxLength": MAX_BODY,
                        "description": "GitHub-flavoured Markdown",
                    },
                },
                "required": ["repo", "title", "body"],
                "additionalProperties": False,
            },
        }

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            repo = self._repo(args)
            title = text_arg(args, "title", min_len=1, max_len=MAX_TITLE, one_line=True)
            body = text_arg(args, "body", max_len=MAX_BODY)
        except InvalidInput as exc:
            return ToolResult(str(exc), is_error=True)
        link = await thread_link_or_none(ctx.thread_link)
        try:
            item = await self._client.create_issue(
                repo, title, with_footer(body, link, ctx.session_id)
            )
        except IntegrationError as exc:
            log.warning("create_github_issue failed turn=%s: %s", ctx.turn_id, exc)
            return ToolResult(upstream_failure(exc, f"create the issue in {repo}"), is_error=True)
        sentence, _ = await self._link(item, ctx)
        return ToolResult(
            f"Created GitHub issue {item.ref} ({item.url}), number {item.number}. {sentence} "
            "Do not create it again."
        )


class LinkGitHubIssue(_GitHubTool):
    """``link_github_issue(repo, number)``: verify the issue exists, then link it."""

    name = "link_github_issue"

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": (
                "Link an existing GitHub issue or pull request to this conversation, so that "
                "comments on it come back here and are answered there. Allowed repositories: "
                f"{self._allowed()}."
            ),
            "input_schema": {
                "type": "object",
                "properties": {
                    "repo": {
                        "type": "string",
                        "description": f"owner/name, one of: {self._allowed()}",
                    },
                    "number": {"type": "integer", "minimum": 1},
                },
                "required": ["repo", "number"],
                "additionalProperties": False,
            },
        }

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            repo = self._repo(args)
            number = positive_int_arg(args, "number")
        except InvalidInput as exc:
            return ToolResult(str(exc), is_error=True)
        try:
            item = await self._client.get_issue(repo, number)
        except NotFound:
            return ToolResult(
                f"GitHub issue {repo}#{number} does not exist (or the token cannot see it); "
                "check the number with the user.",
                is_error=True,
            )
        except IntegrationError as exc:
            log.warning("link_github_issue failed turn=%s: %s", ctx.turn_id, exc)
            return ToolResult(upstream_failure(exc, f"look up {repo}#{number}"), is_error=True)
        sentence, linked = await self._link(item, ctx)
        about = f"GitHub issue {item.ref} “{item.title}” ({item.state}, {item.url})."
        if not linked:
            return ToolResult(f"{about} {sentence} It was not linked here.", is_error=True)
        return ToolResult(f"Linked {about} {sentence}")


def github_tools(client: GitHubClient, settings: GitHubSettings) -> list[Tool]:
    """The GitHub tools to offer when GitHub is configured."""
    return [CreateGitHubIssue(client, settings), LinkGitHubIssue(client, settings)]
