"""``GET /healthz`` on the running app: store reachable and schema current, or 503."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import base_env, run_app


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakeAnthropic]]:
    async with FakeSlack() as slack, FakeAnthropic() as claude:
        yield slack, claude


async def test_healthy(fakes: tuple[FakeSlack, FakeAnthropic], tmp_path: Path) -> None:
    slack, claude = fakes
    env = base_env(slack.url, claude.root_url, f"sqlite:///{tmp_path / 'threadline.db'}")
    async with run_app(env) as bot:
        status, body = await bot.get("/healthz")
        head = await bot.store.head_version()
    assert status == 200
    assert json.loads(body) == {
        "status": "ok",
        "store": "ok",
        "schema": head,
        "schema_head": head,
        "worker": "ok",
    }


async def test_schema_not_current_is_503(
    fakes: tuple[FakeSlack, FakeAnthropic], tmp_path: Path
) -> None:
    slack, claude = fakes
    path = tmp_path / "threadline.db"
    async with run_app(base_env(slack.url, claude.root_url, f"sqlite:///{path}")) as bot:
        # as if another replica had rolled the schema to a revision this one does not know
        await asyncio.to_thread(_set_schema, path, "ffff")
        status, body = await bot.get("/healthz")
    assert status == 503
    doc = json.loads(body)
    assert doc["status"] == "degraded" and doc["schema"] == "ffff"


def _set_schema(path: Path, revision: str) -> None:
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = ?", (revision,))


def _admin_dsn() -> str:
    server = os.environ["TEST_DATABASE_URL"]
    return make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.postgres
async def test_unreachable_database_is_503_and_recovers(
    fakes: tuple[FakeSlack, FakeAnthropic], postgres_url: str
) -> None:
    slack, claude = fakes
    name = make_url(postgres_url).database
    admin = await asyncpg.connect(_admin_dsn(), timeout=10)
    try:
        async with run_app(base_env(slack.url, claude.root_url, postgres_url)) as bot:
            assert (await bot.get("/healthz"))[0] == 200
            # The database refuses connections, and the app's are cut.
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
            status, body = await bot.get("/healthz")
            assert status == 503
            assert json.loads(body) == {"status": "unavailable", "store": "unreachable"}
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            assert (await bot.get("/healthz"))[0] == 200
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
