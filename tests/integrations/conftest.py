"""Loopback fakes of GitHub and Jira, and an httpx client to reach them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fakes.github import FakeGitHub
from tests.fakes.jira import FakeJira


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def gh() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub(repos=["acme/widgets", "acme/gadgets"]) as fake:
        yield fake


@pytest.fixture
async def jira() -> AsyncIterator[FakeJira]:
    async with FakeJira(projects=["AD", "OPS"]) as fake:
        yield fake
