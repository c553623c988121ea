"""HTTP plumbing shared by the GitHub and Jira clients: one call, one bounded retry, errors mapped.

Every upstream failure becomes one of the ``IntegrationError`` family, with ``status`` set when
the upstream answered::

    404, 410                  NotFound
    401, 403                  IntegrationError naming the credential setting to check
    400, 422 (other 4xx)      IntegrationError with the upstream's validation message, condensed
    429 (GitHub: 403 + quota) IntegrationError "rate limited, retry after N s"; retried once,
                              in place, when the upstream asks for a wait of at most 5 s
    5xx                       IntegrationError
    timeout, connection       IntegrationError, status None

Messages never contain a credential: upstream text is scrubbed of the values given in
``Upstream.secrets`` before it is quoted.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from app import __version__
from app.errors import IntegrationError, NotFound

DEFAULT_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
MAX_RETRY_AFTER: Final = 5.0
USER_AGENT: Final = f"threadline/{__version__} (+https://github.com/threadline)"
_MAX_DETAIL: Final = 300


@dataclass(frozen=True)
class Upstream:
    """Who we are talking to, for error messages: ``GitHub`` and the setting to check."""

    service: str
    credential_setting: str
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "[redacted]")
        return text


async def call(
    http: httpx.AsyncClient,
    upstream: Upstream,
    method: str,
    url: str,
    *,
    what: str,
    headers: dict[str, str],
    timeouts: httpx.Timeout,
    json: Any = None,
    params: dict[str, str] | None = None,
) -> Any:
    """Send one request and return its decoded JSON (None for an empty body).

    ``what`` names the thing asked for ("issue acme/widgets#42"), for NotFound messages.
    A rate-limited request is retried once when the wait asked for is at most 5 seconds;
    nothing else is retried, since creating an issue is not idempotent.
    """
    for attempt in (1, 2):
        try:
            response = await http.request(
                method, url, headers=headers, json=json, params=params, timeout=timeouts
            )
        except httpx.TimeoutException as exc:
            raise IntegrationError(upstream.service, f"did not answer in time ({what})") from exc
        except httpx.HTTPError as exc:
            raise IntegrationError(
                upstream.service, f"could not be reached ({type(exc).__name__})"
            ) from exc
        if response.is_success:
            return _decode(upstream, response)
        wait = retry_after_seconds(response.headers)
        if (
            attempt == 1
            and is_rate_limited(response)
            and wait is not None
            and wait <= MAX_RETRY_AFTER
        ):
            await asyncio.sleep(wait)
            continue
        raise error_for(upstream, response, what)
    raise AssertionError("unreachable")  # pragma: no cover


def _decode(upstream: Upstream, response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise IntegrationError(
            upstream.service, "answered with a body that is not JSON", status=response.status_code
        ) from None


def is_rate_limited(response: httpx.Response) -> bool:
    if response.status_code == 429:
        return True
    # GitHub signals an exhausted quota, and secondary rate limits, with a 403.
    return response.status_code == 403 and (
        response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers
    )


def retry_after_seconds(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset``."""
    now = time.time() if now is None else now
    value = headers.get("retry-after", "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - now)
    reset = headers.get("x-ratelimit-reset", "").strip()
    if reset and headers.get("x-ratelimit-remaining") == "0":
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def error_for(upstream: Upstream, response: httpx.Response, what: str) -> IntegrationError:
    """The error an unsuccessful response stands for (see the module docstring)."""
    status = response.status_code
    service = upstream.service
    detail = upstream_detail(upstream, response)
    if is_rate_limited(response):
        wait = retry_after_seconds(response.headers)
        after = f"retry after {math.ceil(wait)} s" if wait is not None else "retry later"
        return IntegrationError(service, f"rate limited, {after}", status=status)
    if status in (404, 410):
        gone = "was deleted" if status == 410 else "was not found"
        return NotFound(service, f"{what} {gone}", status=status)
    if status == 401:
        return IntegrationError(
            service,
            f"authentication failed (401): check {upstream.credential_setting}",
            status=status,
        )
    if status == 403:
        return IntegrationError(
            service,
            f"permission denied (403) for {what}: check that {upstream.credential_setting} "
            "has access" + (f" ({detail})" if detail else ""),
            status=status,
        )
    if status in (400, 422):
        return IntegrationError(
            service,
            f"rejected the request ({status}): {detail or 'no reason given'}",
            status=status,
        )
    if status >= 500:
        return IntegrationError(
            service, f"server error ({status})" + (f": {detail}" if detail else ""), status=status
        )
    return IntegrationError(
        service,
        f"unexpected response ({status})" + (f": {detail}" if detail else ""),
        status=status,
    )


def upstream_detail(upstream: Upstream, response: httpx.Response) -> str:
    """The upstream's own explanation, condensed to one short line and scrubbed of secrets.

    Understands GitHub (``message`` + ``errors[]``) and Jira (``errorMessages[]`` +
    ``errors{field: message}``); other JSON or HTML bodies yield nothing.
    """
    try:
        data = response.json()
    except ValueError:
        return ""
    parts: list[str] = []
    if isinstance(data, dict):
        message = data.get("message")
        if isinstance(message, str):
            parts.append(message)
        for entry in data.get("errorMessages") or []:
            if isinstance(entry, str):
                parts.append(entry)
        errors = data.get("errors")
        if isinstance(errors, dict):
            parts.extend(f"{k}: {v}" for k, v in errors.items() if isinstance(v, str))
        elif isinstance(errors, list):
            parts.extend(_github_error(e) for e in errors)
    text = "; ".join(p for p in parts if p)
    text = upstream.scrub(re.sub(r"\s+", " ", text).strip())
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 1].rstrip() + "…"
    return text


def _github_error(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    if not isinstance(entry, dict):
        return ""
    if isinstance(entry.get("message"), str):
        return str(entry["message"])
    field_name, code = entry.get("field"), entry.get("code")
    if isinstance(field_name, str) and isinstance(code, str):
        return f"{field_name} {code.replace('_', ' ')}"
    return code if isinstance(code, str) else ""


def require(data: Any, name: str, kind: type, upstream: Upstream) -> Any:
    """``data[name]`` checked to be a ``kind``; an IntegrationError for an unexpected shape."""
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise IntegrationError(upstream.service, f"answered without a usable {name!r} field")
    return value


class RestClient:
    """What the GitHub and Jira clients share: a base URL, a timeout and ``call`` with headers.

    Subclasses supply ``_headers`` and the endpoints; the ``httpx.AsyncClient`` is passed in
    because the app's lifespan owns it.
    """

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, upstream: Upstream, timeout: httpx.Timeout
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._base = base_url.rstrip("/")
        self._upstream = upstream

    def _headers(self) -> dict[str, str]:
        """Authorization and content headers for one request."""
        raise NotImplementedError

    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        return await call(
            self._http,
            self._upstream,
            method,
            self._base + path,
            what=what,
            headers=self._headers(),
            timeouts=self._timeout,
            json=json,
            params=params,
        )
