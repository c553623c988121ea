"""Logs: one JSON line per event with the turn's ids, and never a message text or a secret."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app import logs
from tests.fakes.anthropic import Fail, FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import SIGNING_SECRET, base_env, dm, mention, new_ts, replies, run_app

PRIVATE = "the launch code is PURPLE-ELEPHANT-42"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def json_log() -> io.StringIO:
    """The root logger configured as ``LOG_FORMAT=json LOG_LEVEL=INFO`` would, into a buffer."""
    buffer = io.StringIO()
    logs.configure("INFO", "json", stream=buffer)
    return buffer


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.users["U1"] = {"real_name": "Ada Lovelace", "display_name": "ada"}
        yield fake


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


def entries(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = buffer.getvalue().splitlines()
    assert lines
    return [json.loads(line) for line in lines]  # every line is one JSON object


async def test_turns_log_json_lines_with_ids_and_no_message_text_or_secrets(
    json_log: io.StringIO, slack: FakeSlack, claude: FakeAnthropic, tmp_path: Path
) -> None:
    env = base_env(slack.url, claude.root_url, f"sqlite:///{tmp_path / 'threadline.db'}")
    async with run_app(env) as bot:
        root = new_ts()
        await bot.send_event(mention(PRIVATE, ts=root))
        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
        await bot.send_event(dm(f"in a DM: {PRIVATE}"))
        await bot.idle()
        assert [m.user for m in slack.messages("D1")] == ["UBOT"]  # the DM was answered
        claude.script(Fail(529, "overloaded_error", "Overloaded", retry_after=0.01, times=3))
        await bot.send_event(mention(f"again: {PRIVATE}", thread_ts=root))
        await slack.wait_for(lambda s: any("try again" in m.text for m in s.messages("C1")))
        await bot.idle()

    found = entries(json_log)
    for entry in found:
        assert {"time", "level", "logger", "message"} <= entry.keys()
    starts = [e for e in found if e["message"].startswith("turn start")]
    done = [e for e in found if e["message"].startswith("turn done")]
    assert len(starts) == 3 and len(done) == 2
    for entry in starts + done:
        assert entry["turn_id"].startswith("t-")
        assert entry["key"].startswith("threadline:slack:")
    for entry in done:
        assert entry["session_id"]
    assert {e["key"] for e in done} == {
        f"threadline:slack:C1::{root}",
        "threadline:slack:D1::main",
    }
    failure = [e for e in found if e["level"] == "WARNING" and "model call failed" in e["message"]]
    assert len(failure) == 1
    assert failure[0]["turn_id"] and failure[0]["session_id"]
    text = json_log.getvalue()
    for never in ("PURPLE-ELEPHANT", "xoxb-test-token", "sk-ant-test", SIGNING_SECRET):
        assert never not in text, never


def _record(message: str, **context: Any) -> logging.LogRecord:
    record = logging.LogRecord("app.turn", logging.INFO, __file__, 1, message, None, None)
    for name, value in context.items():
        setattr(record, name, value)
    logs.ContextFilter().filter(record)
    return record


def test_text_format_appends_context() -> None:
    formatter = logs.TextFormatter("%(levelname)s %(name)s: %(message)s")
    line = formatter.format(_record("turn done", turn_id="t-1", key="threadline:jira:AD-1"))
    assert line == "INFO app.turn: turn done turn_id=t-1 key=threadline:jira:AD-1"
    assert formatter.format(_record("plain")) == "INFO app.turn: plain"


def test_json_format_carries_context_and_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "app", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info()
        )
    record.turn_id = "t-2"
    logs.ContextFilter().filter(record)
    entry = json.loads(logs.JsonFormatter().format(record))
    assert entry["message"] == "failed x"
    assert entry["turn_id"] == "t-2"
    assert "session_id" not in entry
    assert "ValueError: boom" in entry["exception"]


@pytest.mark.parametrize(
    "secret",
    [
        "xoxb-1234567890-abcdefghij",
        "xapp-1-A0123-456789-abcdef",
        "sk-ant-api03-abcdefghijklmnop",
        "ghp_abcdefghijklmnopqrstuvwxyz012345",
        "github_pat_11ABCDEFG0123456789_abcdef",
        "ATATT3xFfGF0T5JNjhY_abc-def0123=9A1B2C3D",  # an Atlassian (Jira) API token
    ],
)
def test_credentials_are_masked_in_every_format(secret: str) -> None:
    record = _record(f"calling with {secret} now")
    assert secret not in logs.TextFormatter().format(record)
    assert "[redacted]" in logs.JsonFormatter().format(record)
    assert logs.redact(f"Authorization: Bearer {secret}") == "Authorization: Bearer [redacted]"
    assert logs.redact("Basic dXNlcjpwYXNzd29yZA==") == "Basic [redacted]"


def test_configure_replaces_its_own_handler_and_keeps_others() -> None:
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    logs.configure("INFO", "text", stream=io.StringIO())
    buffer = io.StringIO()
    logs.configure("WARNING", "json", stream=buffer)
    ours = [h for h in root.handlers if getattr(h, "_threadline", False)]
    assert len(ours) == 1 and other in root.handlers
    assert root.level == logging.WARNING
    logging.getLogger("app").warning("careful", extra={"key": "threadline:jira:AD-3"})
    logging.getLogger("app").info("not shown")
    [entry] = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert entry["message"] == "careful" and entry["key"] == "threadline:jira:AD-3"


async def test_bound_context_reaches_records_and_tasks_started_inside() -> None:
    buffer = io.StringIO()
    logs.configure("INFO", "json", stream=buffer)
    log = logging.getLogger("app.test")

    async def heartbeat() -> None:
        log.info("from a task")

    with logs.bind(turn_id="t-7", key="threadline:slack:C1::1.2"):
        with logs.bind(session_id="s-1"):
            log.info("inside")
            await asyncio.create_task(heartbeat())
        log.info("explicit wins", extra={"turn_id": "t-8"})
    log.info("outside")
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    context = [{k: e.get(k) for k in ("turn_id", "session_id", "key")} for e in lines]
    assert context == [
        {"turn_id": "t-7", "session_id": "s-1", "key": "threadline:slack:C1::1.2"},
        {"turn_id": "t-7", "session_id": "s-1", "key": "threadline:slack:C1::1.2"},
        {"turn_id": "t-8", "session_id": None, "key": "threadline:slack:C1::1.2"},
        {"turn_id": None, "session_id": None, "key": None},
    ]
    with pytest.raises(ValueError, match="user_text"), logs.bind(user_text="hi"):
        pass


def test_default_stream_is_whatever_stderr_is_now(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", "text")
    logging.getLogger("app").info("to the current stderr", extra={"turn_id": "t-9"})
    assert "to the current stderr turn_id=t-9" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://bot:s3cret@db:5432/tl", "postgresql://bot:[redacted]@db:5432/tl"),
        ("to postgres://bot:p@ss@db/tl failed", "to postgres://bot:[redacted]@db/tl failed"),
        ("postgresql://bot@db/tl", "postgresql://bot@db/tl"),
        ("sqlite:///./data/threadline.db", "sqlite:///./data/threadline.db"),
        ("https://slack.com/api/auth.test", "https://slack.com/api/auth.test"),
    ],
)
def test_url_passwords_are_masked(text: str, shown: str) -> None:
    assert logs.redact(text) == shown
    assert logs.JsonFormatter().format(_record(text)).count("[redacted]") == shown.count(
        "[redacted]"
    )


def test_settings_never_show_the_database_password() -> None:
    from app.config import Secret, Settings

    settings = Settings(
        slack_bot_token=Secret("xoxb-x"), database_url="postgresql://bot:s3cret@db:5432/tl"
    )
    assert "s3cret" not in repr(settings)
    assert settings.database_url_masked == "postgresql://bot:***@db:5432/tl"
    assert settings.database_url == "postgresql://bot:s3cret@db:5432/tl"  # still usable
    local = Settings(slack_bot_token=Secret("xoxb-x"), database_url="sqlite:///./x.db")
    assert local.database_url_masked == "sqlite:///./x.db"


async def test_debug_logging_keeps_sql_and_transcripts_out(tmp_path: Path) -> None:
    from app.core import Usage
    from app.store import SqlStore
    from app.store.base import NewMessage, TurnCommit

    buffer = io.StringIO()
    logs.configure("DEBUG", "text", stream=buffer)
    for name in logs.QUIET_DRIVERS:
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name
    store = SqlStore(f"sqlite:///{tmp_path / 'threadline.db'}")
    try:
        await store.migrate()
        session = await store.create_session("tl")
        fence = await store.acquire_lease(session.id, "w", 30)
        assert fence is not None
        await store.commit_turn(
            TurnCommit(
                session_id=session.id,
                fence=fence,
                turn_id="t-1",
                messages=[NewMessage("user", [{"type": "text", "text": PRIVATE}])],
                usage=Usage(),
                model="m",
                outcome="ok",
                holder="w",
            )
        )
        assert await store.load_messages(session.id)
    finally:
        await store.close()
    logging.getLogger("app.test").debug("our own debug line")
    text = buffer.getvalue()
    assert "our own debug line" in text
    assert "PURPLE-ELEPHANT" not in text
    assert "INSERT INTO" not in text and "SELECT" not in text
