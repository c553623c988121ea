"""The fake Slack's Sign in with Slack side behaves like Slack's, through real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import jwt
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack

REDIRECT = "https://threadline.example.com/dashboard/oidc/callback"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


async def authorize(slack: FakeSlack, **params: str) -> aiohttp.ClientResponse:
    query = {
        "response_type": "code",
        "scope": "openid profile",
        "client_id": slack.oidc.client_id,
        "redirect_uri": REDIRECT,
        "state": "st",
        "nonce": "no",
        **params,
    }
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{slack.root_url}/openid/connect/authorize?{urlencode(query)}", allow_redirects=False
        ) as r,
    ):
        await r.read()
        return r


async def code_from(slack: FakeSlack, **params: str) -> str:
    answer = await authorize(slack, **params)
    assert answer.status == 302
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    query = parse_qs(back.query)
    assert query["state"] == ["st"]
    return query["code"][0]


async def test_the_whole_flow_with_slack_sdk(slack: FakeSlack) -> None:
    slack.oidc.sign_in_as("U2", name="Grace Hopper")
    code = await code_from(slack)
    client = AsyncWebClient(base_url=slack.url)
    answer = await client.api_call(
        "openid.connect.token",
        data={
            "client_id": slack.oidc.client_id,
            "client_secret": slack.oidc.client_secret,
            "code": code,
            "redirect_uri": REDIRECT,
        },
    )
    assert answer["token_type"] == "Bearer" and answer["access_token"].startswith("xoxp-")
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{slack.root_url}/openid/connect/keys") as r,
    ):
        keys = jwt.PyJWKSet.from_dict(await r.json())
    token = answer["id_token"]
    key = keys[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(
        token,
        key=key,
        algorithms=["RS256"],
        audience=slack.oidc.client_id,
        issuer="https://slack.com",
    )
    assert claims["nonce"] == "no" and claims["sub"] == "U2"
    assert claims["https://slack.com/team_id"] == "T1" and claims["name"] == "Grace Hopper"
    info = await AsyncWebClient(token=answer["access_token"], base_url=slack.url).api_call(
        "openid.connect.userInfo"
    )
    assert info["https://slack.com/user_id"] == "U2" and info["email_verified"] is True


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_id": "9.9"}, "invalid_client_id"),
        ({"client_secret": "nope"}, "bad_client_secret"),
        ({"code": "made-up"}, "invalid_code"),
        ({"redirect_uri": "https://evil.example/cb"}, "bad_redirect_uri"),
    ],
)
async def test_code_exchange_errors_are_slacks(
    slack: FakeSlack, change: dict[str, str], error: str
) -> None:
    form = {
        "client_id": slack.oidc.client_id,
        "client_secret": slack.oidc.client_secret,
        "code": await code_from(slack),
        "redirect_uri": REDIRECT,
        **change,
    }
    with pytest.raises(SlackApiError) as raised:
        await AsyncWebClient(base_url=slack.url).api_call("openid.connect.token", data=form)
    assert raised.value.response["error"] == error


async def test_a_code_works_once(slack: FakeSlack) -> None:
    form = {
        "client_id": slack.oidc.client_id,
        "client_secret": slack.oidc.client_secret,
        "code": await code_from(slack),
    }
    client = AsyncWebClient(base_url=slack.url)
    await client.api_call("openid.connect.token", data=form)
    with pytest.raises(SlackApiError, match="invalid_code"):
        await client.api_call("openid.connect.token", data=form)


async def test_the_authorize_page_refuses_what_slack_refuses(slack: FakeSlack) -> None:
    assert (await authorize(slack, client_id="9.9")).status == 400
    assert (await authorize(slack, scope="profile")).status == 400
    slack.oidc.deny_next()
    answer = await authorize(slack)
    assert parse_qs(urlsplit(answer.headers["Location"]).query) == {
        "error": ["access_denied"],
        "state": ["st"],
    }


async def test_user_info_needs_a_user_token(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await AsyncWebClient(token="xoxp-unknown", base_url=slack.url).api_call(
            "openid.connect.userInfo"
        )


async def test_memberships_for_the_bot_token(slack: FakeSlack) -> None:
    slack.set_members("C1", "U1", "U2")
    slack.set_members("C2", "U1")
    client = AsyncWebClient(token="xoxb-test", base_url=slack.url)
    answer = await client.users_conversations(user="U2", types="public_channel,private_channel")
    assert [c["id"] for c in answer["channels"]] == ["C1"]
    dm = await client.conversations_open(users="U2")
    assert dm["channel"]["id"] == (await client.conversations_open(users="U2"))["channel"]["id"]
    with_dm = await client.users_conversations(user="U2", types="public_channel,im")
    assert {c["id"] for c in with_dm["channels"]} == {"C1", dm["channel"]["id"]}
