"""Tools that file a Jira ticket from the conversation, or link an existing one to it.

Once linked (key ``{agent}:jira:AD-12``), a comment on the ticket runs a turn on this
conversation and is answered on the ticket. Only projects in ``JIRA_PROJECTS`` are accepted;
refusals and upstream failures come back as error results, never as exceptions.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from app.agent.tools.base import Tool
from app.agent.tools.items import CreateItemTool, Filing, ItemTool, LinkItemTool, Lookup
from app.config import JiraSettings
from app.core import Audience, ConversationKey
from app.integrations.filing import (
    MAX_BODY,
    MAX_TITLE,
    InvalidInput,
    not_allowed,
    pattern_arg,
    text_arg,
)
from app.integrations.item import Item
from app.integrations.jira import JiraClient

_PROJECT_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}$")
_KEY_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}-[1-9][0-9]{0,9}$")
# The usual Jira Cloud types, matched case-insensitively; other names pass through as given.
ISSUE_TYPES: Final = ("Task", "Bug", "Story", "Epic", "Improvement", "New Feature")
MAX_ISSUE_TYPE: Final = 50


class _JiraTool(ItemTool):
    name: str
    label = "Jira ticket"
    noun = "the ticket"
    log = logging.getLogger(__name__)

    def __init__(self, client: JiraClient, settings: JiraSettings) -> None:
        self._client = client
        self._projects = frozenset(p.upper() for p in settings.projects)

    def _check_project(self, project: str) -> None:
        if project not in self._projects:
            raise InvalidInput(not_allowed("Project", project, self._projects, "JIRA_PROJECTS"))

    def _allowed(self) -> str:
        return ", ".join(sorted(self._projects))

    async def target_audience(self, args: dict[str, Any]) -> Audience | None:
        """PUBLIC for a Service Management project, whose customers read its tickets (asked
        of Jira, which answers PUBLIC when it cannot tell); None for a refused project."""
        project = args.get("project_key") or str(args.get("key", "")).partition("-")[0]
        if not isinstance(project, str) or project.upper() not in self._projects:
            return None
        return await self._client.project_audience(project.upper())

    def _key_for(self, agent: str, item: Item) -> str:
        assert item.key is not None
        return str(ConversationKey.jira(agent, item.key))


def issue_type_arg(args: dict[str, Any]) -> str:
    """``issue_type``: a known type in its canonical spelling, or other short one-line text."""
    value = text_arg(
        args, "issue_type", min_len=1, max_len=MAX_ISSUE_TYPE, one_line=True, default="Task"
    )
    for known in ISSUE_TYPES:
        if value.casefold() == known.casefold():
            return known
    return value


class CreateJiraTicket(_JiraTool, CreateItemTool):
    """``create_jira_ticket(project_key, summary, description, issue_type?)``."""

    name = "create_jira_ticket"

    def definition(self) -> dict[str, Any]:
        return self._definition(
            "Create a Jira ticket and link it to this conversation: comments on the ticket "
            "come back to this conversation and are answered on the ticket. The "
            "description gets a footer linking back to this Slack thread. Allowed "
            f"projects: {self._allowed()}.",
            {
                "project_key": {
                    "type": "string",
                    "description": f"Jira project key, one of: {self._allowed()}",
                },
                "summary": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
                "description": {
                    "type": "string",
                    "maxLength": MAX_BODY,
                    "description": "Markdown (converted to Jira rich text)",
                },
                "issue_type": {
                    "type": "string",
                    "maxLength": MAX_ISSUE_TYPE,
                    "description": (
                        f"Issue type, default Task; usually one of {', '.join(ISSUE_TYPES)}"
                    ),
                },
            },
            ["project_key", "summary", "description"],
        )

    def _filing(self, args: dict[str, Any]) -> Filing:
        project = pattern_arg(args, "project_key", _PROJECT_RE, "'AD'").upper()
        self._check_project(project)
        summary = text_arg(args, "summary", min_len=1, max_len=MAX_TITLE, one_line=True)
        description = text_arg(args, "description", max_len=MAX_BODY)
        issue_type = issue_type_arg(args)
        return Filing(
            f"create the ticket in {project}",
            description,
            lambda full: self._client.create_issue(project, summary, full, issue_type),
            audience=lambda: self._client.project_audience(project),
        )


class LinkJiraTicket(_JiraTool, LinkItemTool):
    """``link_jira_ticket(key)``: verify the ticket exists, then link it."""

    name = "link_jira_ticket"

    def definition(self) -> dict[str, Any]:
        return self._definition(
            "Link an existing Jira ticket to this conversation, so that comments on it come "
            f"back here and are answered there. Allowed projects: {self._allowed()}.",
            {"key": {"type": "string", "description": "Ticket key such as AD-123"}},
            ["key"],
        )

    def _lookup(self, args: dict[str, Any]) -> Lookup:
        key = pattern_arg(args, "key", _KEY_RE, "'AD-123'").upper()
        self._check_project(key.rsplit("-", 1)[0])
        return Lookup(
            key,
            lambda: self._client.get_issue(key),
            f"Jira ticket {key} does not exist (or the Jira account cannot see it); check "
            "the key with the user.",
        )

    def _check_found(self, ref: str, item: Item) -> None:
        assert item.key is not None
        if item.key != ref:
            # The ticket was moved to another project; the new key must be allowed too.
            try:
                self._check_project(item.key.rsplit("-", 1)[0])
            except InvalidInput as exc:
                raise InvalidInput(f"{ref} is now {item.key}. {exc}") from None


def jira_tools(client: JiraClient, settings: JiraSettings) -> list[Tool]:
    """The Jira tools to offer when Jira is configured."""
    return [CreateJiraTicket(client, settings), LinkJiraTicket(client, settings)]
