"""``doctor``'s database checks: can Threadline use ``DATABASE_URL``, and is its schema current.

``database``: a SQLite file's folder must be writable (checked without creating anything: a
check must not create the file, and connecting to SQLite would); a server must answer. The URL
is shown masked (``Settings.database_url_masked``). ``schema``: at the revision this version
needs, behind it (migrate), or at one this version does not know (a newer release migrated).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

from app.config import Settings
from app.errors import StoreError
from app.ops.checks import Check, failed, passed

MIGRATE: Final = "run `python -m app migrate` (serve also migrates when it starts)"


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    _, _, rest = url.partition(":///")
    return Path(rest.split("?", 1)[0]) if rest else None


async def database(s: Settings) -> list[Check]:
    from app.store import open_store

    shown = s.database_url_masked
    fix_url = "check DATABASE_URL (sqlite:///path/to/file.db or postgresql://user@host/db)"
    path = _sqlite_path(s.database_url)
    if path is not None:
        problem = _sqlite_problem(path)
        if problem is not None:
            return [failed("database", f"{shown}: {problem}", fix_url + " and the file's folder")]
    try:
        store = await open_store(s.database_url, ttl_days=s.session_ttl_days)
    except StoreError as exc:
        return [failed("database", f"{shown}: {exc}", fix_url)]
    try:
        if path is not None and not path.exists():
            # Checking must not create the file (connecting to SQLite would).
            head = await store.head_version()
            return [
                passed("database", f"{shown}: no file yet; it can be created there"),
                failed("schema", f"no database yet (this version needs schema {head})", MIGRATE),
            ]
        await store.ping()
        current = await store.schema_version()
        head = await store.head_version()
    except StoreError as exc:
        return [failed("database", f"cannot use {shown}: {exc}", fix_url)]
    finally:
        with contextlib.suppress(StoreError):
            await store.close()
    reachable = passed("database", f"{shown} is reachable")
    if current == head:
        return [reachable, passed("schema", f"at {head}, the current version")]
    if current is None:
        detail, fix = f"no tables yet (this version needs schema {head})", MIGRATE
    elif not _known_revision(current):
        detail = f"at {current}, which this version of Threadline does not know (newest: {head})"
        fix = "upgrade Threadline: a newer version migrated this database"
    else:
        detail, fix = f"at {current}, behind this version's {head}", MIGRATE
    return [reachable, failed("schema", detail, fix)]


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    from app.store.sql import MIGRATIONS_DIR

    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    try:
        return scripts.get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown revision
        return False


def _sqlite_problem(path: Path) -> str | None:
    """Why Threadline could not write the SQLite file at ``path`` (None: it can)."""
    folder = path.parent
    if path.exists():
        if not path.is_file():
            return "the path exists but is not a file"
        if not os.access(path, os.R_OK | os.W_OK):
            return "the file is not readable and writable by this user"
    else:
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            return f"{folder} is not a folder, so the database file cannot be created"
    # SQLite keeps its WAL and lock files next to the database.
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable by this user"
    return None
