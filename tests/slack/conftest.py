from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import Running, base_env, run_app


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.users.update(
            {
                "U1": {"real_name": "Ada Lovelace", "display_name": "ada"},
                "U2": {"real_name": "Grace Hopper", "display_name": "grace"},
            }
        )
        yield fake


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def env(slack: FakeSlack, claude: FakeAnthropic, tmp_path: Path) -> dict[str, str]:
    return base_env(slack.url, claude.root_url, f"sqlite:///{tmp_path / 'threadline.db'}")


@pytest.fixture
async def bot(env: dict[str, str]) -> AsyncIterator[Running]:
    async with run_app(env) as running:
        yield running
