"""Reports while the database is down: the Anthropic webhook and the callback route answer
503 (so the sender retries) and nothing is lost; once the database is back, the retried
report brings the result home."""

from __future__ import annotations

import json
from typing import Any

from app.errors import StoreError
from app.store.memory import MemoryStore
from app.store.types import Job, JobStatus
from tests.fakes.anthropic import Reply
from tests.harness import replies, run_app
from tests.jobs.conftest import Fakes, env_for, settled, start_job


class FlakyStore(MemoryStore):
    """A memory store whose job and inbox writes fail while ``down``."""

    down = False

    def _check(self, op: str) -> None:
        if self.down:
            raise StoreError(f"store.{op} failed: connection refused")

    async def record_delivery(
        self,
        delivery_id: str,
        source: str,
        lane: str,
        payload: dict[str, Any],
        *,
        max_pending: int | None = None,
    ) -> bool:
        self._check("record_delivery")
        return await super().record_delivery(
            delivery_id, source, lane, payload, max_pending=max_pending
        )

    async def get_job(self, job_id: str) -> Job | None:
        self._check("get_job")
        return await super().get_job(job_id)

    async def finish_job(
        self, job_id: str, status: JobStatus, *, result: str | None, links: list[str]
    ) -> Job | None:
        self._check("finish_job")
        return await super().finish_job(job_id, status, result=result, links=links)


async def test_the_webhook_answers_503_while_the_store_is_down(fakes: Fakes) -> None:
    f = fakes
    m = f.claude.managed
    store = FlakyStore()
    async with run_app(env_for(f, "sqlite:///unused"), store=store) as bot:
        root, job = await start_job(bot, f)
        m.max_attempts = 1
        m.subscribe(bot.url + "/webhooks/anthropic")
        session = m.session_for(threadline_job=job.id)
        store.down = True
        m.finish(session.id, "Done.")
        await m.settled()
        idled = next(d for d in m.deliveries if d.event["data"]["type"] == "session.status_idled")
        assert idled.status == 503
        store.down = False
        f.claude.script(Reply(text="Done after all."))
        assert (await m.replay(idled)).status == 200  # the sender's retry
        await settled(bot)
        assert replies(f.slack, "C1", root)[-1] == "Done after all."


async def test_the_callback_answers_503_while_the_store_is_down(fakes: Fakes) -> None:
    f = fakes
    store = FlakyStore()
    env = env_for(f, "sqlite:///unused", runner="callback")
    async with run_app(env, store=store) as bot:
        root, job = await start_job(bot, f)
        (d,) = f.dispatch.dispatches
        url = f"{bot.url}/jobs/{job.id}/callback"
        store.down = True
        status, _ = await f.dispatch.report(d, summary="ok", url=url)
        assert status == 503
        store.down = False
        f.claude.script(Reply(text="Reported after the outage."))
        status, text = await f.dispatch.report(d, summary="ok", url=url)
        assert status == 200 and json.loads(text)["result"] == "recorded"
        await settled(bot)
        assert replies(f.slack, "C1", root)[-1] == "Reported after the outage."
