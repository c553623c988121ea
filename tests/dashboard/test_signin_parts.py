"""The pure parts of signing in: cookie values, id_token checks, redirects, token tries."""

from __future__ import annotations

import time

import jwt
import pytest

from app.config import Secret
from app.dashboard.auth import safe_next, signin_location
from app.dashboard.cookies import CookieSigner, derive_key
from app.dashboard.oidc import (
    SignInRefused,
    authorize_url,
    clean_name,
    redirect_uri,
    slack_root,
    verify_id_token,
)
from app.dashboard.signin import FailedAttempts, token_matches
from tests.fakes.slack_oidc import FakeSlackOIDC, Person

NOW = 1_800_000_000.0
KEY = derive_key([Secret("client-secret"), Secret("operator-token-0123456789")])


# cookie values --------------------------------------------------------------------------------
def test_a_sealed_value_opens_for_its_purpose_until_it_expires() -> None:
    signer = CookieSigner(KEY)
    value = signer.seal("session", {"u": "U1", "n": "Ada"}, now=NOW, lifetime=60)
    assert signer.open("session", value, now=NOW + 59) == {"u": "U1", "n": "Ada"}
    assert signer.open("session", value, now=NOW + 60) is None
    assert signer.open("oidc", value, now=NOW) is None  # a value of another purpose


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),  # the signature
        lambda v: v[:5] + ("A" if v[5] != "A" else "B") + v[6:],  # the payload
        lambda v: v.replace(".", ".."),
        lambda v: v.split(".")[0],  # no signature
        lambda v: "",
        lambda v: "x" * 5000,
        lambda v: "%%%.%%%",
    ],
)
def test_a_tampered_value_opens_to_nothing(tamper: object) -> None:
    signer = CookieSigner(KEY)
    value = signer.seal("session", {"u": "U1"}, now=NOW, lifetime=60)
    assert signer.open("session", tamper(value), now=NOW) is None  # type: ignore[operator]


def test_a_payload_rewritten_and_signed_with_another_key_is_refused() -> None:
    ours, theirs = CookieSigner(KEY), CookieSigner(derive_key([Secret("guess")]))
    forged = theirs.seal("session", {"u": "UADMIN"}, now=NOW, lifetime=60)
    assert ours.open("session", forged, now=NOW) is None


def test_the_key_is_the_same_for_the_same_secrets_and_changes_with_either() -> None:
    client, token = Secret("client-secret"), Secret("operator-token-0123456789")
    assert derive_key([client, token]) == derive_key([Secret("client-secret"), token])
    assert derive_key([client, token]) != derive_key([client, Secret("another-token-xxxxxx")])
    assert derive_key([client, None]) != derive_key([None, client])  # positions count
    assert len(derive_key([None, token])) == 32


# where a sign-in returns to -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/dashboard/sessions/abc?q=x", "/dashboard/sessions/abc?q=x"),
        ("/dashboard/", "/dashboard/"),
        (None, "/dashboard/"),
        ("https://evil.example/dashboard/", "/dashboard/"),
        ("//evil.example/dashboard/", "/dashboard/"),
        ("/dashboard//evil.example", "/dashboard/"),
        ("/dashboard/\\evil", "/dashboard/"),
        ("/dashboard/\r\nSet-Cookie: x=1", "/dashboard/"),
        ("/elsewhere", "/dashboard/"),
        ("/dashboard", "/dashboard/"),
    ],
)
def test_only_dashboard_pages_are_returned_to(asked: str | None, kept: str) -> None:
    assert safe_next(asked) == kept


def test_the_sign_in_address_carries_where_to_return() -> None:
    assert signin_location("/dashboard/") == "/dashboard/signin"
    assert signin_location("/dashboard/s/1?q=a b") == (
        "/dashboard/signin?next=%2Fdashboard%2Fs%2F1%3Fq%3Da+b"
    )


# the operator token ---------------------------------------------------------------------------
def test_the_token_comparison() -> None:
    assert token_matches("operator-token-0123456789", "operator-token-0123456789")
    assert not token_matches("operator-token-012345678", "operator-token-0123456789")
    assert not token_matches("", "operator-token-0123456789")


def test_wrong_tries_block_an_address_for_the_window_only() -> None:
    tries = FailedAttempts(limit=3, window=60)
    for i in range(3):
        assert not tries.blocked("10.0.0.1", NOW + i)
        tries.failed("10.0.0.1", NOW + i)
    assert tries.blocked("10.0.0.1", NOW + 3)
    assert not tries.blocked("10.0.0.2", NOW + 3)  # another address
    assert not tries.blocked("10.0.0.1", NOW + 61)  # the oldest try has left the window
    tries.succeeded("10.0.0.1")
    assert not tries.blocked("10.0.0.1", NOW + 4)


# Slack's OpenID Connect -----------------------------------------------------------------------
def test_the_pages_live_under_the_parent_of_the_web_api() -> None:
    assert slack_root("https://slack.com/api/") == "https://slack.com/"
    assert slack_root("http://127.0.0.1:9001/api") == "http://127.0.0.1:9001/"
    assert redirect_uri("https://tl.example.com") == (
        "https://tl.example.com/dashboard/oidc/callback"
    )
    url = authorize_url(
        "https://slack.com/api/",
        client_id="1.2",
        redirect_to="https://tl.example.com/dashboard/oidc/callback",
        state="st",
        nonce="no",
        team="T1",
    )
    assert url.startswith("https://slack.com/openid/connect/authorize?response_type=code&")
    assert "scope=openid+profile&" in url and "team=T1" in url and "nonce=no" in url


@pytest.fixture(scope="module")
def slack_oidc() -> FakeSlackOIDC:
    return FakeSlackOIDC()


@pytest.fixture
def keys(slack_oidc: FakeSlackOIDC) -> jwt.PyJWKSet:
    slack_oidc.claims_override = {}
    slack_oidc.sign_with_stray_key = False
    return jwt.PyJWKSet.from_dict(slack_oidc.jwks())


def verify(slack_oidc: FakeSlackOIDC, keys: jwt.PyJWKSet, token: str, nonce: str = "n1") -> str:
    who = verify_id_token(token, keys, client_id=slack_oidc.client_id, team_id="T1", nonce=nonce)
    return f"{who.user_id} {who.team_id} {who.name}"


def test_a_good_id_token_names_the_person(slack_oidc: FakeSlackOIDC, keys: jwt.PyJWKSet) -> None:
    token = slack_oidc.id_token_for(Person("U2", "T1", "Grace Hopper"), nonce="n1")
    assert verify(slack_oidc, keys, token) == "U2 T1 Grace Hopper"


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"https://slack.com/team_id": "T_OTHER"}, "workspace"),
        ({"aud": "9999.8888"}, "verified"),
        ({"iss": "https://evil.example"}, "verified"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nonce": "another"}, "elsewhere"),
    ],
)
def test_an_id_token_failing_a_check_is_refused(
    slack_oidc: FakeSlackOIDC, keys: jwt.PyJWKSet, claims: dict[str, object], why: str
) -> None:
    slack_oidc.claims_override = claims
    token = slack_oidc.id_token_for(Person("U2", "T1"), nonce="n1")
    with pytest.raises(SignInRefused, match=why):
        verify(slack_oidc, keys, token)


def test_an_id_token_without_a_nonce_is_refused(
    slack_oidc: FakeSlackOIDC, keys: jwt.PyJWKSet
) -> None:
    with pytest.raises(SignInRefused, match="elsewhere"):
        verify(slack_oidc, keys, slack_oidc.id_token_for(Person("U2"), nonce=None))


def test_an_id_token_signed_by_an_unpublished_key_is_refused(
    slack_oidc: FakeSlackOIDC, keys: jwt.PyJWKSet
) -> None:
    slack_oidc.sign_with_stray_key = True
    with pytest.raises(SignInRefused, match="verified"):
        verify(slack_oidc, keys, slack_oidc.id_token_for(Person("U2"), nonce="n1"))


def test_unsigned_and_symmetric_tokens_are_refused(
    slack_oidc: FakeSlackOIDC, keys: jwt.PyJWKSet
) -> None:
    claims = {"iss": "https://slack.com", "aud": slack_oidc.client_id, "sub": "U2", "nonce": "n1"}
    header = {"kid": slack_oidc.kid}
    unsigned = jwt.encode(claims, None, algorithm="none", headers=header)
    hs256 = jwt.encode(claims, "x" * 32, algorithm="HS256", headers=header)
    for token in (unsigned, hs256, "not a token", ""):
        with pytest.raises(SignInRefused):
            verify(slack_oidc, keys, token)


def test_names_are_cleaned_for_the_page() -> None:
    assert clean_name("Ada\nLovelace\u202e", fallback="U1") == "AdaLovelace"
    assert clean_name("  ", fallback="U1") == "U1"
    assert clean_name(None, fallback="U1") == "U1"
    assert len(clean_name("x" * 500, fallback="U1")) == 80
