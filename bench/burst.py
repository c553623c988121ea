"""The burst: fifty people mention the bot at once, each in their own thread, four times.

Each person's four mentions go in order, each once the answer to the previous one is visible;
the fifty threads run concurrently. Every mention is what Slack really sends when the app is
subscribed to ``app_mention`` and ``message.channels``: two signed events for one message
(``app_mention`` and ``message``), the person's message already in the thread.

Every bot runs as its own process, started the way operators start it (the Procfile's
``python -m app``), and the fakes run in their own processes: the instant model
(``tests.fakes.anthropic``) and the fake Slack (``bench.visible_slack``), which reports each
call and the moment a reply's final text is recorded. Configurations: Threadline on SQLite,
on PostgreSQL (a fresh database per run), two replicas on one PostgreSQL, the naive bot of
``bench.baseline``, and (``--before``) Threadline as it was at an earlier commit, on SQLite.

Figures per configuration: latency from the event POST to the reply visible (p50, p99), turns
per second, the bot's CPU per turn (utime + stime from ``/proc/<pid>/stat``, summed over its
processes, during the burst only), peak RSS (``VmHWM``), Slack calls per turn (counted by the
fake), and SQL per turn: statements and transactions from the app's ``/metrics`` when it
counts them, else transactions from PostgreSQL's ``pg_stat_database``.

Here: the load and the run of each configuration. The processes are in ``bench.bots``, the
profiles in ``bench.profile``, the figures and the report in ``bench.burst_report``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy.engine import make_url

from bench.bots import BotProcess, VisibleSlackProcess, checkout, fakes_and_load_cpu
from bench.burst_report import SOLO_PEOPLE, WARM_PEOPLE, Run, report
from bench.fixtures import ROOT, FakeProcess, app_env, percentile
from bench.profile import Profiler, py_spy
from bench.scenarios import Outcome
from bench.visible_slack import person
from tests.harness import BOT_USER, TEAM, sign
from tests.process.bot import procfile_command

THREADS, TURNS = 50, 4
REPLY_TIMEOUT = 120.0
ACK_TIMEOUT = aiohttp.ClientTimeout(total=3)  # Slack's limit for acknowledging an event
BEFORE = "e458de8"
"""The commit the burst was first measured on: ``--before`` runs it again, for comparison."""
RUNS = Path(__file__).resolve().parent / "runs"
# What the burst reads from the app's /metrics (summed over labels and replicas): the SQL it
# runs, and the time its turns take once claimed.
METRICS = {
    "statements": re.compile(r"^threadline_store_statements_total\b"),
    "transactions": re.compile(r"^threadline_store_transactions_total\b"),
    "turn_seconds": re.compile(r"^threadline_turn_seconds_sum\b"),
    "turns": re.compile(r"^threadline_turn_seconds_count\b"),
}
SQL = ("statements", "transactions")


# -- the load ----------------------------------------------------------------------------------


@dataclass
class Load:
    """Sends people's mentions like Slack does, round-robin over the bots' URLs."""

    http: aiohttp.ClientSession
    slack: VisibleSlackProcess
    bots: list[str]
    sent: int = 0
    lost: int = 0
    retried: int = 0  # deliveries not acknowledged with a 200 within 3 s, so sent again
    acks: list[float] = field(default_factory=list)  # seconds to each acknowledgement
    first_call: list[float] = field(default_factory=list)  # seconds to the turn's first call

    async def turn(self, n: int, k: int, channel: str, thread: str | None) -> tuple[float, str]:
        """Person ``n`` mentions the bot (in ``thread``, or starting one); returns the seconds
        from the first event POST to the reply visible, and the thread."""
        token = f"q{n}x{k}z{uuid.uuid4().hex[:6]}"
        text = f"<@{BOT_USER}> question {k} of person {n}, {token}: how is the rollout going?"
        user = person(n)
        async with self.http.post(
            self.slack.root + "/bench/say",
            json={"channel": channel, "user": user, "text": text, "thread_ts": thread},
        ) as r:
            ts = str((await r.json())["ts"])
        root = thread or ts
        visible = self.slack.expect(channel, root, token)
        start = time.monotonic()
        await asyncio.gather(
            *(self._deliver(body) for body in slack_events(channel, user, text, ts, thread))
        )
        seconds = await asyncio.wait_for(visible, REPLY_TIMEOUT) - start
        made = [w for w in self.slack.in_thread.get((channel, root), []) if w >= start]
        self.first_call.append(min(made) - start)
        return seconds, root

    async def person(self, n: int, turns: int, channel: str) -> list[float]:
        """``turns`` mentions in one thread, each once the previous answer is visible."""
        thread: str | None = None
        latencies = []
        for k in range(turns):
            try:
                seconds, thread = await self.turn(n, k, channel, thread)
            except TimeoutError:
                self.lost += turns - k
                break
            latencies.append(seconds)
        return latencies

    async def _deliver(self, body: bytes) -> None:
        """POST one event as Slack does: a delivery not acknowledged with a 200 within 3 s is
        sent again (here after a second, up to three times), marked as a retry."""
        reason = ""
        for attempt in range(4):
            url = self.bots[self.sent % len(self.bots)]
            self.sent += 1
            headers = {"Content-Type": "application/json", **sign(body)}
            if attempt:
                self.retried += 1
                headers |= {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": reason}
            start = time.monotonic()
            try:
                async with self.http.post(
                    url + "/slack/events", data=body, headers=headers, timeout=ACK_TIMEOUT
                ) as r:
                    await r.read()
                    if r.status == 200:
                        self.acks.append(time.monotonic() - start)
                        return
                    reason = "http_error"
            except (TimeoutError, aiohttp.ClientError):
                reason = "http_timeout"
            await asyncio.sleep(1)
        raise RuntimeError("a delivery was refused four times")


def slack_events(channel: str, user: str, text: str, ts: str, thread: str | None) -> list[bytes]:
    """The two deliveries of one channel message that mentions the bot, as Slack sends them."""
    message: dict[str, Any] = {
        "client_msg_id": str(uuid.uuid4()),
        "user": user,
        "text": text,
        "ts": ts,
        "team": TEAM,
        "channel": channel,
        "event_ts": ts,
    }
    if thread:
        message["thread_ts"] = thread
    events = [{"type": "app_mention", **message}, {"type": "message", **message}]
    events[1]["channel_type"] = "channel"
    return [
        json.dumps(
            {
                "token": "legacy",
                "team_id": TEAM,
                "api_app_id": "A1",
                "event": event,
                "type": "event_callback",
                "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(time.time()),
                "authorizations": [
                    {
                        "team_id": TEAM,
                        "user_id": BOT_USER,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
                "is_ext_shared_channel": False,
                "event_context": f"4-{event['type']}-{TEAM}-{channel}",
            }
        ).encode()
        for event in events
    ]


# -- one configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    label: str
    argv: list[str]
    cwd: Path
    databases: list[str]  # one per replica ("" for the naive bot)
    postgres: str | None = None  # the server's URL, for pg_stat_database


async def measure(
    config: Config, workdir: Path, threads: int, turns: int, *, profile: bool = False
) -> Run:
    print(f"bench: burst: {config.label}…", file=sys.stderr, flush=True)
    async with (
        VisibleSlackProcess(threads + WARM_PEOPLE + SOLO_PEOPLE) as slack,
        FakeProcess("tests.fakes.anthropic") as claude,
        contextlib.AsyncExitStack() as stack,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
    ):
        bots = []
        for i, database in enumerate(config.databases):
            env = app_env(slack.url, claude.url, database)
            log = workdir / f"{_slug(config.label)}-{i}.log"
            bot = BotProcess(config.argv, env, config.cwd, log)
            bots.append(await stack.enter_async_context(bot))
        load = Load(http, slack, [b.url for b in bots])
        # Warm-up, in a channel of its own: five people, two mentions each.
        await asyncio.gather(*(load.person(threads + i, 2, "CWARM") for i in range(WARM_PEOPLE)))
        metrics = await _metrics(http, bots)
        counted_by_app = any(k in metrics for k in SQL)
        pg = await _pg_counts(config, settle=11) if config.postgres and not counted_by_app else None
        cpu = sum(b.cpu_seconds() for b in bots)
        others = fakes_and_load_cpu(slack, claude)
        calls = Counter(slack.calls)
        load.lost, load.retried, load.acks, load.first_call = 0, 0, [], []
        spy = Profiler(bots[0].pid, workdir / f"{_slug(config.label)}.folded") if profile else None
        start = time.monotonic()
        results = await asyncio.gather(
            *(load.person(n, turns, f"C{n % 5:03d}") for n in range(threads))
        )
        seconds = time.monotonic() - start
        cpu = sum(b.cpu_seconds() for b in bots) - cpu
        run = Run(
            label=config.label,
            latencies=[x for r in results for x in r],
            seconds=seconds,
            cpu_seconds=cpu,
            peak_rss_mb=max(b.peak_rss_mb() for b in bots),
            slack_calls=dict(slack.calls - calls),
            lost=load.lost,
            retried=load.retried,
            ack_p99=percentile(load.acks, 99),
            first_call_p50=percentile(load.first_call, 50),
            processes=len(bots),
            others_cpu_seconds=fakes_and_load_cpu(slack, claude) - others,
        )
        if spy is not None:
            run.profile = spy.stop()
        after = await _metrics(http, bots)
        if after.get("turns", 0) > metrics.get("turns", 0):
            run.turn_seconds = (after["turn_seconds"] - metrics["turn_seconds"]) / (
                after["turns"] - metrics["turns"]
            )
        # Then short turns one at a time: ten more people, two mentions each.
        cpu, solo = sum(b.cpu_seconds() for b in bots), []
        for i in range(SOLO_PEOPLE):
            solo += await load.person(threads + WARM_PEOPLE + i, 2, "CSOLO")
        run.solo_cpu_ms = 1000 * (sum(b.cpu_seconds() for b in bots) - cpu) / len(solo)
        run.solo_p50 = percentile(solo, 50)
        # Stopped before PostgreSQL is asked: a backend reports its counts when it ends.
        await stack.aclose()
        if counted_by_app:
            run.sql = {k: (after[k] - metrics.get(k, 0)) / run.turns for k in SQL if k in after}
            run.sql_source = "the app's /metrics"
        elif pg is not None:
            run.sql = {"transactions": (await _pg_counts(config, settle=1) - pg) / run.turns}
            run.sql_source = (
                "pg_stat_database xact_commit + xact_rollback (the bots' shutdown included)"
            )
    return run


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")


async def _metrics(http: aiohttp.ClientSession, bots: list[BotProcess]) -> dict[str, float]:
    """``METRICS`` from every bot's /metrics, summed (those the app does not expose left out)."""
    totals: dict[str, float] = {}
    for bot in bots:
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(bot.url + "/metrics") as r:
                if r.status != 200:
                    continue
                text = await r.text()
            for line in text.splitlines():
                for kind, pattern in METRICS.items():
                    if pattern.match(line):
                        totals[kind] = totals.get(kind, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


async def _pg_counts(config: Config, *, settle: float) -> int:
    """Transactions PostgreSQL has counted for the run's database(s) after ``settle`` seconds:
    a backend reports its counts when it ends, or when idle at most every 10 s."""
    assert config.postgres is not None
    await asyncio.sleep(settle)
    names = sorted({str(make_url(d).database) for d in config.databases})
    conn = await asyncpg.connect(config.postgres)
    try:
        value = await conn.fetchval(
            "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database "
            "WHERE datname = any($1::text[])",
            names,
        )
    finally:
        await conn.close()
    return int(value or 0)


async def reachable(server: str) -> bool:
    """Whether PostgreSQL answers at ``server`` and lets us create databases (said if not)."""
    try:
        conn = await asyncpg.connect(server, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        shown = make_url(server).render_as_string(hide_password=True)
        print(f"bench: burst: no PostgreSQL runs, {shown} refused: {err}", file=sys.stderr)
        return False
    try:
        if await conn.fetchval(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
        ):
            return True
        print(
            "bench: burst: no PostgreSQL runs, the role may not create databases", file=sys.stderr
        )
        return False
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_database(server: str, name: str) -> Any:
    """A new, empty PostgreSQL database on ``server``, dropped afterwards; yields its URL."""
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def measure_earlier(config: Config, workdir: Path, threads: int, turns: int) -> Run | None:
    """``measure`` for the app at an earlier commit: None (said on stderr) if it does not start."""
    try:
        return await measure(config, workdir, threads, turns)
    except RuntimeError as err:
        print(f"bench: burst: no run of {config.label}: {err}", file=sys.stderr)
        return None


# -- the scenario ------------------------------------------------------------------------------


async def burst(
    workdir: Path,
    quick: bool,
    *,
    postgres: str | None = None,
    before: str | None = None,
    profile: bool = False,
) -> Outcome:
    """The burst on every configuration, compared with the naive bot."""
    threads, turns = (20, 2) if quick else (THREADS, TURNS)
    app = procfile_command()
    naive = [sys.executable, "-m", "bench.baseline"]
    sqlite = f"sqlite:///{workdir / 'burst.db'}"
    runs: dict[str, Run] = {}
    runs["naive"] = await measure(Config("naive bot", naive, ROOT, [""]), workdir, threads, turns)
    config = Config("SQLite", app, ROOT, [sqlite])
    runs["sqlite"] = await measure(config, workdir, threads, turns)
    code = checkout(before, workdir / "before") if before else None
    if code is not None:
        url = f"sqlite:///{workdir / 'burst-before.db'}"
        config = Config(f"SQLite at {before}", app, code, [url])
        if (run := await measure_earlier(config, workdir, threads, turns)) is None:
            code = None  # the earlier app does not run with today's dependencies
        else:
            runs["before"] = run
    if postgres and not await reachable(postgres):
        postgres = None
    if postgres:
        name = f"threadline_burst_{os.getpid()}"
        async with fresh_database(postgres, name + "_1") as url:
            config = Config("PostgreSQL", app, ROOT, [url], postgres)
            runs["pg"] = await measure(config, workdir, threads, turns)
        if code is not None:
            async with fresh_database(postgres, name + "_0") as url:
                config = Config(f"PostgreSQL at {before}", app, code, [url], postgres)
                if run := await measure_earlier(config, workdir, threads, turns):
                    runs["pg-before"] = run
        async with fresh_database(postgres, name + "_2") as url:
            config = Config("PostgreSQL, 2 replicas", app, ROOT, [url, url], postgres)
            runs["pg2"] = await measure(config, workdir, threads, turns)
    if profile and py_spy():
        # Sampling costs CPU on a small machine: the profiles come from bursts of their own.
        for key, cwd in (("sqlite", ROOT), ("before", code)):
            if key in runs and cwd is not None:
                url = f"sqlite:///{workdir / f'burst-profile-{key}.db'}"
                config = Config(runs[key].label, app, cwd, [url])
                profiled = await measure(config, workdir, threads, turns, profile=True)
                runs[key].profile = profiled.profile
    saved = None
    if not quick:  # kept: the raw figures of every full run
        RUNS.mkdir(exist_ok=True)
        saved = RUNS / f"burst-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
        raw = {k: asdict(r) for k, r in runs.items()}
        saved.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    return report(runs, threads, turns, saved)
