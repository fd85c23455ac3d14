"""A Viber API stand-in on a plain asyncio socket, for the outbound tests that need to
control exactly *when* a call fails: before the request arrived (nothing listening),
after Viber read and acted on it (no answer, a dropped connection), or with an
answer. Unlike the simulator it records a request the moment it has read it in full —
that is, the moment Viber would have sent the message — whatever happens next.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections import defaultdict
from typing import Any

#: What the fake does with a call, in the order calls arrive (per API method):
#: ``ok`` (default) — status 0, ``failed_list`` for the receivers in ``unreachable``;
#: ``slow`` — like ``ok``, answered after ``slow_seconds``;
#: ``hang`` — acts on it, never answers; ``drop`` — acts on it, closes the connection;
#: ``http<NNN>`` — that HTTP status, not acted on; ``status<N>`` — that Viber status,
#: not acted on; ``garbage`` — acts on it, answers 200 with something that isn't JSON.
ACTED_ON = {"ok", "slow", "hang", "drop", "garbage"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeViber:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/pa"
        #: every request read in full: (method, body, behaviour)
        self.requests: list[tuple[str, dict[str, Any], str]] = []
        self.script: dict[str, list[str]] = defaultdict(list)
        self.unreachable: set[str] = set()
        self.slow_seconds = 0.5
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tokens = itertools.count(5_000_000_000_000_000_001)
        #: TCP connections accepted so far
        self.connections = 0

    def then(self, method: str, *behaviours: str) -> None:
        self.script[method].extend(behaviours)

    def acted_on(self, method: str) -> list[dict[str, Any]]:
        """Bodies of the calls the fake "sent" (what a real Viber would have delivered and billed)."""
        return [body for m, body, how in self.requests if m == method and how in ACTED_ON]

    def received(self, method: str) -> int:
        return sum(1 for m, _, _ in self.requests if m == method)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request_line, *header_lines = head.split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
                body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))))
                method = request_line.split()[1].rsplit("/", 1)[-1]
                how = self.script[method].pop(0) if self.script[method] else "ok"
                self.requests.append((method, body, how))
                if how == "hang":
                    await asyncio.sleep(3600)
                if how == "slow":
                    await asyncio.sleep(self.slow_seconds)
                if how == "drop":
                    writer.transport.abort()
                    return
                if how.startswith("http"):
                    await self._answer(writer, int(how[4:]), b'{"error": "injected"}')
                elif how.startswith("status"):
                    status = int(how[6:])
                    await self._answer(writer, 200, json.dumps({"status": status, "status_message": "injected"}).encode())
                elif how == "garbage":
                    await self._answer(writer, 200, b"<html>Bad gateway</html>")
                else:
                    answer: dict[str, Any] = {"status": 0, "status_message": "ok", "message_token": next(self._tokens)}
                    failed = [r for r in body.get("broadcast_list") or () if r in self.unreachable]
                    if failed:
                        answer["failed_list"] = [{"receiver": r, "status": 6, "status_message": "notSubscribed"}
                                                 for r in failed]
                    elif body.get("receiver") in self.unreachable:
                        answer = {"status": 6, "status_message": "notSubscribed"}
                    await self._answer(writer, 200, json.dumps(answer).encode())
                if headers.get("connection", "").lower() == "close":
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return
        finally:
            self._tasks.discard(task)
            writer.close()

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
