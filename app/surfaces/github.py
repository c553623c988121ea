"""GitHub: issues (and pull requests) whose comments continue the conversation that filed them.

Registered when ``GITHUB_TOKEN`` is set: the create/link tools, the comment surface, and the
``/webhooks/github`` route when ``GITHUB_WEBHOOK_SECRET`` is set too. Every comment the bot
posts goes through ``github_safe`` first: it mentions nobody and shows no image from outside
GitHub.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from app.agent.tools.github import github_tools
from app.config import GitHubSettings
from app.core import Audience, ConversationKey
from app.integrations.github import GitHubClient
from app.integrations.github_markdown import github_safe
from app.surfaces.comments import CommentPoster, CommentSurface
from app.surfaces.integration import Account, Integration, Webhook
from app.webhooks.github import github_comment_ref, github_spec


class GitHubSurface(CommentSurface):
    platform = "github"
    title = "GitHub"

    def __init__(
        self,
        *,
        post: CommentPoster,
        remember: Callable[[str], Awaitable[None]],
        comment_ref: Callable[[str, str], str],
        repository_audience: Callable[[str], Awaitable[Audience]] | None = None,
    ) -> None:
        super().__init__(post=post, remember=remember, comment_ref=comment_ref)
        self._repository_audience = repository_audience

    async def place_audience(self, key: ConversationKey) -> Audience:
        # An issue's comments are read by whoever can read its repository (GitHub answers
        # PUBLIC when it cannot tell).
        if self._repository_audience is None:
            return Audience.PUBLIC
        return await self._repository_audience(key.label.rsplit("#", 1)[0])


def github_integration(
    settings: GitHubSettings,
    http: httpx.AsyncClient,
    remember: Callable[[str], Awaitable[None]],
) -> Integration:
    client = GitHubClient(settings, http)

    async def post(item_ref: str, body: str, public: bool) -> str:
        # A GitHub comment is read by whoever can read the repository; ``public`` changes
        # nothing here (the audience rule decided already whether it may be posted).
        repo, _, number = item_ref.partition("#")
        return await client.create_comment(repo, int(number), github_safe(body))

    account = Account()
    return Integration(
        name="GitHub",
        surface=GitHubSurface(
            post=post,
            remember=remember,
            comment_ref=github_comment_ref,
            repository_audience=client.repository_audience,
        ),
        tools=github_tools(client, settings),
        whoami=client.whoami,
        account=account,
        webhook=(
            Webhook(github_spec(settings.trusted_associations), settings.webhook_secret, account)
            if settings.webhook_secret is not None
            else None
        ),
    )
