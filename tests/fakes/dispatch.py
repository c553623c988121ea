"""A fake job runner's dispatch endpoint (``JOBS_DISPATCH_URL``), and its report back.

    async with FakeDispatch() as runner:          # JOBS_DISPATCH_URL=runner.url
        ...                                       # the app starts a job
        (job,) = await runner.wait_for_dispatches(1)
        status, text = await runner.report(job, summary="Done", links=[pr_url])

Every POST is recorded in ``dispatches`` (``Dispatch``: the flat JSON ``{job_id, title,
instructions, repo, callback_url, callback_token}``, its headers and what was answered). A
body that is not that JSON object gets 400 (``rejected`` keeps it), as a relay validating its
input would. ``answer(Answer(503), Answer(202, delay=3))`` scripts the next answers (status,
wait before answering); unscripted requests get 202.

``report`` plays the runner's last step: POST ``{status, summary, links}`` to the dispatch's
``callback_url`` with ``Authorization: Bearer <callback_token>``; ``token=`` and ``url=``
override them (a forged or misdirected report; ``token=""`` sends no Authorization header),
``body=`` sends any JSON instead. It returns
the HTTP status and text the app answered.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.server import FakeServer, run, serve_forever

FIELDS = ("job_id", "title", "instructions", "repo", "callback_url", "callback_token")


@dataclass
class Answer:
    status: int = 202
    delay: float = 0.0  # seconds before answering (a slow runner)
    times: int = 1


@dataclass
class Dispatch:
    """One job the app dispatched."""

    body: dict[str, Any]
    headers: dict[str, str]
    status: int = 0

    @property
    def job_id(self) -> str:
        return str(self.body["job_id"])

    @property
    def callback_url(self) -> str:
        return str(self.body["callback_url"])

    @property
    def callback_token(self) -> str:
        return str(self.body["callback_token"])

    def __getitem__(self, name: str) -> Any:
        return self.body[name]


class FakeDispatch(FakeServer):
    """The receiver: ``url`` is what ``JOBS_DISPATCH_URL`` points at."""

    url_path = "/dispatch"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.dispatches: list[Dispatch] = []
        self.rejected: list[bytes] = []
        self._script: deque[Answer] = deque()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.url_path, self._receive)

    def answer(self, *answers: Answer) -> None:
        for step in answers:
            self._script.extend([step] * max(1, step.times))

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        valid = (
            isinstance(body, dict)
            and headers.get("content-type", "").startswith("application/json")
            and set(body) == set(FIELDS)
            and all(isinstance(body[k], str) and body[k] for k in FIELDS if k != "repo")
            and (body["repo"] is None or isinstance(body["repo"], str))
        )
        if not valid:
            self.rejected.append(raw)
            return web.json_response({"error": f"expected JSON with {FIELDS}"}, status=400)
        step = self._script.popleft() if self._script else Answer()
        dispatch = Dispatch(body=body, headers=headers, status=step.status)
        self.dispatches.append(dispatch)
        await self._sleep(step.delay)
        return web.json_response({"accepted": step.status < 300}, status=step.status)

    async def wait_for_dispatches(
        self,
        n: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the documented API
    ) -> list[Dispatch]:
        await self.wait_for(
            lambda f: len(f.dispatches) >= n, timeout, message=f"at least {n} dispatch(es)"
        )
        return self.dispatches

    def describe(self) -> str:
        lines = [f"{len(self.dispatches)} dispatch(es), {len(self.rejected)} rejected:"]
        lines += [f"  {d.job_id} -> {d.status} {d.body.get('title')!r}" for d in self.dispatches]
        return "\n".join(lines)

    async def report(
        self,
        dispatch: Dispatch,
        *,
        status: str = "succeeded",
        summary: str = "Done.",
        links: list[str] | None = None,
        token: str | None = None,
        url: str | None = None,
        body: Any = None,
    ) -> tuple[int, str]:
        """Report back like a runner; answers the app's (status, text)."""
        payload = {"status": status, "summary": summary, "links": links or []}
        headers = {"Authorization": f"Bearer {token or dispatch.callback_token}"}
        if token == "":
            headers = {}
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(
                url or dispatch.callback_url,
                json=payload if body is None else body,
                headers=headers,
            ) as response,
        ):
            return response.status, await response.text()


if __name__ == "__main__":  # standalone: python -m tests.fakes.dispatch (prints its URL)
    run(serve_forever(FakeDispatch(port=9005)))
