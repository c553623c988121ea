"""``doctor``'s trust checks and Slack scopes as pure functions of the settings (the CLI runs
of them are in ``test_doctor.py``)."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.ops.doctor_trust import (
    AUDIENCE_SLACK_SCOPES,
    REQUIRED_SLACK_SCOPES,
    missing_scopes,
    slack_scopes,
    trust_checks,
)

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-test",
    "SLACK_SIGNING_SECRET": "s",
    "ANTHROPIC_API_KEY": "sk-ant-test",
}
GITHUB = {"GITHUB_TOKEN": "ghp_x", "GITHUB_REPOS": "acme/widgets"}


def test_missing_scopes() -> None:
    assert missing_scopes(None) == []
    assert missing_scopes(",".join(REQUIRED_SLACK_SCOPES)) == []
    assert missing_scopes("chat:write, app_mentions:read, users:read") == [
        "assistant:write",
        "im:history",
    ]


@pytest.mark.parametrize(
    ("scopes", "status", "detail"),
    [
        (None, "skip", "Slack did not report the token's scopes"),
        (
            ",".join((*REQUIRED_SLACK_SCOPES, *AUDIENCE_SLACK_SCOPES)),
            "pass",
            "the token has every scope Threadline uses",
        ),
        (",".join((*REQUIRED_SLACK_SCOPES, "channels:read")), "warn", "lacks groups:read: "),
        (",".join(REQUIRED_SLACK_SCOPES), "warn", "lacks channels:read, groups:read: "),
        # a required one missing fails, and names the audience ones too
        ("chat:write", "fail", "lacks app_mentions:read, assistant:write, im:history, users:read"),
        ("", "fail", "lacks app_mentions:read"),
    ],
)
def test_slack_scopes(scopes: str | None, status: str, detail: str) -> None:
    check = slack_scopes(scopes)
    assert check.name == "slack scopes"
    assert (check.status, detail in check.detail) == (status, True), check


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, [("public replies", "pass")]),
        ({"PUBLIC_REPLIES": "allow"}, [("public replies", "warn")]),
        ({**GITHUB}, [("public replies", "pass"), ("github associations", "pass")]),
        (
            {**GITHUB, "GITHUB_TRUSTED_ASSOCIATIONS": "OWNER,MEMBER"},
            [("public replies", "pass"), ("github associations", "pass")],
        ),
        (
            {**GITHUB, "GITHUB_TRUSTED_ASSOCIATIONS": "OWNER,FIRST_TIME_CONTRIBUTOR"},
            [("public replies", "pass"), ("github associations", "warn")],
        ),
        (
            {**GITHUB, "PUBLIC_REPLIES": "allow", "GITHUB_TRUSTED_ASSOCIATIONS": "NONE"},
            [("public replies", "warn"), ("github associations", "warn")],
        ),
        # a malformed setting is reported by the config check; its trust check waits for it
        (
            {**GITHUB, "PUBLIC_REPLIES": "always", "GITHUB_TRUSTED_ASSOCIATIONS": "EVERYONE"},
            [("public replies", "skip"), ("github associations", "skip")],
        ),
    ],
)
def test_trust_checks(env: dict[str, str], expected: list[tuple[str, str]]) -> None:
    settings, invalid = Settings.best_effort({**BASE, **env})
    broken = {p.setting for p in invalid.problems} if invalid is not None else set()
    assert [(c.name, c.status) for c in trust_checks(settings, broken)] == expected


def test_warnings_name_what_opened_up() -> None:
    settings = Settings.from_mapping(
        {**BASE, **GITHUB, "GITHUB_TRUSTED_ASSOCIATIONS": "OWNER,CONTRIBUTOR,NONE,MEMBER"}
    )
    _, associations = trust_checks(settings, set())
    assert associations.detail == (
        "GITHUB_TRUSTED_ASSOCIATIONS includes CONTRIBUTOR, NONE: comments from outside the "
        "organisation can start turns"
    )
    assert associations.fix is not None and "OWNER, MEMBER, COLLABORATOR" in associations.fix
