"""Signed, expiring cookie values: what the dashboard trusts a browser to hand back unchanged.

A value is ``{payload}.{signature}``: the payload is URL-safe base64 of a JSON object holding
its purpose and expiry (``p``, ``exp``) beside the caller's fields; the signature is URL-safe
base64 of HMAC-SHA256 over the payload, with a key derived from the configured secrets::

    key = HMAC-SHA256(b"threadline dashboard cookies v1",
                      len-prefixed SLACK_CLIENT_SECRET, then len-prefixed DASHBOARD_TOKEN)

Every replica derives the same key, and a restart changes nothing; changing either secret
signs everybody out (old cookies no longer verify). ``open`` returns None for anything that is
not a value we signed for this purpose and that is still fresh: malformed, tampered, signed
with another key, of another purpose (a sign-in state presented as a session), or expired.
Nothing here touches the network or the clock by itself: the caller passes ``now``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any, Final

from app.config import Secret

_KEY_LABEL: Final = b"threadline dashboard cookies v1"
# A session cookie holds a few short fields; anything longer is not ours.
MAX_VALUE_CHARS: Final = 2048


def derive_key(secrets: Iterable[Secret | None]) -> bytes:
    """The signing key from the configured secrets (absent ones count as empty)."""
    material = b""
    for secret in secrets:
        value = secret.reveal().encode() if secret is not None else b""
        material += len(value).to_bytes(4, "big") + value
    return hmac.new(_KEY_LABEL, material, hashlib.sha256).digest()


class CookieSigner:
    """Signs and opens the dashboard's cookie values with one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the cookie key must be at least 32 bytes")
        self._key = key

    def seal(self, purpose: str, fields: dict[str, Any], *, now: float, lifetime: float) -> str:
        """A value carrying ``fields`` for ``purpose`` that ``open`` accepts until
        ``now + lifetime``."""
        body = {**fields, "p": purpose, "exp": int(now + lifetime)}
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._sign(payload)}"

    def open(self, purpose: str, value: str | None, *, now: float) -> dict[str, Any] | None:
        """The fields of a value sealed for ``purpose`` and not yet expired, else None."""
        if not value or len(value) > MAX_VALUE_CHARS or value.count(".") != 1:
            return None
        payload, signature = value.split(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            body = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("p") != purpose:
            return None
        expiry = body.get("exp")
        if not isinstance(expiry, int) or expiry <= now:
            return None
        return {k: v for k, v in body.items() if k not in ("p", "exp")}

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64") from exc
