"""Signing in to the dashboard in a real browser: the operator token, Sign in with Slack,
the cookies, CSRF and sign-out."""

from __future__ import annotations

from typing import Any

from tests.dashboard.conftest import sign_in_with_token
from tests.harness import Running


async def test_an_operator_signs_in_with_the_token_and_out_again(
    page: Any, dashboard: Running
) -> None:
    await page.goto("/dashboard")
    assert page.url == dashboard.url + "/dashboard/signin"
    await sign_in_with_token(page)
    assert page.url == dashboard.url + "/dashboard/"
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_load_state()
    assert page.url == dashboard.url + "/dashboard/signin"
