"""Operator commands (everything but ``serve``)."""

from __future__ import annotations

import argparse
from typing import Any

from app.config import Settings


def add_commands(commands: Any) -> None:
    commands.add_parser("migrate", help="apply database migrations and exit")
    prune = commands.add_parser("prune", help="delete expired and reset sessions, old inbox rows")
    prune.add_argument("--json", action="store_true", help="machine-readable output")


async def run(command: str, args: argparse.Namespace, settings: Settings) -> int:
    from app.store import open_store

    store = await open_store(settings.database_url, ttl_days=settings.session_ttl_days)
    try:
        if command == "migrate":
            print(f"schema at {await store.migrate()}")
        elif command == "prune":
            await store.migrate()
            print(await store.prune(settings.retention_days))
    finally:
        await store.close()
    return 0
