"""Profiles of the burst: ``py-spy record`` on a bot, its samples grouped by package."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


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
