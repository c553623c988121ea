"""Jira Cloud REST (v3) client: create and read issues, post comments, learn who we are.

Descriptions and comments are written in Markdown and sent as ADF (``app.integrations.adf``).
Authentication is HTTP Basic with the account's email and API token. Failures raise the
``IntegrationError`` family (see ``app.integrations.http``).
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any, Final
from urllib.parse import quote

import httpx

from app.config import JiraSettings
from app.core import Audience
from app.errors import IntegrationError
from app.integrations.adf import markdown_to_adf
from app.integrations.http import DEFAULT_TIMEOUT, USER_AGENT, RestClient, Upstream, require
from app.integrations.item import Item

log = logging.getLogger(__name__)

# How long a project's type is trusted before it is asked again.
AUDIENCE_TTL_SECONDS: Final = 600.0


class JiraClient(RestClient):
    """Issues and comments through the Jira Cloud REST API v3 (``settings.base_url``)."""

    def __init__(
        self,
        settings: JiraSettings,
        http: httpx.AsyncClient,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        # Scrub the encoded form too: that is what the Authorization header carries.
        encoded = _basic_credentials(settings)
        upstream = Upstream("Jira", "JIRA_API_TOKEN", (settings.api_token.reveal(), encoded))
        super().__init__(http, settings.base_url, upstream, timeout)
        self._settings = settings
        # project key -> (audience, monotonic time it stops being trusted)
        self._audiences: dict[str, tuple[Audience, float]] = {}

    def __repr__(self) -> str:
        return f"JiraClient(base_url={self._base!r})"

    def browse_url(self, key: str) -> str:
        return f"{self._base}/browse/{key}"

    async def project_audience(self, project_key: str) -> Audience:
        """Who can read tickets of ``project_key``: PUBLIC for a Service Management project
        (its customers read the tickets they raise), INTERNAL otherwise
        (``GET /rest/api/3/project/{key}``). Kept for ten minutes; when Jira cannot be asked
        the answer is PUBLIC, the careful one, and it is not kept."""
        now = time.monotonic()
        cached = self._audiences.get(project_key)
        if cached is not None and now < cached[1]:
            return cached[0]
        try:
            data = await self._call(
                "GET", f"/rest/api/3/project/{project_key}", what=f"project {project_key}"
            )
        except IntegrationError as exc:
            log.warning("audience of project %s unknown, treated as public: %s", project_key, exc)
            return Audience.PUBLIC
        kind = data.get("projectTypeKey") if isinstance(data, dict) else None
        audience = Audience.PUBLIC if kind in (None, "service_desk") else Audience.INTERNAL
        self._audiences[project_key] = (audience, now + AUDIENCE_TTL_SECONDS)
        return audience

    async def create_issue(
        self,
        project_key: str,
        summary: str,
        description_markdown: str,
        issue_type: str = "Task",
    ) -> Item:
        fields = {
            "project": {"key": project_key},
            "summary": summary,
            "description": markdown_to_adf(description_markdown),
            "issuetype": {"name": issue_type},
        }
        data = await self._call(
            "POST", "/rest/api/3/issue", what=f"project {project_key}", json={"fields": fields}
        )
        key = require(data, "key", str, self._upstream)
        return Item(
            platform="jira",
            ref=key,
            url=self.browse_url(key),
            title=summary,
            state="open",
            key=key,
        )

    async def get_issue(self, key: str) -> Item:
        data = await self._call(
            "GET",
            f"/rest/api/3/issue/{quote(key, safe='')}",
            what=f"issue {key}",
            params={"fields": "summary,status,resolution"},
        )
        actual = require(data, "key", str, self._upstream)
        fields = _mapping(data.get("fields"))
        status = _mapping(fields.get("status"))
        category = status.get("statusCategory")
        done = isinstance(category, dict) and category.get("key") == "done"
        closed = fields.get("resolution") is not None or done
        return Item(
            platform="jira",
            ref=actual,
            url=self.browse_url(actual),
            title=str(fields.get("summary") or ""),
            state="closed" if closed else "open",
            key=actual,
            status=status.get("name") if isinstance(status.get("name"), str) else None,
        )

    async def add_comment(self, key: str, body_markdown: str, *, public: bool = False) -> str:
        """Comment on an issue; returns the new comment's id.

        Unless ``public``, the comment is marked internal (``sd.public.comment``): on a Service
        Management ticket the customer does not see it; on other projects the mark changes
        nothing."""
        payload: dict[str, Any] = {"body": markdown_to_adf(body_markdown)}
        if not public:
            payload["properties"] = [{"key": "sd.public.comment", "value": {"internal": True}}]
        data = await self._call(
            "POST",
            f"/rest/api/3/issue/{quote(key, safe='')}/comment",
            what=f"issue {key}",
            json=payload,
        )
        return str(require(data, "id", str, self._upstream))

    async def myself(self) -> str:
        """The accountId the credentials belong to, to recognise our own comments."""
        data = await self._call("GET", "/rest/api/3/myself", what="the authenticated user")
        return str(require(data, "accountId", str, self._upstream))

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": "Basic " + _basic_credentials(self._settings),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }


def _basic_credentials(settings: JiraSettings) -> str:
    credentials = f"{settings.email}:{settings.api_token.reveal()}"
    return base64.b64encode(credentials.encode()).decode("ascii")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
