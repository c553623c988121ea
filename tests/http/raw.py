"""A raw HTTP client on a socket, for what no HTTP library sends: a request head or a body
trickled a byte at a time, a body cut off, a connection left idle.

It keeps every byte the server sent, in order, even when the connection ends in a reset (a
server closing on a client that is still sending answers its next bytes with one), so a test
can read the answer the server gave before it closed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class RawClient(asyncio.Protocol):
    def __init__(self) -> None:
        self.received = bytearray()
        self.closed = asyncio.Event()
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def connect(cls, host: str, port: int) -> RawClient:
        _, client = await asyncio.get_running_loop().create_connection(cls, host, port)
        return client

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> bool:
        self.closed.set()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    # the test's side
    def send(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.closed.is_set():
            self.transport.write(data)

    async def trickle(self, data: bytes, *, pause: float, half_close: bool = True) -> None:
        """Send ``data`` a byte at a time, ``pause`` apart, until it is sent or the server
        closed the connection; then (``half_close``) stop sending, so that a server that never
        closes the connection still ends it."""
        for byte in data:
            if self.closed.is_set():
                return
            self.send(bytes([byte]))
            await asyncio.sleep(pause)
        if half_close and self.transport is not None and not self.closed.is_set():
            self.transport.write_eof()

    async def answer(self) -> bytes:
        """Everything the server sent, once it has closed the connection."""
        await self.closed.wait()
        return bytes(self.received)

    def close(self, *, reset: bool = False) -> None:
        if self.transport is not None:
            if reset:
                self.transport.abort()
            else:
                self.transport.close()


def request_head(method: str, path: str, **headers: str | int) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(answer: bytes) -> int | None:
    """The status of the first response in ``answer``; None when there is none."""
    line, _, _ = answer.partition(b"\r\n")
    parts = line.split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        return None
    return int(parts[1])


def json_of(answer: bytes) -> Any:
    """The JSON body of a single response with a Content-Length."""
    _, _, body = answer.partition(b"\r\n\r\n")
    return json.loads(body)


def header_of(answer: bytes, name: str) -> str | None:
    head, _, _ = answer.partition(b"\r\n\r\n")
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None
