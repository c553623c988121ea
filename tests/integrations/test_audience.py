"""The audience rules for a GitHub repository and a Jira comment, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from app.core import Audience
from app.integrations.audience import (
    jira_comment_audience,
    jira_project_type,
    repository_audience,
)

PUBLIC, INTERNAL = Audience.PUBLIC, Audience.INTERNAL


@pytest.mark.parametrize(
    ("repository", "audience"),
    [
        ({"private": False, "visibility": "public"}, PUBLIC),
        ({"private": True, "visibility": "private"}, INTERNAL),
        ({"private": True, "visibility": "internal"}, INTERNAL),
        ({"private": True, "visibility": "PRIVATE"}, INTERNAL),
        # visibility wins over a contradicting flag; an unknown word falls back to the flag
        ({"private": True, "visibility": "public"}, PUBLIC),
        ({"private": True, "visibility": "secret"}, INTERNAL),
        ({"private": False}, PUBLIC),
        ({"private": True}, INTERNAL),
        ({"private": "yes"}, PUBLIC),
        ({}, PUBLIC),
    ],
)
def test_repository_audience(repository: dict[str, Any], audience: Audience) -> None:
    assert repository_audience(repository) is audience


def _issue(project_type: Any) -> dict[str, Any]:
    return {"key": "HELP-1", "fields": {"project": {"key": "HELP", "projectTypeKey": project_type}}}


@pytest.mark.parametrize(
    ("comment", "issue", "audience"),
    [
        ({"jsdPublic": True}, _issue("service_desk"), PUBLIC),
        ({}, _issue("service_desk"), PUBLIC),
        ({"jsdPublic": False}, _issue("service_desk"), INTERNAL),
        ({"jsdPublic": True}, _issue("software"), INTERNAL),
        ({"jsdPublic": True}, _issue("business"), INTERNAL),
        ({"jsdPublic": True}, _issue(None), PUBLIC),
        ({"jsdPublic": True}, {"key": "HELP-1"}, PUBLIC),
        ({"jsdPublic": False}, {"key": "HELP-1", "fields": {}}, INTERNAL),
        ({}, {"key": "HELP-1", "fields": {"project": "HELP"}}, INTERNAL),
    ],
)
def test_jira_comment_audience(
    comment: dict[str, Any], issue: dict[str, Any], audience: Audience
) -> None:
    assert jira_comment_audience(comment, issue) is audience


def test_jira_project_type() -> None:
    assert jira_project_type(_issue("service_desk")) == "service_desk"
    assert jira_project_type(_issue("")) is None
    assert jira_project_type({"fields": None}) is None
