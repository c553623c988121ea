"""The fake Slack as its own process, reporting each finished reply on stdout.

``python -m bench.timed_slack --port 0`` prints the base URL, then one line per reply whose
stream stopped: ``done <channel> <thread_ts> <time.monotonic()>``. CLOCK_MONOTONIC is one
clock for every process on the machine, so the benchmark compares it with its own.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from tests.fakes.server import run, serve_forever
from tests.fakes.slack import FakeSlack


class ReportingSlack(FakeSlack):
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, keep: bool = False) -> None:
        super().__init__(host=host, port=port)
        self.users["U1"] = {"real_name": "Ada Lovelace", "display_name": "ada"}
        self._keep = keep
        self._thread_of: dict[tuple[str, str], str] = {}

    def _dispatch(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        status, body, extra = super()._dispatch(method, params, headers)
        if body.get("ok") and method == "chat.startStream":
            self._thread_of[(str(params["channel"]), str(body["ts"]))] = str(params["thread_ts"])
        elif body.get("ok") and method == "chat.stopStream":
            channel = str(params["channel"])
            thread = self._thread_of.pop((channel, str(params["ts"])), "")
            sys.stdout.write(f"done {channel} {thread} {time.monotonic()!r}\n")
            sys.stdout.flush()
            if not self._keep:
                # Forget finished replies: the fake would otherwise slow down as it grows (it
                # finds a message by scanning them all).
                self._messages = [m for m in self._messages if not m.stopped]
                self.calls.clear()
        return status, body, extra


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.timed_slack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    run(serve_forever(ReportingSlack(host=args.host, port=args.port)))


if __name__ == "__main__":
    main()
