"""The webhook routes' answer deadline, around a handler standing in for the store's."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from app.http import Handler
from app.http.webhooks import WEBHOOK_DEADLINE_SECONDS, within_deadline


def served(handler: Handler | None, deadline: float) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    app.router.add_post("/hook", within_deadline("github", lambda: handler, deadline=deadline))
    return TestClient(TestServer(app))


def test_the_deadline_leaves_github_time_to_hear_the_answer() -> None:
    assert WEBHOOK_DEADLINE_SECONDS < 10  # GitHub gives up on a delivery after 10 s


async def test_a_handler_in_time_answers_itself() -> None:
    async def quick(_: web.Request) -> web.StreamResponse:
        return web.json_response({"queued": True}, status=202)

    async with served(quick, deadline=5) as client:
        response = await client.post("/hook")
        assert (response.status, await response.json()) == (202, {"queued": True})


async def test_a_handler_past_the_deadline_is_a_503_so_the_sender_retries() -> None:
    finished = asyncio.Event()

    async def stuck(_: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)
        finished.set()
        return web.json_response({})

    async with served(stuck, deadline=0.05) as client:
        response = await client.post("/hook")
        assert (response.status, await response.json()) == (503, {"error": "store too slow"})
    assert not finished.is_set()  # the late handler was cancelled, not left running


async def test_no_handler_yet_is_a_503() -> None:
    async with served(None, deadline=5) as client:
        response = await client.post("/hook")
        assert (response.status, await response.json()) == (503, {"error": "starting"})
