"""Operator commands (everything but ``serve``): ``doctor``, ``sessions``, ``prune``, ``erase``,
``usage``, ``feedback``, ``jobs``, ``migrate``.

``app.cli`` registers them with ``add_commands`` and runs them with ``run``; ``doctor`` enters
through ``doctor_main`` instead, because it reads the configuration itself (a bad setting is
one of the things it reports). Every command takes ``--json``: one JSON document on stdout and
nothing else, diagnostics on stderr.

Exit codes: 0 ok; 1 a check failed, or no such session; 2 configuration error; 3 database
error (unreachable, or its schema is not the one this version needs).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from typing import Any, Final

from app.config import Settings
from app.ops import doctor, erase, feedback, jobs, output, sessions, usage
from app.store.base import Store

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2
EXIT_DATABASE: Final = 3


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout, for scripts"
    )


def add_commands(commands: Any) -> None:
    """Add the operator subcommands to ``python -m app``'s subparsers."""
    check = commands.add_parser(
        "doctor",
        help="check the configuration and every service it points at",
        description=(
            "Check the settings, Slack (token and scopes), Anthropic (key and model), the "
            "database and its schema, Jira and GitHub when configured, and the trust settings: "
            "one PASS/WARN/FAIL/SKIP line per check, with the fix for each warning and failure. "
            "Exit status 0 when nothing fails (warnings included), 1 when a check fails, 2 "
            "when the configuration itself is invalid."
        ),
    )
    _json_flag(check)
    sessions.add_parser(commands, _json_flag)
    prune = commands.add_parser(
        "prune",
        help="expire idle sessions; delete ended ones and old inbox rows",
        description=(
            "Mark sessions idle past SESSION_TTL_DAYS or older than SESSION_MAX_AGE_DAYS as "
            "expired, then delete ended sessions (with their transcripts and logs) and inbox "
            "rows handled, or received and never handled, before the retention period. The "
            "running bot does this hourly by itself."
        ),
    )
    prune.add_argument(
        "--retention-days",
        type=sessions.days_arg,
        metavar="DAYS",
        help="keep ended sessions and handled deliveries this long (default: RETENTION_DAYS)",
    )
    _json_flag(prune)
    erase.add_parser(commands, _json_flag)
    usage.add_parser(commands, _json_flag)
    feedback.add_parser(commands, _json_flag)
    jobs.add_parser(commands, _json_flag)
    migrate = commands.add_parser(
        "migrate",
        help="apply database migrations and exit",
        description="Bring the database schema up to this version (serve also does on start).",
    )
    _json_flag(migrate)


async def run(command: str, args: argparse.Namespace, settings: Settings) -> int:
    """Run one operator command; returns the exit status. ``StoreError`` propagates."""
    if command == "doctor":
        return await doctor_command(args, settings.extra)
    from app.store import open_store, utcnow

    store = await open_store(
        settings.database_url,
        ttl_days=settings.session_ttl_days,
        max_age_days=settings.trust.session_max_age_days,
    )
    try:
        if command == "migrate":
            return await _migrate(store, json_out=args.json)
        problem = await _schema_problem(store)
        if problem is not None:
            output.error(problem)
            return EXIT_DATABASE
        if command == "prune":
            days = args.retention_days
            if days is None:
                days = float(settings.retention_days)
            return await _prune(store, days, args.json)
        if command == "erase":
            return await erase.run(args, store)
        if command == "feedback":
            return await feedback.run(args, store)
        if command == "jobs":
            return await jobs.run(args, store, settings)
        if command == "usage":
            return await usage.run(args, store, settings.actions, now=utcnow())
        if command == "sessions":
            context = sessions.Context(
                store=store,
                agent=settings.agent_name,
                now=utcnow(),
                ttl_days=settings.session_ttl_days,
                max_age_days=settings.trust.session_max_age_days,
            )
            return await sessions.run(args, context)
        raise ValueError(f"unknown command {command!r}")  # argparse prevents this
    finally:
        await store.close()


async def _schema_problem(store: Store) -> str | None:
    current, head = await store.schema_version(), await store.head_version()
    if current == head:
        return None
    found = f"schema {current}" if current else "no Threadline tables"
    return (
        f"the database has {found}, this version needs {head}: "
        "run `python -m app migrate` (or start the bot, which migrates)"
    )


async def _migrate(store: Store, *, json_out: bool) -> int:
    before = await store.schema_version()
    after = await store.migrate()
    if json_out:
        output.emit_json({"schema_before": before, "schema": after, "changed": before != after})
    elif before == after:
        print(f"Schema already at {after}; nothing to do.")
    else:
        print(f"Schema migrated from {before or '(empty database)'} to {after}.")
    return EXIT_OK


async def _prune(store: Store, retention_days: float, json_out: bool) -> int:
    result = await store.prune(retention_days)
    if json_out:
        output.emit_json({"retention_days": retention_days, **vars(result)})
        return EXIT_OK
    rows = [
        [
            "sessions expired",
            str(result.sessions_expired),
            "idle past SESSION_TTL_DAYS, or older than SESSION_MAX_AGE_DAYS",
        ],
        [
            "sessions deleted",
            str(result.sessions_deleted),
            f"ended more than {retention_days:g} days ago, with their transcripts",
        ],
        ["events deleted", str(result.events_deleted), "log entries of those sessions"],
        [
            "deliveries deleted",
            str(result.deliveries_deleted),
            f"inbox rows handled, or received and never handled, over {retention_days:g} days ago",
        ],
    ]
    print(output.table(["PRUNED", "COUNT", "WHICH"], rows, right={1}))
    return EXIT_OK


async def doctor_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    checks = await doctor.run_checks(env)
    config_failed = any(c.name == "config" and c.status == "fail" for c in checks)
    any_failed = any(c.status == "fail" for c in checks)
    if args.json:
        output.emit_json(
            {
                "ok": not any_failed,
                "checks": [
                    {"name": c.name, "status": c.status, "detail": c.detail, "fix": c.fix}
                    for c in checks
                ],
            }
        )
    else:
        for c in checks:
            print(c.line())
    if config_failed:
        return EXIT_CONFIG
    return EXIT_FAILED if any_failed else EXIT_OK


def doctor_main(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``python -m app doctor``: the entry point hands over the raw environment."""
    from app import logs

    # A bad LOG_LEVEL or LOG_FORMAT reads as its default here, and doctor reports it.
    settings, _ = Settings.best_effort(env)
    logs.configure(settings.log_level, settings.log_format)
    try:
        return asyncio.run(doctor_command(args, env))
    except KeyboardInterrupt:
        return 130
