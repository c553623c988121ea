"""GitHub webhooks: ``issue_comment`` (answer it) and ``issues`` (closing unlinks).

Configure the repository's webhook with content type ``application/json``, the secret in
``GITHUB_WEBHOOK_SECRET`` and the events *Issue comments* and *Issues*. Comments on pull
requests arrive as ``issue_comment`` too and are handled the same way.

Who may speak: a comment starts a turn only when its ``author_association`` (the
commenter's relation to the repository: OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR,
FIRST_TIME_CONTRIBUTOR, FIRST_TIMER, MANNEQUIN or NONE) is one of ``GITHUB_TRUSTED_ASSOCIATIONS``;
a comment without one is not trusted. Bots never speak. Our own comments are ignored, not
refused. The audience of a comment is its repository's (``app.integrations.audience``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from app.config import Secret
from app.core import ConversationKey, Inbound
from app.core.bounds import cut_message
from app.core.text import clean_name
from app.errors import BadRequest
from app.integrations.audience import repository_audience
from app.store.base import Store
from app.webhooks.common import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_PENDING,
    Action,
    CommentAction,
    Handler,
    IgnoreAction,
    RefuseAction,
    UnlinkAction,
    WebhookSpec,
    integer,
    make_handler,
    obj,
    string,
    verify_hmac_sha256,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"
DELIVERY_HEADER = "X-GitHub-Delivery"
EVENT_HEADER = "X-GitHub-Event"

_UNLINKING = {"closed": "github issue closed", "deleted": "github issue deleted"}


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>`` over the raw body, compared in constant time."""
    return verify_hmac_sha256(secret, body, header)


def parse_github_event(
    event: str,
    payload: Mapping[str, Any],
    agent: str,
    our_login: str | None,
    *,
    trusted: frozenset[str],
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Action:
    """What to do with one GitHub delivery (pure; ``BadRequest`` on a malformed payload).

    ``trusted`` holds the ``author_association`` values whose comments start turns; a
    comment's text is cut to ``max_chars`` as it reaches Claude, quoted.
    """
    if event == "issue_comment":
        return _comment(payload, agent, our_login, trusted, max_chars)
    if event == "issues":
        action = payload.get("action")
        if action in _UNLINKING:
            repo, number, _ = _item(payload)
            return UnlinkAction(_key(agent, repo, number), _UNLINKING[action])
        # A reopened issue stays unlinked: relinking silently would surprise; Claude can link.
        return IgnoreAction(f"issues {action}")
    return IgnoreAction(f"event {event or 'unnamed'}")


def _item(payload: Mapping[str, Any]) -> tuple[str, int, Mapping[str, Any]]:
    issue = obj(payload, "issue")
    repo = string(obj(payload, "repository"), "full_name")
    return repo, integer(issue, "number"), issue


def _comment(
    payload: Mapping[str, Any],
    agent: str,
    our_login: str | None,
    trusted: frozenset[str],
    max_chars: int,
) -> Action:
    action = payload.get("action")
    if action != "created":
        return IgnoreAction(f"comment {action}")
    repo, number, issue = _item(payload)
    comment = obj(payload, "comment")
    comment_id = string(comment, "id")
    user = obj(comment, "user")
    login = string(user, "login")
    key = _key(agent, repo, number)
    if our_login and login.casefold() == our_login.casefold():
        return IgnoreAction("our own comment")
    sender = payload.get("sender")
    sender_type = sender.get("type") if isinstance(sender, dict) else None
    if user.get("type") == "Bot" or sender_type == "Bot":
        return _refused(key, comment_id, login, "comment by a bot", "bot")
    association = comment.get("author_association")
    if not isinstance(association, str) or association.upper() not in trusted:
        shown = association if isinstance(association, str) and association else "missing"
        return _refused(
            key,
            comment_id,
            login,
            f"commenter not trusted (author_association {clean_name(shown)})",
            "untrusted_association",
        )
    body = comment.get("body")
    if not isinstance(body, str) or not body.strip():
        return IgnoreAction("empty comment")
    url = issue.get("html_url")
    comment_url = comment.get("html_url")
    text, cut_from = cut_message(body, max_chars, quoted=True)
    return CommentAction(
        Inbound(
            source="github",
            key=key,
            text=text,
            author_id=login,
            author_name=clean_name(login),
            item_ref=f"{repo}#{number}",
            item_url=url if isinstance(url, str) else None,
            comment_id=comment_id,
            comment_url=comment_url if isinstance(comment_url, str) else None,
            audience=repository_audience(obj(payload, "repository")).value,
            cut_from=cut_from,
        )
    )


def _refused(key: str, comment_id: str, login: str, reason: str, label: str) -> RefuseAction:
    return RefuseAction(key, github_comment_ref("", comment_id), login, reason, label)


def github_comment_ref(item_ref: str, comment_id: str) -> str:
    """Comment ids are unique across GitHub."""
    return f"github:comment:{comment_id}"


def _event_of(headers: Mapping[str, str], payload: Mapping[str, Any]) -> str:
    event = headers.get(EVENT_HEADER, "").strip()
    if not event:
        raise BadRequest(f"missing {EVENT_HEADER} header")
    return event


def github_spec(trusted: frozenset[str]) -> WebhookSpec:
    """GitHub's webhook, where comments by ``trusted`` associations start turns."""
    return WebhookSpec(
        source="github",
        signature_header=SIGNATURE_HEADER,
        delivery_header=DELIVERY_HEADER,
        verify=verify_github_signature,
        event_of=_event_of,
        parse=partial(parse_github_event, trusted=frozenset(a.upper() for a in trusted)),
        comment_ref=github_comment_ref,
    )


def make_github_handler(
    *,
    secret: Secret,
    store: Store,
    agent: str,
    identity: Callable[[], str | None],
    max_body: int,
    wake: Callable[[], None],
    trusted: frozenset[str],
    on_refused: Callable[[str, str], None],
    max_chars: int = DEFAULT_MAX_CHARS,
    max_pending: int = DEFAULT_MAX_PENDING,
) -> Handler:
    """The ``POST /webhooks/github`` handler; ``identity()`` returns our login, when known."""
    return make_handler(
        github_spec(trusted),
        secret=secret,
        store=store,
        agent=agent,
        identity=identity,
        max_body=max_body,
        wake=wake,
        on_refused=on_refused,
        max_chars=max_chars,
        max_pending=max_pending,
    )


def _key(agent: str, repo: str, number: int) -> str:
    return str(ConversationKey.github(agent, repo, number))
