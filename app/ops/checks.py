"""What ``doctor`` reports: one ``Check`` per line, ``PASS``, ``WARN``, ``FAIL`` or ``SKIP``.

A ``WARN`` is a working setup that is riskier than it needs to be (a trust setting opened up,
a scope missing that one rule needs); it never changes the exit status. A ``FAIL`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["pass", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def line(self) -> str:
        text = f"{self.status.upper()} {self.name}: {self.detail}"
        return f"{text} — {self.fix}" if self.fix else text


def passed(name: str, detail: str) -> Check:
    return Check(name, "pass", detail)


def warned(name: str, detail: str, fix: str) -> Check:
    return Check(name, "warn", detail, fix)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, "fail", detail, fix)


def skipped(name: str, detail: str) -> Check:
    return Check(name, "skip", detail)
