"""The liveness rule (``is_live``, ``is_stale``, ``expiry_cause``): the one both stores apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.store.types import (
    Session,
    SessionStatus,
    audiences_below,
    born_since,
    expiry_cause,
    is_live,
    is_stale,
    live_since,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TTL = timedelta(days=30)
MAX_AGE = timedelta(days=180)


def session(
    status: SessionStatus, idle: timedelta, age: timedelta = timedelta(days=100)
) -> Session:
    return Session("s1", "tl", status, NOW - age, NOW - idle, 0)


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
    # 100 days old: the maximum age changes nothing here
    assert is_live(s, NOW, TTL, MAX_AGE) is live
    assert is_stale(s, NOW, TTL, MAX_AGE) is stale


@pytest.mark.parametrize(
    ("status", "age", "live", "stale"),
    [
        ("active", MAX_AGE - timedelta(microseconds=1), True, False),
        ("active", MAX_AGE, True, False),  # exactly at the maximum age: still live
        ("active", MAX_AGE + timedelta(microseconds=1), False, True),
        ("reset", MAX_AGE * 2, False, False),
    ],
)
def test_maximum_age(status: SessionStatus, age: timedelta, live: bool, stale: bool) -> None:
    s = session(status, timedelta(0), age)
    assert is_live(s, NOW, TTL, MAX_AGE) is live
    assert is_stale(s, NOW, TTL, MAX_AGE) is stale
    # without a maximum age, only the TTL counts
    assert is_live(s, NOW, TTL) is (status == "active")


def test_live_since_and_born_since_are_the_oldest_live_times() -> None:
    assert live_since(NOW, TTL) == NOW - TTL
    assert born_since(NOW, MAX_AGE) == NOW - MAX_AGE
    assert is_live(session("active", NOW - live_since(NOW, TTL)), NOW, TTL)
    oldest = session("active", timedelta(0), NOW - born_since(NOW, MAX_AGE))
    assert is_live(oldest, NOW, TTL, MAX_AGE)


@pytest.mark.parametrize(
    ("age_days", "idle_days", "cause"),
    [
        (100, 31, "idle for more than 30 days"),
        (181, 0, "older than 180 days"),
        # both limits passed: the one passed first (aged out 5 days ago, idle 1 day ago)
        (185, 31, "older than 180 days"),
        (200, 50, "idle for more than 30 days"),  # idle 20 days ago, aged out 20 days ago
        (200, 51, "idle for more than 30 days"),  # idle first
    ],
)
def test_expiry_cause_names_the_limit_passed_first(
    age_days: float, idle_days: float, cause: str
) -> None:
    s = session("active", timedelta(days=idle_days), timedelta(days=age_days))
    assert expiry_cause(s, 30, 180) == cause


def test_audiences_only_rise() -> None:
    assert audiences_below("public") == ()
    assert audiences_below("internal") == ("public",)
    with pytest.raises(ValueError):
        audiences_below("secret")
