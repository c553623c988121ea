"""Jira webhooks: ``comment_created`` (answer it), deleted or resolved issues (unlink).

Configure a Jira Cloud webhook (System → WebHooks) with the secret in ``JIRA_WEBHOOK_SECRET``
and the events *Comment: created*, *Issue: updated* and *Issue: deleted*; a JQL filter such as
``project in (AD, OPS)`` keeps the traffic down. Jira signs with
``X-Hub-Signature: sha256=<hex>`` and names each delivery in ``X-Atlassian-Webhook-Identifier``.

Who may speak: only licensed users (``comment.author.accountType == "atlassian"``). Service
Management customers (``customer``), apps and automation (``app``) and authors whose account
type the payload does not give are refused. A comment's audience follows
``app.integrations.audience``: public when customers can see it in a service project.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.config import Secret
from app.core import ConversationKey, Inbound
from app.core.bounds import cut_message
from app.core.text import clean_name
from app.integrations.adf import adf_to_text
from app.integrations.audience import jira_comment_audience
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
    make_handler,
    obj,
    string,
    verify_hmac_sha256,
)

SIGNATURE_HEADER = "X-Hub-Signature"
DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"
LICENSED = "atlassian"
# accountType -> (the 200's ``ignored`` reason, the metrics label)
_REFUSED = {
    "customer": ("comment by a customer", "customer"),
    "app": ("comment by an app", "app"),
}


def verify_jira_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature: sha256=<hex>`` over the raw body, compared in constant time."""
    return verify_hmac_sha256(secret, body, header)


def parse_jira_event(
    event: str,
    payload: Mapping[str, Any],
    agent: str,
    our_account: str | None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Action:
    """What to do with one Jira delivery (pure; ``BadRequest`` on a malformed payload).

    ``event`` is the payload's ``webhookEvent``; ``our_account`` our own accountId. A
    comment's text is cut to ``max_chars`` as it reaches Claude, quoted.
    """
    if event == "comment_created":
        return _comment(payload, agent, our_account, max_chars)
    if event == "jira:issue_deleted":
        return UnlinkAction(_key(agent, _issue_key(payload)), "jira issue deleted")
    if event == "jira:issue_updated":
        if _resolved(payload):
            return UnlinkAction(_key(agent, _issue_key(payload)), "jira issue resolved")
        return IgnoreAction("issue updated, not resolved")
    return IgnoreAction(f"event {event or 'unnamed'}")


def jira_comment_ref(item_ref: str, comment_id: str) -> str:
    """Jira comment ids are unique per issue only."""
    return f"jira:comment:{item_ref}/{comment_id}"


def _issue_key(payload: Mapping[str, Any]) -> str:
    return string(obj(payload, "issue"), "key").upper()


def _resolved(payload: Mapping[str, Any]) -> bool:
    fields = obj(payload, "issue").get("fields")
    if isinstance(fields, dict) and fields.get("resolution") is not None:
        return True
    changelog = payload.get("changelog")
    items = changelog.get("items") if isinstance(changelog, dict) else None
    for item in items if isinstance(items, list) else []:
        if (
            isinstance(item, dict)
            and str(item.get("field", "")).lower() == "resolution"
            and (item.get("to") or item.get("toString"))
        ):
            return True
    return False


def _comment(
    payload: Mapping[str, Any], agent: str, our_account: str | None, max_chars: int
) -> Action:
    issue = obj(payload, "issue")
    key = string(issue, "key").upper()
    comment = obj(payload, "comment")
    comment_id = string(comment, "id")
    author = obj(comment, "author")
    account = string(author, "accountId")
    if our_account and account == our_account:
        return IgnoreAction("our own comment")
    account_type = author.get("accountType")
    if account_type != LICENSED:
        reason, label = _REFUSED.get(
            str(account_type), ("comment by an account of unknown type", "unknown_account_type")
        )
        return RefuseAction(
            _key(agent, key), jira_comment_ref(key, comment_id), account, reason, label
        )
    text = adf_to_text(comment.get("body"))
    if not text.strip():
        return IgnoreAction("empty comment")
    name = author.get("displayName")
    browse = _browse_url(issue, key)
    kept, cut_from = cut_message(text, max_chars, quoted=True)
    return CommentAction(
        Inbound(
            source="jira",
            key=_key(agent, key),
            text=kept,
            author_id=account,
            author_name=clean_name(name) if isinstance(name, str) and name.strip() else None,
            item_ref=key,
            item_url=browse,
            comment_id=comment_id,
            comment_url=f"{browse}?focusedCommentId={comment_id}" if browse else None,
            audience=jira_comment_audience(comment, issue).value,
            cut_from=cut_from,
        )
    )


def _browse_url(issue: Mapping[str, Any], key: str) -> str | None:
    """``https://acme.atlassian.net/browse/AD-12``, from the issue's REST ``self`` link."""
    self_link = issue.get("self")
    if not isinstance(self_link, str) or "/rest/" not in self_link:
        return None
    return f"{self_link.split('/rest/', 1)[0]}/browse/{key}"


def _event_of(headers: Mapping[str, str], payload: Mapping[str, Any]) -> str:
    event = payload.get("webhookEvent")
    return event if isinstance(event, str) else ""


JIRA = WebhookSpec(
    source="jira",
    signature_header=SIGNATURE_HEADER,
    delivery_header=DELIVERY_HEADER,
    verify=verify_jira_signature,
    event_of=_event_of,
    parse=parse_jira_event,
    comment_ref=jira_comment_ref,
)


def make_jira_handler(
    *,
    secret: Secret,
    store: Store,
    agent: str,
    identity: Callable[[], str | None],
    max_body: int,
    wake: Callable[[], None],
    on_refused: Callable[[str, str], None],
    max_chars: int = DEFAULT_MAX_CHARS,
    max_pending: int = DEFAULT_MAX_PENDING,
) -> Handler:
    """The ``POST /webhooks/jira`` handler; ``identity()`` returns our accountId, when known."""
    return make_handler(
        JIRA,
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


def _key(agent: str, issue_key: str) -> str:
    return str(ConversationKey.jira(agent, issue_key))
