"""The pure parts of the shared HTTP plumbing: waits and upstream explanations."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.integrations.http import Upstream, error_for, retry_after_seconds, upstream_detail

NOW = 1_763_700_000.0
GITHUB = Upstream("GitHub", "GITHUB_TOKEN", ("ghp_secret_value",))


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "Fri, 21 Nov 2025 04:40:10 GMT"}, 10.0),
        ({"Retry-After": "soon"}, None),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 42)}, 42.0),
        ({"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": str(int(NOW) + 42)}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], wait: float | None) -> None:
    assert retry_after_seconds(httpx.Headers(headers), now=NOW) == wait


def response(status: int, body: Any = None, text: str | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text)
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("resp", "detail"),
    [
        (
            response(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {"resource": "Issue", "field": "title", "code": "missing_field"},
                        {"message": "body is too long (maximum is 65536 characters)"},
                        "plain string",
                    ],
                },
            ),
            "Validation Failed; title missing field; body is too long (maximum is 65536 "
            "characters); plain string",
        ),
        (
            response(400, {"errorMessages": ["Bad"], "errors": {"summary": "Too long"}}),
            "Bad; summary: Too long",
        ),
        (response(500, text="<html><body>Internal error</body></html>"), ""),
        (response(400, ["unexpected", "shape"]), ""),
        (
            response(401, {"message": "token ghp_secret_value is revoked"}),
            "token [redacted] is revoked",
        ),
    ],
)
def test_upstream_detail(resp: httpx.Response, detail: str) -> None:
    assert upstream_detail(GITHUB, resp) == detail


def test_unexpected_statuses_are_still_integration_errors() -> None:
    err = error_for(GITHUB, response(418, {"message": "I'm a teapot"}), "issue x#1")
    assert (err.status, err.message) == (418, "unexpected response (418): I'm a teapot")


def test_the_upstream_repr_hides_its_secrets() -> None:
    assert "ghp_secret_value" not in repr(GITHUB)
