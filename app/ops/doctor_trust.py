"""``doctor``'s trust checks: settings that let outsiders drive the bot or internal content
reach public places, and Slack scopes the audience rule needs.

All pure: they read ``Settings`` (and the scopes Slack reported for the token), never the
network, so they are tested with plain values.

=======================  ======================================================  ==========
check                    when                                                    status
=======================  ======================================================  ==========
``public replies``       ``PUBLIC_REPLIES=allow``                                WARN
``github associations``  ``GITHUB_TRUSTED_ASSOCIATIONS`` beyond OWNER, MEMBER,    WARN
                         COLLABORATOR (GitHub configured)
``slack scopes``         a scope the app cannot work without is missing          FAIL
                         ``channels:read``/``groups:read`` missing               WARN
                         Slack did not report the scopes                         SKIP
=======================  ======================================================  ==========
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from app.config import Settings
from app.ops.checks import Check, failed, passed, skipped, warned

# Bot scopes the app cannot work without (manifest.json has the full list).
REQUIRED_SLACK_SCOPES: Final = (
    "app_mentions:read",
    "assistant:write",
    "chat:write",
    "im:history",
    "users:read",
)
# What conversations.info needs to tell a channel shared with another organisation (Slack
# Connect) from an internal one, when an event does not say.
AUDIENCE_SLACK_SCOPES: Final = ("channels:read", "groups:read")
# author_association values of people inside the organisation.
INSIDE_ASSOCIATIONS: Final = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
SCOPES_FIX: Final = "add them under OAuth & Permissions → Bot Token Scopes, then reinstall the app"


def missing_scopes(granted_header: str | None) -> list[str]:
    """Required bot scopes absent from an ``x-oauth-scopes`` header (none when no header)."""
    return _absent(REQUIRED_SLACK_SCOPES, granted_header)


def _absent(wanted: Collection[str], granted_header: str | None) -> list[str]:
    if granted_header is None:
        return []
    granted = {s.strip() for s in granted_header.split(",")} - {""}
    return [s for s in wanted if s not in granted]


def slack_scopes(granted_header: str | None) -> Check:
    """The ``slack scopes`` check from ``auth.test``'s ``x-oauth-scopes`` header."""
    if granted_header is None:
        return skipped("slack scopes", "Slack did not report the token's scopes")
    required = missing_scopes(granted_header)
    audience = _absent(AUDIENCE_SLACK_SCOPES, granted_header)
    if required:
        return failed(
            "slack scopes", f"the token lacks {', '.join(required + audience)}", SCOPES_FIX
        )
    if audience:
        return warned(
            "slack scopes",
            f"the token lacks {', '.join(audience)}: when an event does not say whether a "
            "channel is shared with another organisation, Threadline cannot ask Slack, so it "
            "treats the channel as public and keeps internal answers out of it",
            SCOPES_FIX,
        )
    return passed("slack scopes", "the token has every scope Threadline uses")


def trust_checks(s: Settings, broken: Collection[str]) -> list[Check]:
    """``public replies``, and ``github associations`` when GitHub is configured; each is
    skipped while its own setting is malformed (the config check names it)."""
    checks = [_public_replies(s, broken)]
    if s.github is not None:
        checks.append(_github_associations(s, broken))
    return checks


def _public_replies(s: Settings, broken: Collection[str]) -> Check:
    name = "public replies"
    if "PUBLIC_REPLIES" in broken:
        return skipped(name, "not checked until PUBLIC_REPLIES is fixed")
    if s.trust.public_replies == "allow":
        return warned(
            name,
            "PUBLIC_REPLIES=allow: internal conversations can be posted on public repositories "
            "and customer-visible Jira comments",
            "unset PUBLIC_REPLIES (redirect: such answers go to the conversation's Slack "
            "thread) unless everything said to the bot may be public",
        )
    return passed(name, "answers from internal conversations never go to public places")


def _github_associations(s: Settings, broken: Collection[str]) -> Check:
    name = "github associations"
    if "GITHUB_TRUSTED_ASSOCIATIONS" in broken:
        return skipped(name, "not checked until GITHUB_TRUSTED_ASSOCIATIONS is fixed")
    assert s.github is not None
    trusted = s.github.trusted_associations
    outside = sorted(trusted - INSIDE_ASSOCIATIONS)
    if outside:
        return warned(
            name,
            f"GITHUB_TRUSTED_ASSOCIATIONS includes {', '.join(outside)}: comments from outside "
            "the organisation can start turns",
            "keep GITHUB_TRUSTED_ASSOCIATIONS to OWNER, MEMBER, COLLABORATOR (the default)",
        )
    shown = ", ".join(sorted(trusted)) or "nobody"
    return passed(name, f"GitHub comments start turns only from {shown}")
