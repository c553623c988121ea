"""HMAC-SHA256 signature checks of GitHub and Jira deliveries."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest

from app.webhooks.github import verify_github_signature
from app.webhooks.jira import verify_jira_signature
from tests.fakes.github import github_webhook
from tests.fakes.jira import jira_webhook

SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
# The example from GitHub's documentation on validating webhook deliveries.
GITHUB_DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

Verify = Callable[[bytes, bytes, str | None], bool]


@pytest.fixture(params=[verify_github_signature, verify_jira_signature], ids=["github", "jira"])
def verify(request: pytest.FixtureRequest) -> Verify:
    verifier: Verify = request.param
    return verifier


def test_githubs_documented_example_verifies() -> None:
    assert verify_github_signature(SECRET, BODY, GITHUB_DOC_SIGNATURE)


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        (sign(BODY), True),
        (sign(BODY).upper().replace("SHA256=", "sha256="), True),
        (f"  {sign(BODY)}  ", True),
        (sign(BODY, b"another secret"), False),
        (sign(BODY + b" "), False),
        (None, False),
        ("", False),
        ("sha256=", False),
        (sign(BODY).replace("sha256=", "sha1="), False),
        (sign(BODY).replace("sha256=", ""), False),
        ("sha256=ünïcødé", False),
    ],
)
def test_signatures(verify: Verify, header: str | None, valid: bool) -> None:
    assert verify(SECRET, BODY, header) is valid


def test_an_empty_secret_never_verifies(verify: Verify) -> None:
    assert verify(b"", BODY, sign(BODY, b"")) is False


def test_the_fakes_sign_like_the_platforms() -> None:
    body, headers = github_webhook("s3cret", "ping", {"zen": "Keep it logically awesome."})
    assert verify_github_signature(b"s3cret", body, headers["X-Hub-Signature-256"])
    body, headers = jira_webhook("s3cret", {"webhookEvent": "jira:issue_updated"})
    assert verify_jira_signature(b"s3cret", body, headers["X-Hub-Signature"])
