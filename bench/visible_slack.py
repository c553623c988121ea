"""The fake Slack of the burst benchmark, as its own process, saying what users would see.

``python -m bench.visible_slack --port 0 --people 50`` prints the base URL, then one JSON
line per Web API call: ``{"call": method, "when": time.monotonic()}`` (one clock for every
process on the machine), with the ``channel`` and ``thread`` the call is about when it names
them; and for a call that leaves a bot message with its final text (``chat.postMessage``,
``chat.update``, ``chat.stopStream``) also that ``text``. A streamed reply is visible when
its stream stops, not while it is appended to.

``POST /bench/say`` with ``{"channel", "user", "text", "thread_ts"?}`` records a person's
message the way Slack does before it sends the event, and answers its ``ts``; so the thread
that ``conversations.replies`` returns holds the people's messages as well as the bot's, in
ts order. People ``U100``… have names for ``users.info``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from aiohttp import web

from tests.fakes.server import run, serve_forever
from tests.fakes.slack import FakeSlack

FINAL = frozenset({"chat.postMessage", "chat.update", "chat.stopStream"})


def person(n: int) -> str:
    """The user id of the ``n``-th person of the benchmark."""
    return f"U{100 + n}"


class VisibleSlack(FakeSlack):
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, people: int = 0) -> None:
        super().__init__(host=host, port=port)
        for n in range(people):
            self.users[person(n)] = {"real_name": f"Person {n}", "display_name": f"person{n}"}

    def add_routes(self, app: web.Application) -> None:
        super().add_routes(app)
        app.router.add_post("/bench/say", self._say)

    async def _say(self, request: web.Request) -> web.Response:
        said = await request.json()
        msg = self.add_message(
            str(said["channel"]),
            str(said["text"]),
            user=str(said["user"]),
            thread_ts=said.get("thread_ts") or None,
        )
        return web.json_response({"ts": msg.ts})

    def _dispatch(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        status, body, extra = super()._dispatch(method, params, headers)
        record: dict[str, Any] = {"call": method, "when": time.monotonic()}
        channel = str(params.get("channel") or params.get("channel_id") or "")
        if params.get("thread_ts"):
            record.update(channel=channel, thread=str(params["thread_ts"]))
        elif (ts := params.get("ts")) and (msg := self.message(channel, str(ts))) is not None:
            record.update(channel=channel, thread=msg.thread_ts or msg.ts)
        if body.get("ok") and method in FINAL:
            msg = self.message(str(body["channel"]), str(body["ts"]))
            if msg is not None and not (msg.streamed and not msg.stopped):
                record.update(channel=msg.channel, thread=msg.thread_ts or msg.ts, text=msg.text)
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
        return status, body, extra


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.visible_slack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--people", type=int, default=0, help="users U100… with names")
    args = parser.parse_args()
    run(serve_forever(VisibleSlack(host=args.host, port=args.port, people=args.people)))


if __name__ == "__main__":
    main()
