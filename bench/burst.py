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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import aiohttp
import asyncpg
from sqlalchemy.engine import make_url

from bench.fixtures import ROOT, FakeProcess, app_env, percentile
from bench.scenarios import Figure, Outcome
from bench.visible_slack import person
from tests.harness import BOT_USER, TEAM, sign
from tests.process.bot import free_port, procfile_command

THREADS, TURNS = 50, 4
WARM_PEOPLE, SOLO_PEOPLE = 5, 10  # before the burst; after it, one turn at a time
X = "\N{MULTIPLICATION SIGN}"
REPLY_TIMEOUT = 120.0
ACK_TIMEOUT = aiohttp.ClientTimeout(total=3)  # Slack's limit for acknowledging an event
BEFORE = "e458de8"
"""The commit the burst was first measured on: ``--before`` runs it again, for comparison."""
BEFORE_SLACK_CALLS = 4.0
"""Slack calls per turn at ``BEFORE`` (when the burst runs without ``--before``)."""
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


# -- processes ---------------------------------------------------------------------------------


class BotProcess:
    """A bot as its own process, output to a log file; its CPU and memory read from /proc."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._argv, self._cwd, self._log = argv, cwd, log
        self._env = {
            "PATH": os.environ.get("PATH", ""),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "THREADLINE_ENV_FILE": "/nonexistent/.env",
            **env,
        }
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Self:
        with self._log.open("ab") as out:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv, cwd=self._cwd, env=self._env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self._proc.returncode is not None:
                    tail = self._log.read_text(errors="replace").splitlines()[-15:]
                    raise RuntimeError("\n".join([f"{self._argv} exited:", *tail]))
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            return self
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self._argv} did not become healthy; see {self._log}")

    async def __aexit__(self, *exc: object) -> None:
        if self._proc is None or self._proc.returncode is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._proc.wait(), timeout=30)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/<pid>/status")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fakes_and_load_cpu(*fakes: FakeProcess) -> float:
    """CPU so far of the fakes' processes and of this one (the load)."""
    own = os.times()
    return own.user + own.system + sum(cpu_seconds(f.pid) for f in fakes)


class VisibleSlackProcess(FakeProcess):
    """``bench.visible_slack`` in its own process: counts calls, resolves awaited replies."""

    def __init__(self, people: int) -> None:
        super().__init__("bench.visible_slack", "--people", str(people))
        self.calls: Counter[str] = Counter()
        self.in_thread: dict[tuple[str, str], list[float]] = {}  # when each call was made
        self._waiting: dict[tuple[str, str], list[tuple[str, asyncio.Future[float]]]] = {}
        self._reader: asyncio.Task[None] | None = None

    @property
    def root(self) -> str:
        return self.url.removesuffix("/api/")

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def expect(self, channel: str, thread: str, token: str) -> asyncio.Future[float]:
        """A future set to the moment a bot message in the thread holding ``token`` is final."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault((channel, thread), []).append((token, future))
        return future

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            record = json.loads(line)
            self.calls[record["call"]] += 1
            if "thread" in record:
                where = (record["channel"], record["thread"])
                self.in_thread.setdefault(where, []).append(float(record["when"]))
            if "text" not in record:
                continue
            waiting = self._waiting.get((record["channel"], record["thread"]), [])
            for token, future in list(waiting):
                if token in record["text"] and not future.done():
                    future.set_result(float(record["when"]))
                    waiting.remove((token, future))


class Profiler:
    """``py-spy record`` on a process (if py-spy is installed: ``pip install py-spy``); its
    samples grouped by the package of the function running (the leaf frame)."""

    def __init__(self, pid: int, out: Path) -> None:
        self._out = out
        self._proc: subprocess.Popen[bytes] | None = None
        exe = py_spy()
        if exe is None:
            return
        argv = [
            exe,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--full-filenames",
        ]
        self._proc = subprocess.Popen(
            [*argv, "--nonblocking", "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)  # attached

    def stop(self) -> dict[str, float]:
        if self._proc is None:
            return {}
        self._proc.send_signal(signal.SIGINT)
        self._proc.wait(timeout=30)
        return by_package(self._out.read_text(encoding="utf-8", errors="replace"))


def py_spy() -> str | None:
    """py-spy's executable, on PATH or beside this Python (None if it is not installed)."""
    beside = Path(sys.executable).with_name("py-spy")
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def by_package(folded: str) -> dict[str, float]:
    """Share of the event loop's samples in py-spy's raw (folded) output by the package of the
    leaf frame: ``app.<layer>``, an installed distribution, or ``stdlib <module>``. Samples of
    other threads (a database driver's, the default executor's) are left out."""
    counts: Counter[str] = Counter()
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if "_run_once" not in stack or not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        match = re.search(r"\((.*):\d+\)$", leaf)
        counts[_package(match.group(1) if match else leaf)] += int(count)
    total = sum(counts.values()) or 1
    return {k: n / total for k, n in counts.most_common()}


def _package(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    parts = Path(path).parts
    if "app" in parts:
        rest = parts[parts.index("app") + 1 :]
        return "app." + (rest[0].removesuffix(".py") if rest else "")
    if "python3.11" in parts:
        rest = parts[parts.index("python3.11") + 1 :]
        return "stdlib " + (rest[0].removesuffix(".py") if rest else "")
    return "other"


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


# -- one configuration -------------------------------------------------------------------------


@dataclass
class Run:
    """What one configuration did during the burst (the warm-up excluded)."""

    label: str
    latencies: list[float]
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    slack_calls: dict[str, int]
    sql: dict[str, float] = field(default_factory=dict)  # per turn, by kind
    sql_source: str = ""
    lost: int = 0
    retried: int = 0
    ack_p99: float = 0.0
    first_call_p50: float = 0.0  # from the event to the first Slack call about its thread
    profile: dict[str, float] = field(default_factory=dict)  # share of samples by package
    processes: int = 1  # the bot's (replicas)
    turn_seconds: float = 0.0  # mean time of a turn once claimed (the app's /metrics), 0: unknown
    others_cpu_seconds: float = 0.0  # the fakes' and the load's, during the burst
    solo_cpu_ms: float = 0.0  # CPU per turn of short turns sent one at a time, after the burst
    solo_p50: float = 0.0

    @property
    def turns(self) -> int:
        return len(self.latencies)

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    @property
    def rate(self) -> float:
        return self.turns / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_seconds / self.turns

    @property
    def slack_per_turn(self) -> float:
        return sum(n for m, n in self.slack_calls.items() if m != "auth.test") / self.turns


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


def checkout(commit: str, where: Path) -> Path | None:
    """This repository at ``commit``, cloned into ``where`` (None, said on stderr, if git
    cannot: no git, or a copy without that commit)."""
    try:
        subprocess.run(
            ["git", "clone", "-q", "--shared", "--no-checkout", str(ROOT), str(where)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["git", "-C", str(where), "checkout", "-q", commit], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"bench: burst: no run at {commit}: {err}", file=sys.stderr)
        return None
    return where


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
        runs["before"] = await measure(config, workdir, threads, turns)
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
                runs["pg-before"] = await measure(config, workdir, threads, turns)
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


# -- the report --------------------------------------------------------------------------------


def report(runs: dict[str, Run], threads: int, turns: int, saved: Path | None) -> Outcome:
    naive, sqlite = runs["naive"], runs["sqlite"]
    before = runs.get("before")
    calls_before = before.slack_per_turn if before else BEFORE_SLACK_CALLS
    figures = [
        _ratio_figure("Burst p50, SQLite (event → reply visible)", sqlite.p50, naive.p50, "ms"),
        _ratio_figure("Burst p99, SQLite", sqlite.p99, naive.p99, "ms"),
        Figure(
            "Burst throughput, SQLite",
            f"{sqlite.rate:.1f} turns/s "
            f"(naive {naive.rate:.1f}, {X}{sqlite.rate / naive.rate:.2f})",
            f"≥ 2{X} naive",
            sqlite.rate >= 2 * naive.rate,
        ),
        Figure(
            "Bot CPU per short turn, SQLite: burst / one at a time",
            f"{sqlite.cpu_ms:.1f} ms / {sqlite.solo_cpu_ms:.1f} ms "
            f"(naive {naive.cpu_ms:.1f} / {naive.solo_cpu_ms:.1f} ms)",
            "≤ 15 ms",
            max(sqlite.cpu_ms, sqlite.solo_cpu_ms) <= 15,
        ),
        Figure(
            "Slack calls per turn, burst",
            f"{sqlite.slack_per_turn:.2f} (before {calls_before:.2f}, naive "
            f"{naive.slack_per_turn:.2f})",
            "≤ before",
            sqlite.slack_per_turn <= calls_before + 0.005,
        ),
    ]
    if pg := runs.get("pg"):
        figures.append(
            Figure(
                "Burst on PostgreSQL, one replica, against SQLite",
                f"p50 {X}{pg.p50 / sqlite.p50:.2f}, p99 {X}{pg.p99 / sqlite.p99:.2f}, "
                f"turns/s {X}{pg.rate / sqlite.rate:.2f}",
                f"within 1.5{X}",
                pg.p50 <= 1.5 * sqlite.p50
                and pg.p99 <= 1.5 * sqlite.p99
                and pg.rate * 1.5 >= sqlite.rate,
            )
        )
    if (pg2 := runs.get("pg2")) and pg:
        figures.append(
            Figure(
                "Burst throughput, two replicas on one PostgreSQL",
                f"{pg2.rate:.1f} turns/s, {X}{pg2.rate / pg.rate:.2f} one replica's",
                f"≥ 1.7{X}",
                pg2.rate >= 1.7 * pg.rate,
            )
        )
    lost = sum(r.lost for r in runs.values())
    notes = [
        f"Burst: {threads} threads {X} {turns} mentions against the naive bot; how, and every "
        f"figure per configuration, in the Burst section below; {_kept(saved)}."
        + (f" {lost} replies never became visible." if lost else "")
        + (
            ""
            if "pg" in runs
            else " PostgreSQL not run: give a server with --postgres URL or TEST_DATABASE_URL."
        )
    ]
    return Outcome(figures, notes, sections={"burst": section(runs, threads, turns, saved)})


def _ratio_figure(name: str, value: float, naive: float, unit: str) -> Figure:
    return Figure(
        name,
        f"{1000 * value:.0f} {unit} (naive {1000 * naive:.0f} {unit}, {X}{value / naive:.2f})",
        f"≤ 0.5{X} naive",
        value <= 0.5 * naive,
    )


def section(runs: dict[str, Run], threads: int, turns: int, saved: Path | None) -> str:
    """The burst's own part of bench/results.md: every configuration side by side."""
    columns = list(runs.values())
    rows: list[tuple[str, list[str]]] = [
        ("p50, event POST → reply visible", [f"{1000 * r.p50:.0f} ms" for r in columns]),
        ("p99", [f"{1000 * r.p99:.0f} ms" for r in columns]),
        (
            "p50, event POST → first Slack call in the thread",
            [f"{1000 * r.first_call_p50:.0f} ms" for r in columns],
        ),
        (
            "time in the turn once claimed (mean)",
            [f"{1000 * r.turn_seconds:.0f} ms" if r.turn_seconds else "—" for r in columns],
        ),
        ("turns per second", [f"{r.rate:.1f}" for r in columns]),
        ("bot CPU per turn", [f"{r.cpu_ms:.1f} ms" for r in columns]),
        (
            "bot busy (share of a core, per process)",
            [f"{r.cpu_seconds / r.seconds / r.processes:.0%}" for r in columns],
        ),
        (
            "CPU per turn of the fakes and the load",
            [f"{1000 * r.others_cpu_seconds / r.turns:.1f} ms" for r in columns],
        ),
        ("… one turn at a time: CPU", [f"{r.solo_cpu_ms:.1f} ms" for r in columns]),
        ("… one turn at a time: p50", [f"{1000 * r.solo_p50:.0f} ms" for r in columns]),
        ("peak RSS (largest process)", [f"{r.peak_rss_mb:.0f} MB" for r in columns]),
        ("Slack calls per turn", [f"{r.slack_per_turn:.2f}" for r in columns]),
        ("SQL statements per turn", [_sql(r, "statements") for r in columns]),
        ("SQL transactions per turn", [_sql(r, "transactions") for r in columns]),
        ("burst time", [f"{r.seconds:.1f} s" for r in columns]),
        ("event acknowledged, p99", [f"{1000 * r.ack_p99:.0f} ms" for r in columns]),
        ("events sent again (no 200 within 3 s)", [str(r.retried) for r in columns]),
        ("replies never visible", [str(r.lost) for r in columns]),
    ]
    header = ["", *(r.label for r in columns)]
    lines = [
        "## Burst",
        "",
        f"{threads} people, each in their own thread, mention the bot {turns} times, each "
        "mention once the answer to the previous one is visible, the threads concurrently. "
        "Every mention is delivered as Slack does when the app subscribes to app_mention and "
        "message.channels: two signed events for one message, the person's message already "
        "in the thread, sent again if not acknowledged within 3 s. Each bot runs as its own "
        "process, Threadline with its Procfile command (`python -m app`) and default settings "
        "(hourly rates off); the instant fake model and the fake Slack run in their own "
        "processes. The naive bot (`bench/baseline`) is what a team might write first: "
        "signature check, each thread's history in a dict, the whole answer at once (no "
        "streaming), `chat.postMessage`, every mention answered at once in its own task, "
        "nothing stored. PostgreSQL runs get a fresh database each; "
        '"at <commit>" is Threadline as it was at that commit, for before and after.',
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join([name, *cells]) + " |" for name, cells in rows),
        "",
    ]
    naive, sqlite = runs["naive"], runs["sqlite"]
    lines.append(
        "- Threadline on SQLite against the naive bot: "
        f"p50 {X}{sqlite.p50 / naive.p50:.2f}, p99 {X}{sqlite.p99 / naive.p99:.2f}, "
        f"turns/s {X}{sqlite.rate / naive.rate:.2f}, "
        f"CPU per turn {X}{sqlite.cpu_ms / naive.cpu_ms:.2f}."
    )
    for now, then in (("sqlite", "before"), ("pg", "pg-before")):
        if now in runs and then in runs:
            a, b = runs[now], runs[then]
            lines.append(
                f"- {a.label} against {b.label}: p50 {X}{a.p50 / b.p50:.2f}, "
                f"p99 {X}{a.p99 / b.p99:.2f}, turns/s {X}{a.rate / b.rate:.2f}, "
                f"CPU per turn {X}{a.cpu_ms / b.cpu_ms:.2f}."
            )
    lines += ["", "Slack calls per turn, by method:", ""]
    for r in columns:
        by_method = ", ".join(
            f"{m} {n / r.turns:.2f}"
            for m, n in sorted(r.slack_calls.items(), key=lambda kv: -kv[1])
            if m != "auth.test"
        )
        lines.append(f"- {r.label}: {by_method}")
    profiled = [r for r in columns if r.profile]
    if profiled:
        lines += [
            "",
            "Where the event loop's time goes during the burst (py-spy at 200 Hz in a burst of "
            "its own, share of the loop thread's samples by the package of the running "
            "function; the time of a C extension, such as sqlite3's, counts for the package "
            "calling it):",
            "",
        ]
        for r in profiled:
            top = list(r.profile.items())[:10]
            lines.append(f"- {r.label}: " + ", ".join(f"{k} {v:.0%}" for k, v in top))
    sources = sorted({r.sql_source for r in columns if r.sql_source})
    lines += [
        "",
        "CPU is the bot processes' utime + stime from /proc/<pid>/stat during the burst (after "
        f'a warm-up of {WARM_PEOPLE} two-turn threads), summed over replicas; "one turn at a '
        f'time" is {SOLO_PEOPLE} more people sending two mentions each after the burst, one '
        "after another. A reply is visible when the fake Slack records its final text "
        "(chat.postMessage, chat.update or chat.stopStream carrying the question's token). "
        "Slack calls exclude auth.test. SQL counts: "
        + ("; ".join(sources) if sources else "not exposed by the app")
        + f"; {_kept(saved)}.",
    ]
    return "\n".join(lines)


def _kept(saved: Path | None) -> str:
    return (
        f"raw figures in `bench/runs/{saved.name}`" if saved else "raw figures not kept (--quick)"
    )


def _sql(run: Run, kind: str) -> str:
    return f"{run.sql[kind]:.1f}" if kind in run.sql else "—"
