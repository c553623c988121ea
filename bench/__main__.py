"""``python -m bench`` (``make bench``): run every scenario, print the results table and write it
to ``bench/results.md``.

    python -m bench                       # everything (a few minutes)
    python -m bench --quick               # smaller samples, for a smoke run
    python -m bench --only memory --memory-sessions 2000
    python -m bench --only burst          # the burst alone, against the naive bot (minutes)
    python -m bench --only burst --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from app import logs
from bench.burst import BEFORE, burst
from bench.scenarios import SCENARIOS, Figure, Outcome, Scenario, memory

RESULTS = Path(__file__).resolve().parent / "results.md"


def table(figures: list[Figure]) -> str:
    rows = [["Figure", "Value", "Target", "Met?"]]
    for f in figures:
        met = "—" if f.met is None else ("yes" if f.met else "**no**")
        rows.append([f.name, f.value, f.target, met])
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


async def run(args: argparse.Namespace) -> int:
    chosen: list[tuple[str, Scenario]] = []
    for name, scenario in [*SCENARIOS, ("burst", burst)]:
        if args.only and not any(o in name for o in args.only):
            continue
        if scenario is memory:
            scenario = functools.partial(memory, sessions=args.memory_sessions)
        if scenario is burst:
            before = None if args.before == "none" else args.before
            scenario = functools.partial(
                burst, postgres=args.postgres, before=before, profile=args.profile
            )
        chosen.append((name, scenario))
    figures: list[Figure] = []
    notes: list[str] = []
    sections: dict[str, str] = {}
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
        workdir = Path(tmp)
        # The app logs as in production (INFO), into a file rather than the terminal.
        with (workdir / "app.log").open("w", encoding="utf-8") as log_file:
            logs.configure("INFO", "text", stream=log_file)
            for name, scenario in chosen:
                print(f"bench: {name}…", file=sys.stderr, flush=True)
                t = time.perf_counter()
                outcome: Outcome = await scenario(workdir, args.quick)
                print(f"bench: {name} done in {time.perf_counter() - t:.0f} s", file=sys.stderr)
                figures.extend(outcome.figures)
                notes.extend(outcome.notes)
                for key, block in outcome.sections.items():
                    # A section carries the targets of its scenario, for runs of it alone.
                    sections[key] = f"{block}\n\nTargets:\n\n{table(outcome.figures)}"
    elapsed = time.perf_counter() - started
    result = table(figures)
    print(result)
    print()
    for note in notes:
        print(f"- {note}")
    command = "python -m bench" + (" " + " ".join(args.argv) if args.argv else "")
    taken = (
        f"`{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; load average "
        f"(1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after."
    )
    for block in sections.values():
        print(f"\n{block}\n\n{taken}")
    document = "\n".join(
        [
            "# Threadline benchmark",
            "",
            f"`{command}` (`make bench`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"{machine()}; {elapsed:.0f} s in all. Load average (1 min) {load_before:.1f} "
            f"before, {os.getloadavg()[0]:.1f} after: the machine is shared, and tail "
            "latencies move with what else runs on it.",
            "",
            "The real app (`tests.harness.run_app`) on SQLite in a temporary folder, driven over "
            "HTTP with signed Slack events, against the loopback fakes with an instant model "
            "(no delay between streamed events). Where latency or memory is measured, the fake "
            "model and the fake Slack run in their own processes, so their work lands neither "
            "on the app's event loop nor in its memory.",
            "",
            result,
            "",
            "## How each figure was taken",
            "",
            *(f"- {n}" for n in notes),
            "",
        ]
    )
    if args.only:
        document = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    for key, block in sections.items():
        document = splice(document, key, f"{block}\n\n{taken}")
    if not args.only or sections:
        args.out.write_text(document, encoding="utf-8")
        print(f"\nwritten to {args.out}", file=sys.stderr)
    return 0 if all(f.met is not False for f in figures) else 1


def splice(document: str, key: str, block: str) -> str:
    """``document`` with its part between the ``key`` markers replaced by ``block`` (appended
    if there is none yet)."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    wrapped = f"{start}\n{block}\n{end}"
    if start in document and end in document:
        head, rest = document.split(start, 1)
        return head + wrapped + rest.split(end, 1)[1]
    return document.rstrip("\n") + "\n\n" + wrapped + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples (smoke run)")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only scenarios whose name has this"
    )
    parser.add_argument("--memory-sessions", type=int, default=10_000, metavar="N")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEST_DATABASE_URL"),
        metavar="URL",
        help="PostgreSQL server for the burst (a fresh database per run; default "
        "TEST_DATABASE_URL; without one the burst runs on SQLite only)",
    )
    parser.add_argument(
        "--before",
        default=BEFORE,
        metavar="COMMIT",
        help=f"also run the burst on SQLite with the app at this commit (default {BEFORE}; "
        "'none' to skip)",
    )
    parser.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        help="no profiles of the burst (taken in bursts of their own when py-spy is installed: "
        "pip install py-spy)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the table")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    args.argv = raw
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
