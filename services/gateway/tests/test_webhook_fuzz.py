"""Fuzzing ``POST /viber/webhook`` on the real server (issue 6, item 9).

The gateway is built as in production (``build()``, in-memory bus and store) and served
by ``ServiceRuntime.start`` on 127.0.0.1 — a real ``TCPSite`` with the production
server options — and logs as ``run_service`` configures it. Thousands of mutated
callbacks of every event type and message kind, signed and not, with wrong types, deep
nesting, bad UTF-8 and lone surrogates, huge strings, odd encodings, content types and
signatures, then raw bytes that aren't well-formed HTTP. What must hold: no answer is a
5xx, no traceback is logged, every request logs at most one line and no personal data,
and ``/healthz`` still answers 200 afterwards.

Deterministic: a fixed seed, no Hypothesis. Set ``WEBHOOK_FUZZ_COUNT`` for a longer run, ``WEBHOOK_FUZZ_SEED`` for other inputs.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chatbot_common.bus import create_bus
from chatbot_common.events import CloudEvent
from chatbot_common.http_server import server_options
from gateway.settings import GatewaySettings as Settings
from chatbot_common.store import open_store
from gateway.service import WEBHOOK_PATH, build
from gateway.signature import sign

TOKEN = "44dafb7e0f40021e-61a47a1e6778d187-f2c5a676a07050b3"
SEED = int(os.environ.get("WEBHOOK_FUZZ_SEED", "20260609"))
COUNT = int(os.environ.get("WEBHOOK_FUZZ_COUNT", "4000"))
MAX_BODY = 65536
#: Personal data in the base callbacks: it must never reach the log.
SECRETS = ("Тарас", "Шевченко", "Привіт", "Олена", "380671234567", "0671234567")


@dataclass
class Live:
    port: int
    published: list[CloudEvent] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def live(unique: str, service_log) -> AsyncIterator[Live]:  # type: ignore[no-untyped-def]
    settings = Settings(viber_auth_token=TOKEN, amqp_url="memory://", mongodb_url="memory://", gateway_port=0,
                        webhook_max_body=MAX_BODY)
    runtime = build(settings, bus=create_bus(f"memory://fuzz-{unique}"),
                    store=open_store("memory://", "gateway", memory_namespace=f"fuzz-{unique}"))
    state = Live(port=0)

    async def sink(event: CloudEvent) -> None:
        state.published.append(event)

    runtime.subscribe(f"fuzz.sink-{unique}", ["inbound.#", "delivery.#"], sink)
    await runtime.start("127.0.0.1")
    assert runtime.bound_port
    state.port = runtime.bound_port
    try:
        yield state
    finally:
        await runtime.stop()


# ----------------------------------------------------------------------- the callbacks


def base_callbacks(now_ms: int) -> list[dict[str, Any]]:
    """One genuine-looking callback of every event type and every message kind."""
    user = {"id": "01234567890A=", "name": "Тарас Шевченко", "avatar": "https://avatar.example/1.jpg",
            "country": "UA", "language": "uk", "api_version": 10}
    media = "https://media.example/f"
    messages = [
        {"type": "text", "text": "Привіт, мій номер 0671234567", "tracking_data": "step-1"},
        {"type": "picture", "text": "фото", "media": media, "thumbnail": media, "file_name": "a.jpg", "size": 1},
        {"type": "video", "media": media, "thumbnail": media, "size": 1000, "duration": 5},
        {"type": "file", "media": media, "size": 10, "file_name": "скарга.pdf"},
        {"type": "sticker", "sticker_id": 46105, "media": media},
        {"type": "contact", "contact": {"name": "Олена", "phone_number": "+380671234567", "avatar": media}},
        {"type": "url", "media": "https://example.com/page"},
        {"type": "location", "location": {"lat": 49.4229, "lon": 26.9871}},
        {"type": "rich_media", "rich_media": {"Type": "rich_media", "Buttons": []}},
        {"type": "something-new"},
    ]
    common = {"timestamp": now_ms, "chat_hostname": "SN-CHAT-05_"}
    out: list[dict[str, Any]] = [
        {"event": "message", "message_token": 5_000_000_000_000_000_001 + i, "sender": dict(user),
         "message": message, "silent": False, **common}
        for i, message in enumerate(messages)
    ]
    out += [
        {"event": "conversation_started", "message_token": 4_912_661_846_655_238_145, "type": "open",
         "context": "ctx", "user": dict(user), "subscribed": False, **common},
        {"event": "subscribed", "message_token": 4_912_661_846_655_238_146, "user": dict(user), **common},
        {"event": "unsubscribed", "message_token": 4_912_661_846_655_238_147, "user_id": user["id"], **common},
        {"event": "delivered", "message_token": 4_912_661_846_655_238_148, "user_id": user["id"], **common},
        {"event": "seen", "message_token": 4_912_661_846_655_238_149, "user_id": user["id"], **common},
        {"event": "failed", "message_token": 4_912_661_846_655_238_150, "user_id": user["id"],
         "desc": "invalid keyboard", **common},
        {"event": "webhook", "message_token": 4_912_661_846_655_238_151, **common},
    ]
    return out


HOUR_MS = 3_600_000
ODD_STRINGS = [
    "", " ", "\x00", "\ud800", "\udfff", "a\ud800b", "\ud83d\ude00", "😀" * 50, "\u202e\u0301", "\ufeff",
    "<script>alert(1)</script>", "' OR 1=1 --", "${jndi:ldap://x}", "%s%n", "\\", '"', "\n\r\t",
]


def deep_marker(depth: int) -> str:
    return f"__DEEP_{depth}__"


def odd_value(rng: random.Random, now_ms: int) -> Any:
    """A JSON value of any type and size, likely the wrong one for the field."""
    kind = rng.randrange(14)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, 2**53 + 1, 2**63, 2**64 + 7, -(2**63) - 1, 10**30, now_ms])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, -1e308, 1.5e18, 3.14159, 1e-320])
    if kind == 4:
        return rng.choice(ODD_STRINGS)
    if kind == 5:
        return rng.choice(["x", "я", "\ud800", "0"]) * rng.choice([1_000, 20_000, 40_000])
    if kind == 6:
        return []
    if kind == 7:
        return {}
    if kind == 8:
        return [rng.choice(ODD_STRINGS), 1, None, {"a": [1, 2]}]
    if kind == 9:
        return {"id": rng.choice(ODD_STRINGS), "name": 5, "nested": {"x": [[]]}}
    if kind == 10:
        return deep_marker(rng.choice([50, 500, 990, 1_000, 1_500, 5_000, 20_000, 32_000]))
    if kind == 11:
        return str(rng.randrange(-(10**20), 10**20))
    if kind == 12:
        return rng.choice(["NaN", "Infinity", "1e999"])  # strings here; see raw constants below
    return "".join(chr(rng.randrange(0x20, 0x110000)) for _ in range(rng.randrange(1, 30)))


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += paths(item, (*prefix, i))
    return out


def set_path(root: Any, path: tuple[Any, ...], value: Any) -> None:
    node = root
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def delete_path(root: Any, path: tuple[Any, ...]) -> None:
    node = root
    for step in path[:-1]:
        node = node[step]
    if isinstance(node, dict):
        node.pop(path[-1], None)


def mutate_json(rng: random.Random, callback: dict[str, Any], now_ms: int) -> dict[str, Any]:
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        choice = rng.randrange(8)
        every = paths(callback)
        if not every:
            break
        target = rng.choice(every)
        if choice == 0:
            set_path(callback, target, odd_value(rng, now_ms))
        elif choice == 1:
            delete_path(callback, target)
        elif choice == 2:
            callback[rng.choice(["extra", "user", "sender", "message", "Event", "\ud800"])] = odd_value(rng, now_ms)
        elif choice == 3:
            callback["timestamp"] = rng.choice([
                0, -1, 1, now_ms, now_ms - 3 * 24 * HOUR_MS, now_ms - 47 * HOUR_MS + 60_000, now_ms + 2 * HOUR_MS,
                now_ms + 10**15, 10**20, 2**63, 1.5, float(now_ms), str(now_ms), None, True, [now_ms],
            ])
        elif choice == 4:
            callback["message_token"] = rng.choice([0, -1, 2**64, 10**30, "abc", "123", 1.0, 1.5, None, [], True])
        elif choice == 5:
            callback["event"] = rng.choice(["message", "MESSAGE", "", "webhook ", 5, None, "seen", "teleport",
                                            "conversation_started", "client_status", "action"])
        elif choice == 6:
            strings = [p for p in paths(callback) if isinstance(_get(callback, p), str)]
            if strings:
                set_path(callback, rng.choice(strings), rng.choice(ODD_STRINGS) * rng.choice([1, 3, 1000]))
        else:
            set_path(callback, target, deep_marker(rng.choice([990, 1_000, 3_000, 30_000])))
    return callback


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for step in path:
        node = node[step]
    return node


def serialise(rng: random.Random, callback: dict[str, Any]) -> bytes:
    text = json.dumps(callback, ensure_ascii=rng.random() < 0.5,
                      separators=rng.choice([(",", ":"), (", ", ": ")]))
    body = text.encode("utf-8", "surrogatepass")  # a lone surrogate as raw ED A0 80 bytes
    while b"__DEEP_" in body:
        start = body.index(b'"__DEEP_')
        end = body.index(b'__"', start) + 3
        depth = int(body[start + 8:end - 3])
        opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        body = body[:start] + opener * depth + b"1" + closer * depth + body[end:]
    if rng.random() < 0.02:
        body = body.replace(b'"NaN"', b"NaN").replace(b'"Infinity"', b"Infinity").replace(b'"1e999"', b"1e999")
    return body


def mutate_bytes(rng: random.Random, body: bytes) -> bytes:
    choice = rng.randrange(10)
    if choice == 0 and body:
        return body[: rng.randrange(len(body))]
    if choice == 1 and body:
        data = bytearray(body)
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 2:
        at = rng.randrange(len(body) + 1)
        junk = rng.choice([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\x00", b"\xfe\xff"])
        return body[:at] + junk + body[at:]
    if choice == 3:
        return b"\xef\xbb\xbf" + body  # a UTF-8 BOM
    if choice == 4:
        try:
            return body.decode("utf-8").encode(rng.choice(["utf-16", "utf-16-le", "utf-32", "cp1251"]), "replace")
        except UnicodeDecodeError:
            return body
    if choice == 5:
        return body + rng.choice([b"garbage", b"}", b"\x00", b" " * 100, b"{}"])
    if choice == 6:
        return b""
    if choice == 7:
        return rng.choice([b"null", b"[]", b"0", b'"x"', b"{}", b"[" * 100_000, b"{" * 60_000, b"\x00" * 100])
    if choice == 8:
        return gzip.compress(body)  # a compressed body without the header saying so
    return body


@dataclass
class Fuzzed:
    body: bytes
    headers: dict[str, str]
    query: str = ""


def fuzzed_request(rng: random.Random, bases: list[dict[str, Any]], now_ms: int) -> Fuzzed:
    callback = json.loads(json.dumps(rng.choice(bases)))
    if rng.random() < 0.7:  # a new token, so more callbacks get past de-duplication
        callback["message_token"] = rng.randrange(1, 2**63)
    if rng.random() < 0.85:
        callback = mutate_json(rng, callback, now_ms)
    body = serialise(rng, callback)
    signed_body = body
    if rng.random() < 0.15:
        body = mutate_bytes(rng, body)
        if rng.random() < 0.8:
            signed_body = body  # mostly signed after mutation: the parser is what's tested
    headers: dict[str, str] = {}
    content_type = rng.choice(["application/json", "application/json", "application/json; charset=utf-8",
                               "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                               "application/octet-stream", "", "garbage"])
    if content_type:
        headers["Content-Type"] = content_type
    query = ""
    sig = sign(TOKEN, signed_body)
    mode = rng.random()
    if mode < 0.70:
        headers["X-Viber-Content-Signature"] = sig
    elif mode < 0.76:
        query = f"?sig={sig}"
    elif mode < 0.79:
        headers["X-Viber-Content-Signature"] = sig.upper()
    elif mode < 0.84:
        pass  # no signature
    elif mode < 0.88:
        headers["X-Viber-Content-Signature"] = rng.choice(["0" * 64, "", " ", "zz", sig[:-1], sig + "0", "a" * 10_000])
    elif mode < 0.91:
        query = rng.choice(["?sig=", "?sig=%FF%FE", "?sig=%00", f"?sig={sig}&sig=0", "?sig=%ED%A0%80" * 3])
    else:
        headers["X-Viber-Content-Signature"] = rng.choice(["підпис" * 11, "é" * 64, "\t" + sig, sig + " "])
    if rng.random() < 0.08:
        encoding = rng.choice(["gzip", "deflate", "br", "zstd", "garbage", "identity", "gzip, identity", "x-gzip",
                               "IDENTITY", "compress"])
        headers["Content-Encoding"] = encoding
        if rng.random() < 0.5 and encoding in {"gzip", "deflate"}:
            body = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
            if rng.random() < 0.5:
                headers["X-Viber-Content-Signature"] = sign(TOKEN, body)
    return Fuzzed(body=body, headers=headers, query=query)


# ----------------------------------------------------------------------- the tests


async def test_thousands_of_mutated_callbacks_never_get_a_5xx_nor_log_a_traceback(live: Live, service_log):
    rng = random.Random(SEED)
    now_ms = int(time.time() * 1000)
    bases = base_callbacks(now_ms)
    requests = [fuzzed_request(rng, bases, now_ms) for _ in range(COUNT)]
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    slowest = 0.0
    semaphore = asyncio.Semaphore(8)
    timeout = aiohttp.ClientTimeout(total=10)
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=timeout, skip_auto_headers=["Content-Type"],
                                     auto_decompress=False) as session:

        async def send(i: int, req: Fuzzed) -> None:
            nonlocal slowest
            async with semaphore:
                t0 = time.monotonic()
                try:
                    async with session.post(live.url + WEBHOOK_PATH + req.query, data=req.body,
                                            headers=req.headers) as resp:
                        await resp.read()
                        statuses[resp.status] += 1
                        if resp.status >= 500:
                            failures.append(f"#{i}: {resp.status} for {req.headers} {req.body[:200]!r}")
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    statuses[0] += 1
                    failures.append(f"#{i}: no answer ({exc!r}) for {req.headers} {req.body[:200]!r}")
                slowest = max(slowest, time.monotonic() - t0)

        await asyncio.gather(*(send(i, req) for i, req in enumerate(requests)))
        async with session.get(live.url + "/healthz") as health:
            assert health.status == 200
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.1)  # let the sink see the last events

    by_class = Counter(f"{status // 100}xx" if status else "none" for status in statuses.elements())
    lines = service_log.lines()
    not_json = [line for line in lines if not line.startswith("{")]
    errors = [r for r in service_log.records() if r.get("level") in {"error", "critical", "exception"}]
    report = (f"webhook fuzz: {COUNT} requests in {elapsed:.1f} s (slowest {slowest:.2f} s), "
              f"by class {dict(sorted(by_class.items()))}, by status {dict(sorted(statuses.items()))}, "
              f"published {len(live.published)}, log lines {len(lines)}, tracebacks {service_log.tracebacks()}")
    print(report)
    assert not failures, "\n".join([report, *failures[:20]])
    assert sum(statuses.values()) == COUNT
    assert service_log.tracebacks() == 0, report
    assert not not_json, not_json[:5]  # aiohttp's own (unstructured) error lines
    assert not errors, errors[:5]
    assert len(lines) <= COUNT + 10, report  # at most one line a request (+ start/stop)
    for secret in SECRETS:
        assert secret not in service_log.text, secret
    # The fuzz also proved something useful got through, and as valid events.
    assert by_class["2xx"] > COUNT // 10 and by_class["4xx"] > COUNT // 10, report
    assert live.published and all(json.loads(e.to_json()) for e in live.published)
    assert slowest < 5, report


def mutated_head(rng: random.Random) -> bytes:
    body = b'{"event":"webhook","timestamp":1,"message_token":1}'
    lines = [b"POST /viber/webhook HTTP/1.1", b"Host: 127.0.0.1", b"Content-Type: application/json",
             f"X-Viber-Content-Signature: {sign(TOKEN, body)}".encode(), f"Content-Length: {len(body)}".encode(),
             b"Connection: close"]
    head = bytearray(b"\r\n".join(lines))
    for _ in range(rng.randrange(1, 4)):
        choice = rng.randrange(8)
        at = rng.randrange(len(head) + 1)
        if choice == 0:
            head[at:at] = bytes([rng.randrange(256)])
        elif choice == 1 and at < len(head):
            del head[at]
        elif choice == 2 and at < len(head):
            head[at] = rng.choice(b"\r\n\x00 :\t\x7f\xff")
        elif choice == 3:
            head[at:at] = b"\r\n" + rng.choice([b"Bad Header", b": no-name", b"X: \x00", b"Content-Length: 5",
                                               b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip",
                                               b"Content-Encoding: br", b"X-Viber-Content-Signature: \xff\xfe",
                                               b"Host: a", b"Expect: 100-continue", b" folded"])
        elif choice == 4:
            head[at:at] = b"A" * rng.choice([100, 9_000, 20_000])
        elif choice == 5:
            head[: head.index(b" ")] = rng.choice([b"GET", b"PUT", b"PRI", b"G\x00T", b"", b"POST POST", b"\x16\x03"])
        elif choice == 6:
            head = bytearray(head.replace(b"HTTP/1.1", rng.choice([b"HTTP/2.0", b"HTTP/1.", b"HTTX/1.1", b"HTTP/9"])))
        else:
            head = bytearray(head.replace(b"\r\n", b"\n", rng.randrange(1, 3)))
    return bytes(head) + b"\r\n\r\n" + body


async def exchange(port: int, data: bytes, *, wait: float) -> bytes | None:
    """Send ``data``; the server's status line, or None if it (rightly) still waits for
    more bytes after ``wait`` seconds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        try:
            line = await asyncio.wait_for(reader.readline(), wait)
        except asyncio.TimeoutError:
            return None
        return line or b"<closed>"
    except ConnectionError:
        return b"<reset>"
    finally:
        writer.close()


@pytest.mark.parametrize(
    "request_bytes",
    [b"GET /healthz HTTP/1.1 junk\r\n\r\n", b"GET /healthz HTTX/1.1\r\n\r\n",
     b"POST /viber/webhook HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
     b"POST /viber/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     b"POST /viber/webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n\r\n"],
    ids=["bad-request-line", "bad-version", "bad-header", "duplicate-length", "bad-chunk"],
)
async def test_malformed_http_gets_4xx_and_exactly_one_warning_line(live: Live, service_log, request_bytes):
    line = await exchange(live.port, request_bytes, wait=3)
    assert line is not None and line.split(b" ")[1].startswith(b"4"), line
    await asyncio.sleep(0.05)
    records = service_log.records()[1:]  # after service.started
    assert [r["level"] for r in records] == ["warning"], records
    assert service_log.tracebacks() == 0


async def test_hundreds_of_mutated_request_heads_never_get_a_5xx_nor_log_a_traceback(live: Live, service_log):
    rng = random.Random(SEED + 1)
    heads = [mutated_head(rng) for _ in range(400)]
    semaphore = asyncio.Semaphore(16)
    answers: Counter[str] = Counter()

    async def one(data: bytes) -> None:
        async with semaphore:
            line = await exchange(live.port, data, wait=1.0)
            answers["waits for more" if line is None else line.split(b" ")[1][:1].decode("latin-1") + "xx"
                    if line.startswith(b"HTTP/") else line.decode("latin-1")] += 1

    await asyncio.gather(*(one(h) for h in heads))
    await asyncio.sleep(0.2)
    print(f"raw HTTP fuzz: {len(heads)} requests, answers {dict(answers)}, log lines {len(service_log.lines())}, "
          f"tracebacks {service_log.tracebacks()}")
    assert not any(key.startswith("5") for key in answers), answers
    assert service_log.tracebacks() == 0
    assert not [line for line in service_log.lines() if not line.startswith("{")]
    assert not [r for r in service_log.records() if r.get("level") in {"error", "critical"}]
    assert len(service_log.lines()) <= len(heads) + 2
    async with aiohttp.ClientSession() as session, session.get(live.url + "/healthz") as health:
        assert health.status == 200


async def test_a_caller_hanging_up_mid_body_logs_one_info_line_and_no_traceback(live: Live, service_log):
    """Production servers don't cancel a handler whose caller left: reading the rest of
    the body fails, and that is one INFO line, not a 500 with a traceback."""
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    writer.write(f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{\"event\":".encode())
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()
    await asyncio.sleep(0.1)
    assert [r["event"] for r in service_log.records()] == ["service.started", "webhook.client_disconnected"]
    assert service_log.tracebacks() == 0


async def test_a_bug_in_a_handler_still_logs_an_error_with_its_traceback(service_log):
    """The quiet logging is for malformed HTTP only: our own bugs stay loud."""
    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("a bug of ours")

    app = web.Application()
    app.router.add_get("/broken", broken)
    runner = web.AppRunner(app, **server_options())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/broken") as resp:
            assert resp.status == 500
        await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    assert service_log.tracebacks() == 1
    assert "RuntimeError: a bug of ours" in service_log.text
