"""Jira: tickets whose comments continue the conversation that filed them.

Registered when ``JIRA_BASE_URL`` is set: the create/link tools, the comment surface, and the
``/webhooks/jira`` route when ``JIRA_WEBHOOK_SECRET`` is set too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from app.agent.tools.jira import jira_tools
from app.config import JiraSettings
from app.core import Audience, ConversationKey
from app.integrations.jira import JiraClient
from app.surfaces.comments import CommentSurface
from app.surfaces.integration import Account, Integration, Webhook
from app.webhooks.jira import JIRA, jira_comment_ref


class JiraSurface(CommentSurface):
    platform = "jira"
    title = "Jira"

    async def place_audience(self, key: ConversationKey) -> Audience:
        # What the bot posts there unprompted (a notice, a job's result) is an internal
        # comment: licensed users only, never a Service Management customer.
        return Audience.INTERNAL


def jira_integration(
    settings: JiraSettings,
    http: httpx.AsyncClient,
    remember: Callable[[str], Awaitable[None]],
) -> Integration:
    client = JiraClient(settings, http)
    account = Account()

    async def post(item_ref: str, body: str, public: bool) -> str:
        # Internal unless its place is public: on a Service Management ticket, an answer to
        # an internal note must not reach the customer.
        return await client.add_comment(item_ref, body, public=public)

    return Integration(
        name="Jira",
        surface=JiraSurface(post=post, remember=remember, comment_ref=jira_comment_ref),
        tools=jira_tools(client, settings),
        whoami=client.myself,
        account=account,
        webhook=(
            Webhook(JIRA, settings.webhook_secret, account)
            if settings.webhook_secret is not None
            else None
        ),
    )
