"""Slow and vanishing clients, over raw sockets on loopback, under short server limits
(``TEST_LIMITS``): each is answered or closed, logs no traceback, and leaves the app serving.

No test measures time: each asserts what the client got (a 408, a closed connection) and
what the log says. The clients stop by themselves (they trickle a bounded number of bytes,
then half-close), so a server that failed to cut them off would fail the assertions, not hang.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.harness import eventually
from tests.http.conftest import MAX_BODY, Served
from tests.http.raw import RawClient, header_of, json_of, request_head, status_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

PAUSE = 0.05  # between trickled bytes: ten of them fit in the test's body deadline
ROUTES = [
    ("POST", "/slack/events"),
    ("POST", "/webhooks/github"),
    ("POST", "/webhooks/jira"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("POST", "/nowhere"),
]


def alarming(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def slow_body(served: Served, method: str = "POST", path: str = "/slack/events") -> bytes:
    """Send a request head, then its body a byte at a time, never the whole of it."""
    client = await RawClient.connect(served.host, served.port)
    client.send(request_head(method, path, Content_Length=1000))
    await client.trickle(b"x" * 999, pause=PAUSE)
    return await client.answer()


async def slow_head(served: Served) -> bytes:
    """Send a request head a byte at a time, never its end."""
    client = await RawClient.connect(served.host, served.port)
    await client.trickle(request_head("GET", "/healthz", X_Padding="p" * 400)[:-2], pause=PAUSE)
    return await client.answer()


async def assert_healthy(served: Served) -> None:
    status, _ = await served.get("/healthz")
    assert status == 200


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_a_body_trickled_past_the_deadline_gets_a_408_and_the_connection_closed(
    served: Served, caplog: pytest.LogCaptureFixture, method: str, path: str
) -> None:
    caplog.set_level(logging.DEBUG)

    answer = await slow_body(served, method, path)

    assert status_of(answer) == 408
    assert json_of(answer) == {"error": "request body not received within 0.5 s"}
    assert header_of(answer, "Connection") == "close"
    assert any("body not received within" in r.getMessage() for r in caplog.records)
    assert alarming(caplog) == []
    await assert_healthy(served)


async def test_a_body_in_time_is_read_whole_however_it_arrives(served: Served) -> None:
    """The deadline is for the whole body, not each read: a body sent in pieces within it is
    handled as one (here: refused for its signature, which proves it was read and checked)."""
    client = await RawClient.connect(served.host, served.port)
    body = b'{"type": "event_callback"}'
    client.send(request_head("POST", "/slack/events", Content_Length=len(body)))
    await client.trickle(body[:5], pause=0.01, half_close=False)
    client.send(body[5:])

    answer = await _first_answer(client)

    assert status_of(answer) == 401
    client.close()


async def _first_answer(client: RawClient) -> bytes:
    """The bytes of the first complete response (the connection stays open: keep-alive)."""
    await eventually(
        lambda: _complete(bytes(client.received)) or client.closed.is_set(), what="an answer"
    )
    return bytes(client.received)


def _complete(answer: bytes) -> bool:
    _, _, body = answer.partition(b"\r\n\r\n")
    length = header_of(answer, "Content-Length")
    return length is not None and len(body) >= int(length)


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_client_gone_mid_body_is_one_info_line_and_nothing_else(
    served: Served, caplog: pytest.LogCaptureFixture, reset: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await RawClient.connect(served.host, served.port)
    client.send(request_head("POST", "/slack/events", Content_Length=1000) + b'{"type": "ev')
    await asyncio.sleep(PAUSE)  # the head is in, the handler is reading the body

    client.close(reset=reset)

    def gone() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "went away" in r.getMessage()]

    await eventually(lambda: gone(), what="the disconnect logged")
    [record] = gone()
    assert (record.name, record.levelno, record.exc_info) == ("app.http.bodies", logging.INFO, None)
    assert alarming(caplog) == []
    assert (await served.app.store.stats()).pending_deliveries == 0
    await assert_healthy(served)


async def test_a_head_trickled_past_the_idle_timeout_is_closed_unanswered(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    answer = await slow_head(served)

    assert answer == b""
    assert alarming(caplog) == []
    await assert_healthy(served)


async def test_an_idle_connection_is_closed(served: Served) -> None:
    client = await RawClient.connect(served.host, served.port)
    client.send(request_head("GET", "/healthz"))
    first = await _first_answer(client)
    assert status_of(first) == 200

    # nothing more is sent: the server closes the kept-alive connection by itself
    assert await client.answer() == first


async def test_fifty_slow_clients_at_once_are_all_cut_off_and_the_app_serves_on(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    answers = await asyncio.gather(
        *(slow_body(served, *ROUTES[i % len(ROUTES)]) for i in range(25)),
        *(slow_head(served) for _ in range(25)),
    )

    assert [status_of(a) for a in answers[:25]] == [408] * 25
    assert answers[25:] == [b""] * 25
    assert alarming(caplog) == []
    await assert_healthy(served)
    status, _ = await served.post("/slack/events", b"{}", {"Content-Type": "application/json"})
    assert status == 401  # read, checked and refused: the route works


async def test_a_chunked_body_over_the_limit_is_a_413(served: Served) -> None:
    client = await RawClient.connect(served.host, served.port)
    client.send(request_head("POST", "/webhooks/github", Transfer_Encoding="chunked"))
    chunk = b"x" * 8192
    for _ in range(MAX_BODY // len(chunk) + 2):
        client.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")

    answer = await client.answer()

    assert status_of(answer) == 413
    assert json_of(answer)["error"] == "payload too large"


async def test_a_body_that_cannot_be_decoded_is_a_400_and_closed(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await RawClient.connect(served.host, served.port)
    client.send(request_head("POST", "/slack/events", Content_Encoding="gzip", Content_Length=10))
    await asyncio.sleep(PAUSE)  # the head is in, the handler is reading the body
    client.send(b"not gzip!!")

    answer = await client.answer()

    assert (status_of(answer), json_of(answer)) == (400, {"error": "malformed request body"})
    assert alarming(caplog) == []


@pytest.mark.parametrize(
    "request_bytes",
    [
        request_head("POST", "/slack/events", Transfer_Encoding="chunked") + b"zz\r\n",
        request_head("GET", "/healthz", X_Long="h" * 9000),
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP at all\r\n\r\n",
    ],
    ids=["bad chunk size", "header too long", "request line too long", "TLS hello"],
)
async def test_a_request_that_cannot_be_parsed_is_a_400_without_a_traceback(
    served: Served, caplog: pytest.LogCaptureFixture, request_bytes: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await RawClient.connect(served.host, served.port)
    client.send(request_bytes)

    answer = await client.answer()

    assert status_of(answer) == 400
    assert alarming(caplog) == []
    await assert_healthy(served)
