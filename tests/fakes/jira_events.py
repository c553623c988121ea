"""Jira Cloud webhook deliveries for tests, shaped like the real ones and signed.

``comment_created_event`` carries what the trust rules read: the author's ``accountType``,
the comment's ``jsdPublic`` and the issue's ``fields.project.projectTypeKey``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

SERVICE_DESK = "service_desk"
SOFTWARE = "software"


def jira_webhook(
    secret: str | bytes, payload: dict[str, Any], delivery: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """A delivery as Jira Cloud sends it: JSON body and headers, signed with ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    body = json.dumps(payload).encode()
    signature = hmac.new(key, body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Atlassian Webhook HTTP Client",
        "X-Atlassian-Webhook-Identifier": delivery or str(uuid.uuid4()),
        "X-Atlassian-Webhook-Retry": "0",
        "X-Hub-Signature": f"sha256={signature}",
    }
    return body, headers


def project_payload(key: str, project_type: str = SOFTWARE) -> dict[str, Any]:
    """An issue's ``fields.project``, with its ``projectTypeKey``."""
    return {
        "self": f"https://acme.atlassian.net/rest/api/2/project/{10000 + len(key)}",
        "id": str(10000 + len(key)),
        "key": key,
        "name": f"Project {key}",
        "projectTypeKey": project_type,
    }


def _issue(
    key: str, *, resolution: dict[str, Any] | None = None, project_type: str | None = SOFTWARE
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "summary": f"Ticket {key}",
        "status": {"name": "Done" if resolution else "In Progress"},
        "resolution": resolution,
    }
    if project_type is not None:
        fields["project"] = project_payload(key.rsplit("-", 1)[0].upper(), project_type)
    return {
        "id": "10042",
        "key": key,
        "self": f"https://acme.atlassian.net/rest/api/3/issue/{key}",
        "fields": fields,
    }


def text_adf(text: str) -> dict[str, Any]:
    """A plain ADF document: one paragraph per line."""
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
            for line in text.split("\n")
        ],
    }


def comment_created_event(
    key: str,
    body: str | dict[str, Any],
    *,
    account_id: str = "5b10a2844c20165700ede21g",
    display_name: str = "Alice Example",
    account_type: str | None = "atlassian",
    comment_id: str = "10100",
    event: str = "comment_created",
    jsd_public: bool | None = True,
    project_type: str | None = SOFTWARE,
) -> dict[str, Any]:
    """A ``comment_created`` webhook payload; a str ``body`` is sent as ADF.

    Like Jira Cloud's: the author's ``accountType`` ("atlassian", "app", "customer"), the
    comment's ``jsdPublic`` (true on every comment outside a service project) and the
    issue's ``fields.project.projectTypeKey``; None leaves a field out.
    """
    author: dict[str, Any] = {"accountId": account_id, "displayName": display_name}
    if account_type is not None:
        author["accountType"] = account_type
    comment: dict[str, Any] = {
        "id": comment_id,
        "self": f"https://acme.atlassian.net/rest/api/3/issue/10042/comment/{comment_id}",
        "author": author,
        "updateAuthor": author,
        "body": text_adf(body) if isinstance(body, str) else body,
        "created": "2025-11-21T10:10:00.000+0000",
    }
    if jsd_public is not None:
        comment["jsdPublic"] = jsd_public
    return {
        "timestamp": 1763719800000,
        "webhookEvent": event,
        "comment": comment,
        "issue": _issue(key, project_type=project_type),
    }


def issue_deleted_event(key: str) -> dict[str, Any]:
    return {
        "timestamp": 1763719800000,
        "webhookEvent": "jira:issue_deleted",
        "issue_event_type_name": "issue_deleted",
        "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Alice Example"},
        "issue": _issue(key),
    }


def issue_updated_event(
    key: str,
    *,
    resolved: bool = False,
    changelog: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ``jira:issue_updated`` payload; ``resolved`` sets ``fields.resolution``."""
    return {
        "timestamp": 1763719800000,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Alice Example"},
        "issue": _issue(key, resolution={"name": "Done"} if resolved else None),
        "changelog": {"id": "20001", "items": changelog or []},
    }
