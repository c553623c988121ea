"""Who can read a GitHub repository or a Jira comment, from what the platforms say (pure).

GitHub (a repository object, in a webhook payload or from ``GET /repos/{owner}/{repo}``)::

    visibility "public"                       PUBLIC
    visibility "private" or "internal"        INTERNAL  (Enterprise "internal": members only)
    no visibility (older payloads): private   INTERNAL when true, PUBLIC when false
    neither field                             PUBLIC    (unknown counts as the wider audience)

Jira Cloud (a comment and its issue). ``jsdPublic`` is true on *every* comment made outside
Jira Service Management, so it means "visible to customers" only in a service project
(``projectTypeKey == "service_desk"``)::

    service desk project, jsdPublic not false   PUBLIC    (customers see it in the portal)
    service desk project, jsdPublic false       INTERNAL  (an internal note)
    any other project type                      INTERNAL  (only licensed users see it)
    project type unknown                        PUBLIC when jsdPublic is true, else INTERNAL

Wherever the payload does not tell, the answer is the wider audience: treating an internal
place as public costs a redirected answer, the reverse would leak.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from app.core import Audience

SERVICE_DESK: Final = "service_desk"
_VISIBILITIES: Final = {
    "public": Audience.PUBLIC,
    "private": Audience.INTERNAL,
    "internal": Audience.INTERNAL,
}


def repository_audience(repository: Mapping[str, Any]) -> Audience:
    """The audience of a GitHub repository object (see the module docstring)."""
    visibility = repository.get("visibility")
    if isinstance(visibility, str) and visibility.lower() in _VISIBILITIES:
        return _VISIBILITIES[visibility.lower()]
    private = repository.get("private")
    if isinstance(private, bool):
        return Audience.INTERNAL if private else Audience.PUBLIC
    return Audience.PUBLIC


def jira_comment_audience(comment: Mapping[str, Any], issue: Mapping[str, Any]) -> Audience:
    """The audience of a Jira comment on ``issue`` (see the module docstring)."""
    jsd_public = comment.get("jsdPublic")
    project_type = jira_project_type(issue)
    if project_type is None:
        return Audience.PUBLIC if jsd_public is True else Audience.INTERNAL
    if project_type == SERVICE_DESK and jsd_public is not False:
        return Audience.PUBLIC
    return Audience.INTERNAL


def jira_project_type(issue: Mapping[str, Any]) -> str | None:
    """``issue.fields.project.projectTypeKey`` ("software", "service_desk", ...), if given."""
    fields = issue.get("fields")
    project = fields.get("project") if isinstance(fields, dict) else None
    kind = project.get("projectTypeKey") if isinstance(project, dict) else None
    return kind if isinstance(kind, str) and kind else None
