"""``python -m app <command>``: serve (the default) and the operator commands.

The entry point is the only place that reads the process environment (and ``.env``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from app import logs
from app.config import Settings
from app.errors import ConfigError, InvalidSettings, StoreError

log = logging.getLogger("app")


def load_env() -> dict[str, str]:
    """The process environment over ``.env`` (``THREADLINE_ENV_FILE``): the environment wins.

    Read without changing ``os.environ``, so running ``main`` in-process leaves no trace.
    """
    from dotenv import dotenv_values

    path = os.environ.get("THREADLINE_ENV_FILE", ".env")
    from_file = {k: v for k, v in dotenv_values(path).items() if v is not None}
    return {**from_file, **os.environ}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    return Settings.from_mapping(load_env() if env is None else env)


def report_config_error(exc: ConfigError, *, hint: str = "") -> None:
    """One line on stderr per bad setting, each whole on its own (log collectors split lines)."""
    problems = exc.problems if isinstance(exc, InvalidSettings) else [(exc.setting, exc.problem)]
    for setting, problem in problems:
        print(f"threadline: configuration error: {setting}: {problem}{hint}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app", description="Threadline: a Slack agent with lasting memory."
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    serve = commands.add_parser("serve", help="run the bot (the default)")
    serve.add_argument("--port", type=int, help="override PORT")
    from app import ops

    ops.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "serve"
    if command == "doctor":
        # doctor reports a bad setting as a failed check and still runs the other checks.
        from app import ops

        return ops.doctor_main(args, load_env())
    try:
        settings = load_settings()
    except ConfigError as exc:
        report_config_error(exc, hint=" (see .env.example)")
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        if command == "serve":
            return serve(settings, port=getattr(args, "port", None))
        from app import ops

        return asyncio.run(ops.run(command, args, settings))
    except ConfigError as exc:
        report_config_error(exc)
        return 2
    except StoreError as exc:
        print(f"threadline: database error: {exc} (check DATABASE_URL)", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


def serve(settings: Settings, *, port: int | None = None) -> int:
    from aiohttp import web

    from app.http.server import ServerLimits, server_options
    from app.main import build_app

    app = build_app(settings)
    try:
        web.run_app(
            app.web,
            host=settings.host,
            port=port if port is not None else settings.port,
            print=lambda message: log.info(message.strip()),
            access_log=None,
            shutdown_timeout=5.0,
            handle_signals=True,
            # body deadline, idle and header timeouts, line and header sizes: app.http.server
            **server_options(app.web, ServerLimits()),
        )
    except ConfigError as exc:
        report_config_error(exc)
        return 2
    except StoreError as exc:
        print(f"threadline: database error: {exc} (check DATABASE_URL)", file=sys.stderr)
        return 3
    return 0
