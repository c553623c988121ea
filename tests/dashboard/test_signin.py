"""Signing in to the dashboard in a real browser: the operator token, Sign in with Slack,
the cookies, CSRF and sign-out; and, over plain HTTP, what a browser would not show."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from playwright.async_api import Error as PlaywrightError

from app.config import Secret
from app.dashboard.cookies import CookieSigner, derive_key
from tests.dashboard.conftest import TOKEN, StartDashboard, sign_in_with_token
from tests.fakes.slack import FakeSlack
from tests.harness import Running, base_env, mention, run_app

SignInWithSlack = Callable[..., Awaitable[Any]]


async def session_cookie(page: Any) -> dict[str, Any] | None:
    cookies = await page.context.cookies()
    return next((c for c in cookies if c["name"] == "threadline_dashboard"), None)


# the operator token ---------------------------------------------------------------------------
async def test_an_operator_signs_in_with_the_token_and_out_again(
    page: Any, dashboard: Running
) -> None:
    await page.goto("/dashboard")
    assert page.url == dashboard.url + "/dashboard/signin"
    assert await page.get_by_label("Operator token").get_attribute("type") == "password"
    await sign_in_with_token(page)
    assert page.url == dashboard.url + "/dashboard/"
    assert "Operator" in await page.locator("header").inner_text()
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_load_state()
    assert page.url == dashboard.url + "/dashboard/signin"
    assert await session_cookie(page) is None
    await page.goto("/dashboard/")
    assert page.url == dashboard.url + "/dashboard/signin"


async def test_a_wrong_token_is_told_plainly_and_signs_nobody_in(page: Any) -> None:
    await page.goto("/dashboard/signin")
    await page.get_by_label("Operator token").fill("not-the-token-at-all")
    async with page.expect_response(re.compile(r"/dashboard/signin$")) as answer:
        await page.get_by_role("button", name="Sign in", exact=True).click()
    assert (await answer.value).status == 401
    assert await page.get_by_role("alert").inner_text() == "That token is not right."
    assert await session_cookie(page) is None


async def test_the_page_asked_for_is_shown_after_signing_in(page: Any, dashboard: Running) -> None:
    await page.goto("/dashboard/?q=deploy")
    assert page.url.startswith(dashboard.url + "/dashboard/signin?next=")
    await page.get_by_label("Operator token").fill(TOKEN)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_load_state()
    assert page.url == dashboard.url + "/dashboard/?q=deploy"


async def test_the_session_cookie_is_httponly_lax_and_bounded(signed_in_page: Any) -> None:
    cookie = await session_cookie(signed_in_page)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # PUBLIC_URL is http here; see the https test below
    assert cookie["path"] == "/dashboard"
    lifetime = cookie["expires"] - time.time()
    assert 11.9 * 3600 < lifetime <= 12 * 3600
    assert await signed_in_page.evaluate("document.cookie") == ""  # scripts cannot read it


async def test_a_tampered_session_cookie_is_a_signed_out_visitor(
    signed_in_page: Any, dashboard: Running
) -> None:
    page = signed_in_page
    cookie = await session_cookie(page)
    assert cookie is not None
    payload, signature = cookie["value"].split(".")
    forged = payload[:-3] + ("xyz" if not payload.endswith("xyz") else "abc") + "." + signature
    await page.context.add_cookies([{**cookie, "value": forged}])
    await page.goto("/dashboard/")
    assert page.url == dashboard.url + "/dashboard/signin"


async def test_a_post_without_its_csrf_token_is_403(signed_in_page: Any) -> None:
    page = signed_in_page
    missing = await page.request.post("/dashboard/signout", form={}, max_redirects=0)
    wrong = await page.request.post(
        "/dashboard/signout", form={"csrf_token": "guess"}, max_redirects=0
    )
    assert (missing.status, wrong.status) == (403, 403)
    assert await session_cookie(page) is not None  # still signed in
    await page.goto("/dashboard/")
    assert await page.get_by_role("button", name="Sign out").is_visible()


async def test_a_post_without_a_session_is_401_and_a_page_redirects(dashboard: Running) -> None:
    async with dashboard.http.post(
        dashboard.url + "/dashboard/signout", data={"csrf_token": "x"}, allow_redirects=False
    ) as r:
        assert r.status == 401
    async with dashboard.http.get(
        dashboard.url + "/dashboard/sessions/whatever", allow_redirects=False
    ) as r:
        assert r.status == 303
        location = urlsplit(r.headers["Location"])
        assert location.path == "/dashboard/signin"
        assert parse_qs(location.query) == {"next": ["/dashboard/sessions/whatever"]}
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


async def test_the_pages_work_under_their_content_security_policy(
    browser: Any, dashboard: Running
) -> None:
    """The dashboard's own script runs, an injected inline one does not, and nothing the
    pages do is refused by the policy (the other tests bypass it)."""
    assert await dashboard.send_event(mention("a conversation to look at")) == 200
    await dashboard.idle()
    context = await browser.new_context(base_url=dashboard.url)
    refused: list[str] = []
    try:
        page = await context.new_page()
        page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else 0)
        await sign_in_with_token(page)
        await page.goto("/dashboard/")
        stamp = page.locator("main time[datetime]").first
        assert await stamp.get_attribute("title") == await stamp.get_attribute("datetime")
        await page.locator("main a[href^='/dashboard/sessions/']").first.click()
        await page.wait_for_load_state()
        with pytest.raises(PlaywrightError, match="Content Security Policy"):
            await page.add_script_tag(content="window.injected = true")
        assert await page.evaluate("window.injected === undefined")
    finally:
        await context.close()
    assert [m for m in refused if "inline script" not in m] == []


# Sign in with Slack ---------------------------------------------------------------------------
async def test_a_workspace_member_signs_in_with_slack(
    page: Any, dashboard: Running, slack: FakeSlack, sign_in_with_slack: SignInWithSlack
) -> None:
    await sign_in_with_slack(page, "U2", name="Grace Hopper")
    assert page.url == dashboard.url + "/dashboard/"
    assert "Grace Hopper" in await page.locator("header").inner_text()
    visit = slack.oidc.authorize_requests[-1].params
    assert visit["redirect_uri"] == dashboard.url + "/dashboard/oidc/callback"
    assert visit["team"] == "T1" and visit["scope"] == "openid profile"
    assert len(visit["state"]) >= 32 and len(visit["nonce"]) >= 32
    exchange = slack.oidc.token_requests[-1]
    assert exchange["client_id"] == slack.oidc.client_id
    assert exchange["redirect_uri"] == visit["redirect_uri"]
    cookie = await session_cookie(page)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    names = {c["name"] for c in await page.context.cookies()}
    assert "threadline_oidc" not in names  # the one-time state is spent


async def test_a_member_of_another_workspace_is_refused(
    page: Any, dashboard: Running, sign_in_with_slack: SignInWithSlack
) -> None:
    await sign_in_with_slack(page, "U5", team_id="T_OTHER", name="Mallory")
    assert urlsplit(page.url).path == "/dashboard/oidc/callback"
    assert (
        "Only members of this bot's Slack workspace" in await page.get_by_role("alert").inner_text()
    )
    assert await session_cookie(page) is None
    _, metrics = await dashboard.get("/metrics")
    assert 'threadline_dashboard_signins_total{method="slack",outcome="refused"} 1.0' in metrics


async def leave_for_slack(page: Any, slack: FakeSlack) -> str:
    """Click "Sign in with Slack" and stop at Slack's consent page: the address it would send
    the browser back to."""
    slack.oidc.ask_consent = True
    await page.goto("/dashboard/signin")
    await page.get_by_role("link", name="Sign in with Slack").click()
    back: str = await page.get_by_role("link", name="Allow").get_attribute("href")
    return back


async def test_a_forged_state_is_refused(page: Any, dashboard: Running, slack: FakeSlack) -> None:
    slack.oidc.sign_in_as("U2")
    back = await leave_for_slack(page, slack)
    code = parse_qs(urlsplit(back).query)["code"][0]
    response = await page.goto(f"/dashboard/oidc/callback?code={code}&state=forged-state")
    assert response.status == 400
    assert "start again" in await page.get_by_role("alert").inner_text()
    assert await session_cookie(page) is None
    assert slack.oidc.token_requests == []  # the code was never even exchanged
    response = await page.goto(back)  # and the state is spent: the real answer is late now
    assert response.status == 400
    assert await session_cookie(page) is None


async def test_a_callback_in_another_browser_is_refused(
    browser: Any, page: Any, dashboard: Running, slack: FakeSlack
) -> None:
    """A link from Slack carried to another browser (a login-CSRF attempt) signs nobody in."""
    slack.oidc.sign_in_as("U2")
    back = await leave_for_slack(page, slack)
    victim = await browser.new_context(base_url=dashboard.url)
    try:
        other = await victim.new_page()
        response = await other.goto(back)
        assert response.status == 400
        assert not any(c["name"] == "threadline_dashboard" for c in await victim.cookies())
        assert slack.oidc.token_requests == []
    finally:
        await victim.close()


async def test_cancelling_at_slack_is_told(page: Any, slack: FakeSlack) -> None:
    slack.oidc.deny_next()
    await page.goto("/dashboard/signin")
    await page.get_by_role("link", name="Sign in with Slack").click()
    await page.wait_for_load_state()
    assert await page.get_by_role("alert").inner_text() == "Sign in with Slack was cancelled."
    assert await session_cookie(page) is None


async def test_wrong_app_credentials_are_an_operator_problem_not_a_crash(
    browser: Any, start_dashboard: StartDashboard, slack: FakeSlack
) -> None:
    async with start_dashboard({"SLACK_CLIENT_SECRET": "not-the-secret"}) as running:
        context = await browser.new_context(base_url=running.url)
        try:
            page = await context.new_page()
            await page.goto("/dashboard/signin")
            await page.get_by_role("link", name="Sign in with Slack").click()
            await page.wait_for_load_state()
            assert "not working right now" in await page.get_by_role("alert").inner_text()
            assert slack.oidc.token_requests[-1]["client_id"] == slack.oidc.client_id
        finally:
            await context.close()


# over plain HTTP ------------------------------------------------------------------------------
class SignInForm:
    """The sign-in page as a client without a browser sees it: its CSRF token and cookie."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.csrf = ""
        self.cookie = ""

    async def open(self, http: aiohttp.ClientSession) -> SignInForm:
        async with http.get(self.url + "/dashboard/signin") as r:
            self.read(r, await r.text())
        return self

    def read(self, response: aiohttp.ClientResponse, html: str) -> None:
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found is not None
        self.csrf = found.group(1)
        self.cookie = response.cookies["threadline_signin"].value

    async def post(
        self, http: aiohttp.ClientSession, **fields: str
    ) -> tuple[aiohttp.ClientResponse, str]:
        async with http.post(
            self.url + "/dashboard/signin",
            data={"csrf_token": self.csrf, **fields},
            headers={"Cookie": f"threadline_signin={self.cookie}"},
            allow_redirects=False,
        ) as r:
            return r, await r.text()


async def test_the_cookie_is_secure_when_the_public_url_is_https(
    start_dashboard: StartDashboard,
) -> None:
    async with start_dashboard({"PUBLIC_URL": "https://threadline.example.com"}) as running:
        form = await SignInForm(running.url).open(running.http)
        answer, _ = await form.post(running.http, token=TOKEN)
        assert answer.status == 303
        cookie = answer.cookies["threadline_dashboard"]
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert cookie["path"] == "/dashboard"
        assert cookie["max-age"] == str(12 * 3600)
        # signing out removes it with the same flags (a browser may keep a cookie otherwise)
        signed_in = f"threadline_dashboard={cookie.value}"
        async with running.http.get(
            running.url + "/dashboard/", headers={"Cookie": signed_in}
        ) as page:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
        assert csrf is not None
        async with running.http.post(
            running.url + "/dashboard/signout",
            data={"csrf_token": csrf[1]},
            headers={"Cookie": signed_in},
            allow_redirects=False,
        ) as out:
            assert out.status == 303
            removed = out.cookies["threadline_dashboard"]
        assert removed.value == "" and removed["max-age"] == "0"
        assert removed["secure"] is True
        assert removed["httponly"] is True
        assert removed["samesite"] == "Lax"
        assert removed["path"] == "/dashboard"


async def test_the_token_form_needs_its_csrf_token(dashboard: Running) -> None:
    form = await SignInForm(dashboard.url).open(dashboard.http)
    form.csrf = ""
    answer, _ = await form.post(dashboard.http, token=TOKEN)
    assert answer.status == 403
    form.cookie = ""  # no sign-in cookie at all
    form.csrf = "x"
    answer, _ = await form.post(dashboard.http, token=TOKEN)
    assert answer.status == 403


async def test_wrong_tokens_from_one_address_are_slowed_down(dashboard: Running) -> None:
    form = await SignInForm(dashboard.url).open(dashboard.http)
    statuses = []
    for _ in range(11):
        answer, html = await form.post(dashboard.http, token="wrong-token-0123456789")
        statuses.append(answer.status)
        form.read(answer, html)
    assert statuses == [401] * 10 + [429]
    assert "Too many wrong tries" in html
    answer, _ = await form.post(dashboard.http, token=TOKEN)  # the right token waits too
    assert answer.status == 429
    _, metrics = await dashboard.get("/metrics")
    assert 'threadline_dashboard_signins_total{method="token",outcome="refused"} 10.0' in metrics
    assert 'threadline_dashboard_signins_total{method="token",outcome="limited"} 2.0' in metrics


async def test_without_slack_settings_there_is_no_slack_sign_in(
    start_dashboard: StartDashboard,
) -> None:
    async with start_dashboard({"SLACK_CLIENT_ID": "", "SLACK_CLIENT_SECRET": ""}) as running:
        status, html = await running.get("/dashboard/signin")
        assert status == 200 and "Sign in with Slack" not in html and "Operator token" in html
        for path in ("/dashboard/signin/slack", "/dashboard/oidc/callback?code=x&state=y"):
            async with running.http.get(running.url + path, allow_redirects=False) as r:
                assert r.status == 404, path


async def test_without_any_sign_in_setting_the_dashboard_is_404(
    slack: FakeSlack, claude: Any, sqlite_url: str
) -> None:
    async with run_app(base_env(slack.url, claude.root_url, sqlite_url)) as running:
        for path in (
            "/dashboard",
            "/dashboard/",
            "/dashboard/signin",
            "/dashboard/signin/slack",
            "/dashboard/static/dashboard.css",
        ):
            async with running.http.get(running.url + path, allow_redirects=False) as r:
                assert r.status == 404, path
        async with running.http.post(
            running.url + "/dashboard/signin", data={"token": TOKEN}, allow_redirects=False
        ) as r:
            assert r.status == 404


async def test_hostile_sign_in_requests_get_a_4xx_and_sign_nobody_in(dashboard: Running) -> None:
    form = await SignInForm(dashboard.url).open(dashboard.http)
    signin = dashboard.url + "/dashboard/signin"
    cookie = {"Cookie": f"threadline_signin={form.cookie}"}
    hostile: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("POST", signin, b"--x\r\nbroken", {"Content-Type": "multipart/form-data", **cookie}),
        ("POST", signin, b"token=\xff\xfe&csrf_token=\xff", {**cookie}),
        (
            "POST",
            signin,
            b'{"token": "' + TOKEN.encode() + b'"}',
            {"Content-Type": "application/json"},
        ),
        (
            "GET",
            dashboard.url + "/dashboard/oidc/callback?state=" + "s" * 6000 + "&code=c",
            b"",
            {},
        ),
        ("GET", dashboard.url + "/dashboard/oidc/callback?state=a&state=b&code=c", b"", {}),
        (
            "GET",
            dashboard.url + "/dashboard/",
            b"",
            {"Cookie": "threadline_dashboard=" + "A." * 2000},
        ),
        ("GET", dashboard.url + "/dashboard/", b"", {"Cookie": 'threadline_dashboard="\\x00;."'}),
    ]
    for method, url, body, headers in hostile:
        async with dashboard.http.request(
            method, url, data=body, headers=headers, allow_redirects=False
        ) as r:
            assert r.status in (303, 400, 401, 403, 413, 414, 431), (url[:80], r.status)
            assert "threadline_dashboard" not in r.cookies, url[:80]


async def test_a_session_holds_across_replicas_and_restarts_until_a_secret_changes(
    start_dashboard: StartDashboard,
) -> None:
    async with start_dashboard() as first:
        form = await SignInForm(first.url).open(first.http)
        answer, _ = await form.post(first.http, token=TOKEN)
        session = {"Cookie": f"threadline_dashboard={answer.cookies['threadline_dashboard'].value}"}
    for env, expected in (({}, 200), ({"DASHBOARD_TOKEN": TOKEN + "-rotated"}, 303)):
        async with (
            start_dashboard(env) as other,
            other.http.get(other.url + "/dashboard/", headers=session, allow_redirects=False) as r,
        ):
            assert r.status == expected, env


async def test_an_expired_session_is_refused_even_if_the_browser_keeps_it(
    dashboard: Running, slack: FakeSlack
) -> None:
    key = derive_key([Secret(slack.oidc.client_secret), Secret(TOKEN)])
    fields = {"u": None, "n": "Operator", "t": None, "m": "token", "c": "x" * 43}
    signer = CookieSigner(key)
    fresh = signer.seal("session", fields, now=time.time(), lifetime=60)
    stale = signer.seal("session", fields, now=time.time() - 13 * 3600, lifetime=12 * 3600)
    for value, expected in ((fresh, 200), (stale, 303)):
        async with dashboard.http.get(
            dashboard.url + "/dashboard/",
            headers={"Cookie": f"threadline_dashboard={value}"},
            allow_redirects=False,
        ) as r:
            assert r.status == expected
