"""What the burst reports: the figures of each configuration (``Run``), the results-table rows
with their targets, and the burst's own section of ``bench/results.md``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.fixtures import percentile
from bench.scenarios import Figure, Outcome

X = "\N{MULTIPLICATION SIGN}"
BEFORE_SLACK_CALLS = 4.0
"""Slack calls per turn at the commit first measured (when the burst runs without ``--before``)."""
WARM_PEOPLE, SOLO_PEOPLE = 5, 10  # before the burst; after it, one turn at a time


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
