"""Tools that file a GitHub issue from the conversation, or link an existing one to it.

Once linked (key ``{agent}:github:owner/repo#n``), a comment on the issue runs a turn on this
conversation and is answered on the issue. Only repositories in ``GITHUB_REPOS`` are accepted;
refusals and upstream failures come back as error results, never as exceptions. A filed body
goes through ``github_safe`` (no mentions, no images from outside GitHub), and in a public
repository its footer carries no link to the Slack thread.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from app.agent.tools.base import Tool
from app.agent.tools.items import CreateItemTool, Filing, ItemTool, LinkItemTool, Lookup
from app.config import GitHubSettings
from app.core import Audience, ConversationKey
from app.integrations.filing import (
    MAX_BODY,
    MAX_TITLE,
    InvalidInput,
    not_allowed,
    pattern_arg,
    positive_int_arg,
    text_arg,
)
from app.integrations.github import GitHubClient
from app.integrations.github_markdown import github_safe
from app.integrations.item import Item

_REPO_RE: Final = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class _GitHubTool(ItemTool):
    name: str
    label = "GitHub issue"
    noun = "the issue"
    log = logging.getLogger(__name__)

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

    async def target_audience(self, args: dict[str, Any]) -> Audience | None:
        """PUBLIC for a public repository (asked of GitHub, which answers PUBLIC when it
        cannot tell); None for a repository the tool would refuse anyway."""
        try:
            repo = self._repo(args)
        except InvalidInput:
            return None
        return await self._client.repository_audience(repo)

    def _repo_property(self) -> dict[str, Any]:
        return {"type": "string", "description": f"owner/name, one of: {self._allowed()}"}

    def _key_for(self, agent: str, item: Item) -> str:
        assert item.number is not None
        return str(ConversationKey.github(agent, item.ref.rsplit("#", 1)[0], item.number))


class CreateGitHubIssue(_GitHubTool, CreateItemTool):
    """``create_github_issue(repo, title, body)``."""

    name = "create_github_issue"

    def definition(self) -> dict[str, Any]:
        return self._definition(
            "Create a GitHub issue and link it to this conversation: comments on the issue "
            "come back to this conversation and are answered on the issue. The body gets a "
            "footer linking back to this Slack thread (in a private repository; a public one "
            "gets no link). @mentions in the body notify nobody and images from outside GitHub "
            f"are dropped. Allowed repositories: {self._allowed()}.",
            {
                "repo": self._repo_property(),
                "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
                "body": {
                    "type": "string",
                    "maxLength": MAX_BODY,
                    "description": "GitHub-flavoured Markdown",
                },
            },
            ["repo", "title", "body"],
        )

    def _filing(self, args: dict[str, Any]) -> Filing:
        repo = self._repo(args)
        title = text_arg(args, "title", min_len=1, max_len=MAX_TITLE, one_line=True)
        body = text_arg(args, "body", max_len=MAX_BODY)
        return Filing(
            f"create the issue in {repo}",
            body,
            lambda full: self._client.create_issue(repo, title, github_safe(full)),
            audience=lambda: self._client.repository_audience(repo),
        )

    def _created(self, item: Item) -> str:
        return f"{super()._created(item)}, number {item.number}"


class LinkGitHubIssue(_GitHubTool, LinkItemTool):
    """``link_github_issue(repo, number)``: verify the issue exists, then link it."""

    name = "link_github_issue"

    def definition(self) -> dict[str, Any]:
        return self._definition(
            "Link an existing GitHub issue or pull request to this conversation, so that "
            "comments on it come back here and are answered there. Allowed repositories: "
            f"{self._allowed()}.",
            {"repo": self._repo_property(), "number": {"type": "integer", "minimum": 1}},
            ["repo", "number"],
        )

    def _lookup(self, args: dict[str, Any]) -> Lookup:
        repo = self._repo(args)
        number = positive_int_arg(args, "number")
        return Lookup(
            f"{repo}#{number}",
            lambda: self._client.get_issue(repo, number),
            f"GitHub issue {repo}#{number} does not exist (or the token cannot see it); "
            "check the number with the user.",
        )


def github_tools(client: GitHubClient, settings: GitHubSettings) -> list[Tool]:
    """The GitHub tools to offer when GitHub is configured."""
    return [CreateGitHubIssue(client, settings), LinkGitHubIssue(client, settings)]
