"""The fake Slack's OpenID Connect side (Sign in with Slack), served by ``FakeSlack``.

Like Slack: the authorize page and the signing keys live under the parent of the Web API
(``{root}/openid/connect/authorize``, ``{root}/openid/connect/keys``), the code exchange and
the user info are Web API methods (``/api/openid.connect.token``, taking the app's client id
and secret in the form or as HTTP Basic; ``/api/openid.connect.userInfo``, taking the user
token the exchange handed out). id_tokens are RS256 JWTs signed with the key the keys page
publishes, carrying Slack's claims (``https://slack.com/team_id`` and the rest).

Slack shows the person a consent page; this fake signs in whoever the test chose, at once::

    slack.oidc.sign_in_as("U2", name="Grace Hopper")         # the next authorize redirects
    slack.oidc.deny_next()                                   # ... back with error=access_denied
    slack.oidc.claims_override = {"https://slack.com/team_id": "T_OTHER"}   # a forged token
    slack.oidc.sign_with_stray_key = True                    # signed by a key not published
    slack.oidc.ask_consent = True      # show an "Allow" link instead of redirecting at once
    slack.oidc.user_info_override = {"name": "Ada King"}    # userInfo says something else
    slack.oidc.user_info_failure = (500, "internal_error")  # userInfo fails (status, error)

Errors are Slack's: ``invalid_client_id``, ``bad_client_secret``, ``invalid_code`` (unknown,
used or expired codes: a code works once, for ten minutes), ``bad_redirect_uri`` (not the
one the authorize request named), ``invalid_auth`` for userInfo with a bad token.
"""

from __future__ import annotations

import base64
import html
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

CODE_SECONDS = 600
TOKEN_SECONDS = 3600
ISSUER = "https://slack.com"


@dataclass
class Person:
    """Who the authorize page signs in."""

    user_id: str = "U1"
    team_id: str = "T1"
    name: str = "Ada Lovelace"
    email: str = "ada@example.com"
    team_name: str = "Threadline Test"
    team_domain: str = "threadline-test"


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    scopes: frozenset[str]
    person: Person
    expires: float
    used: bool = False


@dataclass
class AuthorizeRequest:
    """One visit to the authorize page, as the fake received it."""

    params: dict[str, str]
    redirected_to: str = ""


@dataclass
class FakeSlackOIDC:
    client_id: str = "1111.2222"
    client_secret: str = "fake-client-secret-0123456789"
    kid: str = "fake-slack-key-1"
    person: Person = field(default_factory=Person)
    claims_override: dict[str, Any] = field(default_factory=dict)
    sign_with_stray_key: bool = False
    ask_consent: bool = False
    authorize_requests: list[AuthorizeRequest] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    user_info_override: dict[str, Any] = field(default_factory=dict)
    user_info_failure: tuple[int, str] | None = None
    user_info_requests: list[str] = field(default_factory=list)  # the tokens it was asked with

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._stray = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._grants: dict[str, _Grant] = {}
        self._user_tokens: dict[str, Person] = {}
        self._deny_next = False

    # -- test-side controls --------------------------------------------------------------------

    def sign_in_as(self, user_id: str, **details: str) -> Person:
        """Whoever the authorize page signs in from now on (``team_id``, ``name``...)."""
        self.person = Person(user_id=user_id, **details)
        return self.person

    def deny_next(self) -> None:
        """The next authorize visit is cancelled by the person (``error=access_denied``)."""
        self._deny_next = True

    def id_token_for(
        self, person: Person, *, nonce: str | None, audience: str | None = None
    ) -> str:
        """An id_token as Slack signs one (with ``claims_override`` applied)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": person.user_id,
            "aud": audience or self.client_id,
            "exp": now + TOKEN_SECONDS,
            "iat": now,
            "auth_time": now,
            "at_hash": secrets.token_urlsafe(16),
            "https://slack.com/team_id": person.team_id,
            "https://slack.com/user_id": person.user_id,
            "name": person.name,
            "given_name": person.name.split()[0] if person.name else "",
            "family_name": " ".join(person.name.split()[1:]),
            "locale": "en-US",
            "https://slack.com/team_name": person.team_name,
            "https://slack.com/team_domain": person.team_domain,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(self.claims_override)
        key = self._stray if self.sign_with_stray_key else self._key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    # -- HTTP ----------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/openid/connect/authorize", self._authorize)
        app.router.add_get("/openid/connect/keys", self._keys)
        app.router.add_post("/api/openid.connect.token", self._token)
        app.router.add_post("/api/openid.connect.userInfo", self._user_info)

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        seen = AuthorizeRequest(params)
        self.authorize_requests.append(seen)
        redirect_uri = params.get("redirect_uri", "")
        scopes = frozenset(params.get("scope", "").replace(",", " ").split())
        # Slack shows an error page (no redirect) for a request it cannot trust.
        if params.get("client_id") != self.client_id:
            return web.Response(status=400, text="Invalid client_id parameter")
        if params.get("response_type") != "code" or "openid" not in scopes:
            return web.Response(status=400, text="Invalid scope or response_type")
        if not redirect_uri.startswith(("http://", "https://")):
            return web.Response(status=400, text="redirect_uri did not match any configured URIs")
        answer: dict[str, str] = {}
        if self._deny_next:
            self._deny_next = False
            answer["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            self._grants[code] = _Grant(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                nonce=params.get("nonce"),
                scopes=scopes,
                person=self.person,
                expires=time.time() + CODE_SECONDS,
            )
            answer["code"] = code
        if "state" in params:
            answer["state"] = params["state"]
        separator = "&" if "?" in redirect_uri else "?"
        seen.redirected_to = f"{redirect_uri}{separator}{urlencode(answer)}"
        if self.ask_consent:
            link = html.escape(seen.redirected_to)
            return web.Response(
                content_type="text/html",
                text=f'<h1>Sign in to Threadline Test</h1><a href="{link}">Allow</a>',
            )
        raise web.HTTPFound(seen.redirected_to)

    async def _keys(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.jwks())

    async def _token(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = _basic_auth(request.headers.get("Authorization", ""))
        if basic is not None:
            client_id, client_secret = basic
        self.token_requests.append({**form, "client_id": client_id or ""})
        if not client_id or client_id != self.client_id:
            return _error("invalid_client_id")
        if client_secret != self.client_secret:
            return _error("bad_client_secret")
        grant = self._grants.get(form.get("code", ""))
        if grant is None or grant.used or grant.expires < time.time():
            return _error("invalid_code")
        if "redirect_uri" in form and form["redirect_uri"] != grant.redirect_uri:
            return _error("bad_redirect_uri")
        grant.used = True
        access_token = "xoxp-" + secrets.token_hex(12)
        self._user_tokens[access_token] = grant.person
        return web.json_response(
            {
                "ok": True,
                "access_token": access_token,
                "token_type": "Bearer",
                "id_token": self.id_token_for(grant.person, nonce=grant.nonce),
            }
        )

    async def _user_info(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token:
            form = dict(parse_qsl((await request.read()).decode("utf-8", "replace")))
            token = form.get("token", "")
        self.user_info_requests.append(token)
        if self.user_info_failure is not None:
            status, error = self.user_info_failure
            return web.json_response({"ok": False, "error": error}, status=status)
        if not token:
            return _error("not_authed")
        person = self._user_tokens.get(token)
        if person is None:
            return _error("invalid_auth")
        return web.json_response(
            {
                "ok": True,
                "sub": person.user_id,
                "https://slack.com/user_id": person.user_id,
                "https://slack.com/team_id": person.team_id,
                "email": person.email,
                "email_verified": True,
                "date_email_verified": 1_700_000_000,
                "name": person.name,
                "given_name": person.name.split()[0] if person.name else "",
                "family_name": " ".join(person.name.split()[1:]),
                "locale": "en-US",
                "https://slack.com/team_name": person.team_name,
                "https://slack.com/team_domain": person.team_domain,
                **self.user_info_override,
            }
        )


def _basic_auth(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode()
    except ValueError:
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _error(error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error})
