"""The liveness rule (``is_live``, ``is_stale``): the one both stores apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.store.types import Session, SessionStatus, is_live, is_stale, live_since

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TTL = timedelta(days=30)


def session(status: SessionStatus, idle: timedelta) -> Session:
    return Session("s1", "tl", status, NOW - timedelta(days=100), NOW - idle, 0)


@pytest.mark.parametrize(
    ("status", "idle", "live", "stale"),
    [
        ("active", timedelta(0), True, False),
        ("active", TTL - timedelta(microseconds=1), True, False),
        ("active", TTL, True, False),  # exactly at the TTL: still live
        ("active", TTL + timedelta(microseconds=1), False, True),
        ("active", TTL * 3, False, True),
        ("reset", timedelta(0), False, False),
        ("dropped", timedelta(0), False, False),
        ("expired", TTL * 3, False, False),
    ],
)
def test_liveness(status: SessionStatus, idle: timedelta, live: bool, stale: bool) -> None:
    s = session(status, idle)
    assert is_live(s, NOW, TTL) is live
    assert is_stale(s, NOW, TTL) is stale


def test_live_since_is_the_oldest_live_activity() -> None:
    assert live_since(NOW, TTL) == NOW - TTL
    assert is_live(session("active", NOW - live_since(NOW, TTL)), NOW, TTL)
