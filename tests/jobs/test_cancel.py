"""Cancelling a job, through the running app: on a callback runner (which cannot be told to
stop) the tool says Threadline stops listening and a later report is ignored; an operator's
``python -m app jobs cancel`` is told in the thread and counted in the running bot's
``/metrics`` like a cancel by the tool."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from app.cli import main
from tests.fakes.anthropic import Reply, ToolCall
from tests.harness import eventually, mention, replies
from tests.jobs.conftest import Fakes, env_for, settled, start, start_job
from tests.jobs.test_callback import report_url


async def test_cancelling_a_callback_job_stops_listening_to_it(
    fakes: Fakes, sqlite_url: str
) -> None:
    f = fakes
    async with start(f, sqlite_url, runner="callback") as bot:
        root, job = await start_job(bot, f)
        (d,) = f.dispatch.dispatches
        stop = ToolCall("cancel_background_job", {"job_id": job.id})
        f.claude.script(Reply(text="Stopping.", tool_calls=[stop]), Reply(text="Stopped here."))
        await bot.send_event(mention("stop it", thread_ts=root))
        await settled(bot)
        (offered,) = [t for t in f.claude.requests[-1]["tools"] if t["name"] == stop.name]
        assert "cannot be told to stop" in offered["description"]
        said = str(f.claude.requests[-1]["messages"][-1]["content"][0]["content"])
        assert "no longer listens to it and ignores any later report" in said
        assert "may still finish" in said
        assert len(f.dispatch.dispatches) == 1  # nothing was sent to the runner

        status, text = await f.dispatch.report(d, summary="Done anyway.", url=report_url(bot, d))
        assert status == 200 and json.loads(text)["result"] == "late"
        await settled(bot)
        still = await bot.store.get_job(job.id)
        assert still is not None and still.status == "cancelled"
        assert replies(f.slack, "C1", root)[-1] == "Stopping.\n\nStopped here."


async def test_an_operators_cancel_is_told_and_counted_by_the_bot(
    fakes: Fakes, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = fakes
    async with start(f, sqlite_url) as bot:
        root, job = await start_job(bot, f)
        for name, value in env_for(f, sqlite_url).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("THREADLINE_ENV_FILE", str(tmp_path / "no.env"))
        f.claude.script(Reply(text="An operator cancelled the job."))
        root_logger = logging.getLogger()
        handlers, level = list(root_logger.handlers), root_logger.level
        try:
            assert await asyncio.to_thread(main, ["jobs", "cancel", job.id]) == 0
        finally:
            root_logger.handlers[:] = handlers
            root_logger.setLevel(level)

        await eventually(lambda: "An operator cancelled the job." in replies(f.slack, "C1", root))
        status, page = await bot.get("/metrics")
        assert status == 200
        assert 'threadline_jobs_total{outcome="cancelled",runner="managed"} 1.0' in page
        assert 'threadline_job_seconds_count{runner="managed"} 1.0' in page
        assert f.claude.managed.session_for(threadline_job=job.id).archived
