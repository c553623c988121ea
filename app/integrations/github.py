"""GitHub REST client: create and read issues, post comments, learn who we are and who can
read a repository.

The ``httpx.AsyncClient`` is passed in (the app's lifespan owns it); every call carries an
explicit timeout. Failures raise the ``IntegrationError`` family (see ``app.integrations.http``),
except ``repository_audience``, which answers PUBLIC when GitHub cannot tell.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

import httpx

from app.config import GitHubSettings
from app.core import Audience
from app.errors import IntegrationError
from app.integrations.audience import repository_audience
from app.integrations.http import DEFAULT_TIMEOUT, USER_AGENT, RestClient, Upstream, require
from app.integrations.item import Item

log = logging.getLogger(__name__)

# How long a repository's visibility is trusted before it is asked again.
AUDIENCE_TTL_SECONDS: Final = 600.0


class GitHubClient(RestClient):
    """Issues and comments through the GitHub REST API (``settings.api_url``)."""

    def __init__(
        self,
        settings: GitHubSettings,
        http: httpx.AsyncClient,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        audience_ttl: float = AUDIENCE_TTL_SECONDS,
    ) -> None:
        upstream = Upstream("GitHub", "GITHUB_TOKEN", (settings.token.reveal(),))
        super().__init__(http, settings.api_url, upstream, timeout)
        self._settings = settings
        self._clock = clock
        self._audience_ttl = audience_ttl
        # repository (lower-cased) -> (audience, monotonic time it stops being trusted)
        self._audiences: dict[str, tuple[Audience, float]] = {}

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self._base!r})"

    async def create_issue(self, repo: str, title: str, body: str) -> Item:
        data = await self._call(
            "POST",
            f"{_repo_path(repo)}/issues",
            what=f"repository {repo}",
            json={"title": title, "body": body},
        )
        return self._issue(repo, data)

    async def get_issue(self, repo: str, number: int) -> Item:
        data = await self._call(
            "GET", f"{_repo_path(repo)}/issues/{int(number)}", what=f"issue {repo}#{number}"
        )
        return self._issue(repo, data)

    async def create_comment(self, repo: str, number: int, body: str) -> str:
        """Comment on an issue or pull request; returns the new comment's id."""
        data = await self._call(
            "POST",
            f"{_repo_path(repo)}/issues/{int(number)}/comments",
            what=f"issue {repo}#{number}",
            json={"body": body},
        )
        return str(require(data, "id", int, self._upstream))

    async def repository_audience(self, repo: str) -> Audience:
        """Who can read ``repo``: INTERNAL for a private or internal repository, PUBLIC
        otherwise (``GET /repos/{owner}/{repo}``).

        An answer is kept for ``audience_ttl`` seconds. When GitHub cannot be asked (down,
        rate limited, the repository unknown to the token) the answer is PUBLIC, the careful
        one, and it is not kept, so the next call asks again.
        """
        name = repo.lower()
        cached = self._audiences.get(name)
        now = self._clock()
        if cached is not None and now < cached[1]:
            return cached[0]
        try:
            data = await self._call("GET", _repo_path(repo), what=f"repository {repo}")
        except IntegrationError as exc:
            log.warning("visibility of %s unknown, treated as public: %s", repo, exc)
            return Audience.PUBLIC
        if not isinstance(data, dict):
            log.warning("visibility of %s unknown (unexpected answer), treated as public", repo)
            return Audience.PUBLIC
        audience = repository_audience(data)
        self._audiences[name] = (audience, now + self._audience_ttl)
        return audience

    async def whoami(self) -> str:
        """The login the token belongs to (GET /user), to recognise our own comments."""
        data = await self._call("GET", "/user", what="the authenticated user")
        return str(require(data, "login", str, self._upstream))

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._settings.token.reveal()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": USER_AGENT,
        }

    def _issue(self, repo: str, data: Any) -> Item:
        number = require(data, "number", int, self._upstream)
        state = data.get("state")
        return Item(
            platform="github",
            ref=f"{repo}#{number}",
            url=require(data, "html_url", str, self._upstream),
            title=str(data.get("title") or ""),
            state="closed" if state == "closed" else "open",
            number=number,
        )


def _repo_path(repo: str) -> str:
    owner, sep, name = repo.partition("/")
    if not (owner and sep and name) or "/" in name:
        raise ValueError(f"repository must be owner/name, got {repo!r}")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
