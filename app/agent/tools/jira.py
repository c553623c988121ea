"""Tools that file a Jira ticket from the conversation, or link an existing one to it.

Once linked (key ``{agent}:jira:AD-12``), a comment on the ticket runs a turn on this
conversation and is answered on the ticket. Only projects in ``JIRA_PROJECTS`` are accepted;
refusals and upstream failures come back as error results, never as exceptions.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from app.agent.tools.base import Tool, ToolContext, ToolResult
from app.config import JiraSettings
from app.errors import IntegrationError, NotFound, StoreError
from app.integrations.filing import (
    MAX_BODY,
    MAX_TITLE,
    InvalidInput,
    linked_sentence,
    not_allowed,
    pattern_arg,
    text_arg,
    thread_link_or_none,
    upstream_failure,
    with_footer,
)
from app.integrations.item import Item
from app.integrations.jira import JiraClient
from app.turns.inbound import jira_key

log = logging.getLogger(__name__)

_PROJECT_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}$")
_KEY_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}-[1-9][0-9]{0,9}$")
# The usual Jira Cloud types, matched case-insensitively; other names pass through as given.
ISSUE_TYPES: Final = ("Task", "Bug", "Story", "Epic", "Improvement", "New Feature")
MAX_ISSUE_TYPE: Final = 50


class _JiraTool:
    name: str

    def __init__(self, client: JiraClient, settings: JiraSettings) -> None:
        self._client = client
        self._projects = frozenset(p.upper() for p in settings.projects)

    def _check_project(self, project: str) -> None:
        if project not in self._projects:
            raise InvalidInput(not_allowed("Project", project, self._projects, "JIRA_PROJECTS"))

    def _allowed(self) -> str:
        return ", ".join(sorted(self._projects))

    async def _link(self, item: Item, ctx: ToolContext) -> tuple[str, bool]:
        """Register the ticket's key for this conversation: (sentence, linked here?)."""
        assert item.key is not None
        try:
            claim = await ctx.link_key(jira_key(ctx.agent, item.key), item.url)
        except StoreError:
            log.warning("linking %s failed turn=%s", item.ref, ctx.turn_id, exc_info=True)
            return (
                "It could not be linked to this conversation because the database is "
                "unavailable, so comments on it will not come back here.",
                False,
            )
        return linked_sentence(claim, "the ticket", "the ticket"), claim.registered


def issue_type_arg(args: dict[str, Any]) -> str:
    """``issue_type``: a known type in its canonical spelling, or other short one-line text."""
    value = text_arg(
        args, "issue_type", min_len=1, max_len=MAX_ISSUE_TYPE, one_line=True, default="Task"
    )
    for known in ISSUE_TYPES:
        if value.casefold() == known.casefold():
            return known
    return value


class CreateJiraTicket(_JiraTool):
    """``create_jira_ticket(project_key, summary, description, issue_type?)``."""

    name = "create_jira_ticket"

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": (
                "Create a Jira ticket and link it to this conversation: comments on the ticket "
                "come back to this conversation and are answered on the ticket. The "
                "description gets a footer linking back to this Slack thread. Allowed "
                f"projects: {self._allowed()}."
            ),
            "input_schema": {
                "type": "object",
                "properties": {
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
                "required": ["project_key", "summary", "description"],
                "additionalProperties": False,
            },
        }

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            project = pattern_arg(args, "project_key", _PROJECT_RE, "'AD'").upper()
            self._check_project(project)
            summary = text_arg(args, "summary", min_len=1, max_len=MAX_TITLE, one_line=True)
            description = text_arg(args, "description", max_len=MAX_BODY)
            issue_type = issue_type_arg(args)
        except InvalidInput as exc:
            return ToolResult(str(exc), is_error=True)
        link = await thread_link_or_none(ctx.thread_link)
        try:
            item = await self._client.create_issue(
                project, summary, with_footer(description, link, ctx.session_id), issue_type
            )
        except IntegrationError as exc:
            log.warning("create_jira_ticket failed turn=%s: %s", ctx.turn_id, exc)
            return ToolResult(
                upstream_failure(exc, f"create the ticket in {project}"), is_error=True
            )
        sentence, _ = await self._link(item, ctx)
        return ToolResult(
            f"Created Jira ticket {item.key} ({item.url}). {sentence} Do not create it again."
        )


class LinkJiraTicket(_JiraTool):
    """``link_jira_ticket(key)``: verify the ticket exists, then link it."""

    name = "link_jira_ticket"

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": (
                "Link an existing Jira ticket to this conversation, so that comments on it come "
                f"back here and are answered there. Allowed projects: {self._allowed()}."
            ),
            "input_schema": {
                "type": "object",
                "properties": {
                    "key": {"type": "string", "description": "Ticket key such as AD-123"},
                },
                "required": ["key"],
                "additionalProperties": False,
            },
        }

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            key = pattern_arg(args, "key", _KEY_RE, "'AD-123'").upper()
            self._check_project(key.rsplit("-", 1)[0])
        except InvalidInput as exc:
            return ToolResult(str(exc), is_error=True)
        try:
            item = await self._client.get_issue(key)
        except NotFound:
            return ToolResult(
                f"Jira ticket {key} does not exist (or the Jira account cannot see it); check "
                "the key with the user.",
                is_error=True,
            )
        except IntegrationError as exc:
            log.warning("link_jira_ticket failed turn=%s: %s", ctx.turn_id, exc)
            return ToolResult(upstream_failure(exc, f"look up {key}"), is_error=True)
        assert item.key is not None
        if item.key != key:
            # The ticket was moved to another project; the new key must be allowed too.
            try:
                self._check_project(item.key.rsplit("-", 1)[0])
            except InvalidInput as exc:
                return ToolResult(f"{key} is now {item.key}. {exc}", is_error=True)
        status = item.status or item.state
        sentence, linked = await self._link(item, ctx)
        about = f"Jira ticket {item.key} “{item.title}” ({status}, {item.url})."
        if not linked:
            return ToolResult(f"{about} {sentence} It was not linked here.", is_error=True)
        return ToolResult(f"Linked {about} {sentence}")


def jira_tools(client: JiraClient, settings: JiraSettings) -> list[Tool]:
    """The Jira tools to offer when Jira is configured."""
    return [CreateJiraTicket(client, settings), LinkJiraTicket(client, settings)]
