"""Sign in with Slack: OpenID Connect's authorization code flow, checked at every step.

Where things are (``root`` is the parent of ``SLACK_API_URL``: ``https://slack.com/``)::

    authorize page     {root}openid/connect/authorize     the browser goes there, then back to
                                                          {PUBLIC_URL}/dashboard/oidc/callback
    signing keys       {root}openid/connect/keys          a JWKS, cached an hour
    code exchange      {SLACK_API_URL}openid.connect.token   client id and secret in the form
    the person's name  {SLACK_API_URL}openid.connect.userInfo   the exchange's access token

What makes a sign-in count (``verify_id_token``): the id_token is signed RS256 by one of
Slack's keys, its issuer is ``https://slack.com``, its audience is ``SLACK_CLIENT_ID``, it has
not expired (a minute of clock skew allowed), its ``nonce`` is the one this browser was sent
with, and its ``https://slack.com/team_id`` is the bot's own workspace. The ``state`` is
checked by the caller against the browser's signed sign-in cookie before any of this. Once
the id_token holds, the name shown is the one ``openid.connect.userInfo`` gives for the same
person; when that call fails (or names someone else), the id_token's own ``name`` is used:
the name is only shown, never trusted for access.

Failures: ``SignInRefused`` (the person or the request is not acceptable: a 4xx with a plain
sentence) and ``SignInUnavailable`` (Slack unreachable or refusing our app's credentials: a
503, and an error in the log naming the setting when it is ours to fix).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urlencode, urljoin

import aiohttp
import jwt
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from app.metrics import Metrics

log = logging.getLogger(__name__)

ISSUER: Final = "https://slack.com"
TEAM_CLAIM: Final = "https://slack.com/team_id"
USER_CLAIM: Final = "https://slack.com/user_id"
# The name is all the dashboard shows of a person; their email is not asked for.
SCOPES: Final = "openid profile"
CALLBACK_PATH: Final = "/dashboard/oidc/callback"
KEYS_TTL_SECONDS: Final = 3600.0
KEYS_REFRESH_FLOOR_SECONDS: Final = 60.0  # an unknown key id refetches at most this often
TIMEOUT_SECONDS: Final = 10
LEEWAY_SECONDS: Final = 60
MAX_NAME_CHARS: Final = 80
# Errors of openid.connect.token that mean our settings are wrong, and which one.
_CONFIG_ERRORS: Final = {
    "invalid_client_id": "SLACK_CLIENT_ID",
    "bad_client_secret": "SLACK_CLIENT_SECRET",
    "bad_redirect_uri": "PUBLIC_URL",
    "invalid_client": "SLACK_CLIENT_ID",
}


class SignInRefused(Exception):
    """The sign-in is not accepted; ``str(exc)`` is fit to show the person."""


class SignInUnavailable(Exception):
    """Slack could not be asked (or refused our app's credentials); try again later."""


@dataclass(frozen=True)
class SlackIdentity:
    user_id: str
    team_id: str
    name: str


def slack_root(api_url: str) -> str:
    """The parent of ``SLACK_API_URL``, where Slack serves its OpenID Connect pages."""
    return urljoin(api_url if api_url.endswith("/") else api_url + "/", "../")


def redirect_uri(public_url: str) -> str:
    return public_url.rstrip("/") + CALLBACK_PATH


def authorize_url(
    api_url: str, *, client_id: str, redirect_to: str, state: str, nonce: str, team: str | None
) -> str:
    """Slack's authorize page for this sign-in (``team`` skips Slack's workspace picker)."""
    query = {
        "response_type": "code",
        "scope": SCOPES,
        "client_id": client_id,
        "state": state,
        "nonce": nonce,
        "redirect_uri": redirect_to,
    }
    if team:
        query["team"] = team
    return f"{slack_root(api_url)}openid/connect/authorize?{urlencode(query)}"


def verify_id_token(
    id_token: str, keys: jwt.PyJWKSet, *, client_id: str, team_id: str, nonce: str
) -> SlackIdentity:
    """The person an id_token names, when every check above holds; else ``SignInRefused``."""
    try:
        kid = jwt.get_unverified_header(id_token).get("kid")
        key = keys[str(kid)]
    except (jwt.InvalidTokenError, KeyError):
        raise SignInRefused("Slack's answer was not signed by a key Slack publishes.") from None
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key=key,
            algorithms=["RS256"],
            audience=client_id,
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise SignInRefused("That sign-in has expired; please start again.") from None
    except jwt.InvalidTokenError as exc:
        log.info("id_token refused: %s", type(exc).__name__)
        raise SignInRefused("Slack's answer could not be verified; please start again.") from None
    given_nonce = claims.get("nonce")
    if not isinstance(given_nonce, str) or not hmac.compare_digest(
        given_nonce.encode(), nonce.encode()
    ):
        raise SignInRefused("That sign-in was started elsewhere; please start again.")
    team = claims.get(TEAM_CLAIM)
    if team != team_id:
        log.info("Slack sign-in refused: a member of another workspace (%s)", team)
        raise SignInRefused("Only members of this bot's Slack workspace can sign in here.")
    user = claims.get(USER_CLAIM) or claims.get("sub")
    if not isinstance(user, str) or not user:
        raise SignInRefused("Slack's answer did not say who you are; please start again.")
    return SlackIdentity(user, team_id, clean_name(claims.get("name"), fallback=user))


def clean_name(value: object, *, fallback: str) -> str:
    """A display name fit for a page header: printable, one line, not too long."""
    if not isinstance(value, str):
        return fallback
    text = "".join(c for c in value if c.isprintable()).strip()
    return text[:MAX_NAME_CHARS] or fallback


class SlackSignIn:
    """The network half: exchanging a code for an id_token, and Slack's signing keys."""

    def __init__(
        self, api_url: str, client_id: str, client_secret: str, metrics: Metrics | None = None
    ) -> None:
        self.api_url = api_url
        self.client_id = client_id
        self._secret = client_secret
        self._metrics = metrics
        self._keys: jwt.PyJWKSet | None = None
        self._keys_at = 0.0
        self._keys_lock = asyncio.Lock()

    async def identify(
        self, code: str, *, redirect_to: str, nonce: str, team_id: str
    ) -> SlackIdentity:
        """Who signed in with ``code``, verified, named as Slack's userInfo says."""
        id_token, access_token = await self.exchange(code, redirect_to)
        identity = await self._verified(id_token, team_id=team_id, nonce=nonce)
        name = await self.user_name(access_token, identity.user_id)
        return identity if name is None else replace(identity, name=name)

    async def _verified(self, id_token: str, *, team_id: str, nonce: str) -> SlackIdentity:
        keys = await self.keys()
        try:
            return verify_id_token(
                id_token, keys, client_id=self.client_id, team_id=team_id, nonce=nonce
            )
        except SignInRefused:
            if not self._unknown_key(id_token, keys):
                raise
        # Slack may have rotated its keys since we fetched them.
        keys = await self.keys(refresh=True)
        return verify_id_token(
            id_token, keys, client_id=self.client_id, team_id=team_id, nonce=nonce
        )

    async def user_name(self, access_token: str | None, user_id: str) -> str | None:
        """``openid.connect.userInfo``: the name of ``user_id`` as Slack has it now, or None
        when Slack cannot say (down, refusing the token, or naming someone else)."""
        if not access_token:
            return None
        client = AsyncWebClient(token=access_token, base_url=self.api_url, timeout=TIMEOUT_SECONDS)
        try:
            answer = await client.openid_connect_userInfo()
        except SlackApiError as exc:
            self._count("rate_limited" if exc.response.status_code == 429 else "error")
            log.info("Slack's userInfo refused: %s", exc.response.get("error"))
            return None
        except (SlackClientError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._count("unreachable")
            log.info("Slack's userInfo unreachable: %s", type(exc).__name__)
            return None
        self._count("ok")
        if (answer.get(USER_CLAIM) or answer.get("sub")) != user_id:
            log.warning("Slack's userInfo named someone else than the id_token; not used")
            return None
        name = clean_name(answer.get("name"), fallback="")
        return name or None

    async def exchange(self, code: str, redirect_to: str) -> tuple[str, str | None]:
        """``openid.connect.token``: the id_token for an authorization code, and the access
        token that reads the person's userInfo (None when Slack gave none)."""
        # No token, and a session only for this call (slack_sdk closes it).
        client = AsyncWebClient(base_url=self.api_url, timeout=TIMEOUT_SECONDS)
        try:
            # The credentials go in the form (Slack takes client_secret_post as well as Basic):
            # slack_sdk's Basic auth goes through aiohttp's deprecated BasicAuth.
            answer = await client.api_call(
                "openid.connect.token",
                data={
                    "client_id": self.client_id,
                    "client_secret": self._secret,
                    "code": code,
                    "redirect_uri": redirect_to,
                    "grant_type": "authorization_code",
                },
            )
        except SlackApiError as exc:
            self._count("rate_limited" if exc.response.status_code == 429 else "error")
            error = str(exc.response.get("error") or "unknown")
            setting = _CONFIG_ERRORS.get(error)
            if setting is not None:
                log.error("Sign in with Slack failed: Slack says %s (check %s)", error, setting)
                raise SignInUnavailable(error) from None
            if exc.response.status_code == 429 or exc.response.status_code >= 500:
                raise SignInUnavailable(error) from None
            log.info("Slack refused a sign-in code: %s", error)
            raise SignInRefused("That sign-in link was already used or has expired.") from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._count("unreachable")
            raise SignInUnavailable(type(exc).__name__) from None
        self._count("ok")
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise SignInUnavailable("no id_token")
        access_token = answer.get("access_token")
        return id_token, access_token if isinstance(access_token, str) else None

    async def keys(self, *, refresh: bool = False) -> jwt.PyJWKSet:
        """Slack's signing keys, cached; ``refresh`` refetches unless just fetched."""
        async with self._keys_lock:
            age = time.monotonic() - self._keys_at
            floor = KEYS_REFRESH_FLOOR_SECONDS if refresh else KEYS_TTL_SECONDS
            if self._keys is None or age > floor:
                self._keys = await self._fetch_keys()
                self._keys_at = time.monotonic()
            return self._keys

    async def _fetch_keys(self) -> jwt.PyJWKSet:
        url = f"{slack_root(self.api_url)}openid/connect/keys"
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.get(url, allow_redirects=False) as response,
            ):
                if response.status != 200:
                    raise SignInUnavailable(f"keys answered {response.status}")
                document = await response.json(content_type=None)
            if not isinstance(document, dict):
                raise ValueError("not a JWKS")
            keys = jwt.PyJWKSet.from_dict(document)
        except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWKSetError) as exc:
            self._count("unreachable")
            log.warning("Slack's signing keys could not be read: %s", type(exc).__name__)
            raise SignInUnavailable("keys") from None
        self._count("ok")
        return keys

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.upstream("slack", outcome)

    @staticmethod
    def _unknown_key(id_token: str, keys: jwt.PyJWKSet) -> bool:
        try:
            keys[str(jwt.get_unverified_header(id_token).get("kid"))]
        except KeyError:
            return True
        except jwt.InvalidTokenError:
            return False
        return False
