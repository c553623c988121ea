"""Assembles the configured integrations: their tools, comment posters and webhook handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from app.agent.tools.base import Tool
from app.config import Settings
from app.errors import IntegrationError
from app.store.base import Store

if TYPE_CHECKING:
    from aiohttp import web

    from app.turns.pipeline import CommentPoster

log = logging.getLogger(__name__)

WebHandler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


class Identity(Protocol):
    github_login: str | None
    jira_account: str | None


@dataclass
class Wired:
    tools: list[Tool] = field(default_factory=list)
    posters: dict[str, CommentPoster] = field(default_factory=dict)
    _handler_factories: dict[str, Callable[..., WebHandler]] = field(default_factory=dict)
    # Work to keep running in the background (e.g. learning our identity after a failure).
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)

    def webhook_handlers(
        self, *, store: Store, max_body: int, wake: Callable[[], None]
    ) -> dict[str, WebHandler]:
        return {
            name: factory(store=store, max_body=max_body, wake=wake)
            for name, factory in self._handler_factories.items()
        }


async def wire(settings: Settings, http: httpx.AsyncClient, identity: Identity) -> Wired:
    wired = Wired()
    agent = settings.agent_name
    if settings.github is not None:
        from app.agent.tools.github import github_tools
        from app.integrations.github import GitHubClient
        from app.webhooks.github import make_github_handler

        gh = GitHubClient(settings.github, http)

        async def github_identity() -> None:
            identity.github_login = await gh.whoami()

        await _learn("GitHub", github_identity, wired)
        wired.tools.extend(github_tools(gh, settings.github))

        async def post_github(item_ref: str, body: str) -> str:
            repo, _, number = item_ref.partition("#")
            return await gh.create_comment(repo, int(number), body)

        wired.posters["github"] = post_github
        secret = settings.github.webhook_secret
        if secret is not None:

            def github_hook(**kwargs: Any) -> WebHandler:
                return make_github_handler(
                    secret=secret, agent=agent, identity=lambda: identity.github_login, **kwargs
                )

            wired._handler_factories["github"] = github_hook
    if settings.jira is not None:
        from app.agent.tools.jira import jira_tools
        from app.integrations.jira import JiraClient
        from app.webhooks.jira import make_jira_handler

        jira = JiraClient(settings.jira, http)

        async def jira_identity() -> None:
            identity.jira_account = await jira.myself()

        await _learn("Jira", jira_identity, wired)
        wired.tools.extend(jira_tools(jira, settings.jira))

        async def post_jira(item_ref: str, body: str) -> str:
            return await jira.add_comment(item_ref, body)

        wired.posters["jira"] = post_jira
        jira_secret = settings.jira.webhook_secret
        if jira_secret is not None:

            def jira_hook(**kwargs: Any) -> WebHandler:
                return make_jira_handler(
                    secret=jira_secret,
                    agent=agent,
                    identity=lambda: identity.jira_account,
                    **kwargs,
                )

            wired._handler_factories["jira"] = jira_hook
    return wired


async def _learn(service: str, lookup: Callable[[], Awaitable[None]], wired: Wired) -> None:
    """Learn our own account (to never answer ourselves); retry in the background on failure."""
    try:
        await lookup()
        return
    except IntegrationError as exc:
        log.warning("%s identity unknown for now (%s); retrying in the background", service, exc)

    async def retry() -> None:
        delay = 30.0
        while True:
            await asyncio.sleep(delay)
            try:
                await lookup()
                log.info("%s identity learned", service)
                return
            except IntegrationError:
                delay = min(delay * 2, 600.0)

    wired.background.append(retry)
