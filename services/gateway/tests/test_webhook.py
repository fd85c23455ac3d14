"""The webhook's answers to good and bad callbacks (in-process, in-memory bus, the
production HTTP server options)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chatbot_common.bus import MemoryBus, create_bus
from chatbot_common.events import CloudEvent
from chatbot_common.http_server import server_options
from gateway.settings import GatewaySettings as Settings
from chatbot_common.store import open_store
from gateway.service import build
from gateway.signature import sign, verify

TOKEN = "44dafb7e0f40021e-61a47a1e6778d187-f2c5a676a07050b3"
WEBHOOK = "/viber/webhook"


def test_signature_test_vector_from_viber_docs_verifies():
    body = b'{"event":"webhook","timestamp":4977069964384421269,"message_token":1478683725125}'
    expected = "d21b343448c8aee33b8e93768ef6ceb64a6ba6163099973a2b8bd028fea510ef"
    assert sign(TOKEN, body) == expected
    assert verify(TOKEN, body, expected)
    assert not verify(TOKEN, body + b" ", expected)
    assert not verify(TOKEN, body, None)


def now_ms() -> int:
    """A fresh callback timestamp (Viber's: epoch milliseconds)."""
    return int(time.time() * 1000)


def message_callback(token: int = 5_000_000_000_000_000_001, text: str = "Привіт") -> dict:
    return {
        "event": "message", "timestamp": now_ms(), "message_token": token,
        "sender": {"id": "user-1==", "name": "Тарас", "language": "uk", "country": "UA", "api_version": 10},
        "message": {"type": "text", "text": text},
    }


class Gateway:
    def __init__(self, client: TestClient, bus: MemoryBus) -> None:
        self.client = client
        self.bus = bus
        self.seen: list[CloudEvent] = []

    async def post(self, payload: dict | bytes, *, signature: str | None = "auto", query_sig: bool = False):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        sig = sign(TOKEN, body) if signature == "auto" else signature
        url = WEBHOOK
        if sig is not None and query_sig:
            url = f"{WEBHOOK}?sig={sig}"
        elif sig is not None:
            headers["X-Viber-Content-Signature"] = sig
        return await self.client.post(url, data=body, headers=headers)


@pytest.fixture
async def gateway(unique: str) -> AsyncIterator[Gateway]:
    settings = Settings(viber_auth_token=TOKEN, amqp_url="memory://", mongodb_url="memory://", webhook_max_body=65536)
    bus = create_bus(f"memory://gw-{unique}")
    assert isinstance(bus, MemoryBus)
    runtime = build(settings, bus=bus, store=open_store("memory://", "gateway", memory_namespace=unique))
    recorder = create_bus(f"memory://gw-{unique}")
    gw_seen: list[CloudEvent] = []

    async def record(event: CloudEvent) -> None:
        gw_seen.append(event)

    recorder.subscribe("test.everything", ["inbound.#", "delivery.#"], record)
    await recorder.declare()
    await recorder.start_consuming()
    await runtime.bus.connect()
    for hook in runtime.on_prepare:
        await hook()
    server = TestServer(runtime.app)
    await server.start_server(**server_options())  # as ServiceRuntime serves it
    async with TestClient(server) as client:
        gw = Gateway(client, bus)
        gw.seen = gw_seen
        yield gw
    for hook in runtime.on_stopping:
        await hook()
    await recorder.close()


async def published(gw: Gateway, count: int) -> list[CloudEvent]:
    from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

    async for attempt in AsyncRetrying(stop=stop_after_delay(5), wait=wait_fixed(0.02), reraise=True):
        with attempt:
            assert len(gw.seen) >= count
    return gw.seen


async def test_signed_message_is_answered_200_and_published_as_channel_agnostic_event(gateway):
    resp = await gateway.post(message_callback())
    assert resp.status == 200
    [event] = await published(gateway, 1)
    assert event.type == "inbound.message"
    assert event.data["channel"] == "viber"
    assert event.data["channel_user_id"] == "user-1=="
    assert event.data["content"] == {"kind": "text", "text": "Привіт"}
    assert event.data["channel_message_id"] == "5000000000000000001"  # exact, no float rounding


async def test_signature_in_sig_query_parameter_is_accepted(gateway):
    resp = await gateway.post(message_callback(), query_sig=True)
    assert resp.status == 200


MARKER_TOKEN = 9_000_000_000_000_000_009


async def only_the_marker_is_published(gw: Gateway, after: int = 0) -> None:
    """Proves the requests before it published nothing (beyond ``after`` events): a
    valid callback posted next is published, and the in-memory bus is FIFO — so once the
    marker has arrived, anything published before it has arrived too."""
    resp = await gw.post(message_callback(token=MARKER_TOKEN, text="marker"))
    assert resp.status == 200
    await published(gw, after + 1)
    await asyncio.sleep(0.05)  # and nothing straggles in after it
    assert len(gw.seen) == after + 1, [e.type for e in gw.seen]
    assert gw.seen[-1].data["channel_message_id"] == str(MARKER_TOKEN)


@pytest.mark.parametrize("signature", [None, "0" * 64, "not-hex"])
async def test_forged_or_missing_signature_gets_403_and_publishes_nothing(gateway, signature):
    resp = await gateway.post(message_callback(), signature=signature)
    assert resp.status == 403
    await only_the_marker_is_published(gateway)


@pytest.mark.parametrize("query_sig", [False, True], ids=["header", "query"])
async def test_non_ascii_signature_gets_403_not_500(gateway, query_sig):
    resp = await gateway.post(message_callback(), signature="підпис" + "é" * 58, query_sig=query_sig)
    assert resp.status == 403
    await only_the_marker_is_published(gateway)


def test_verify_returns_false_for_a_signature_that_is_not_plain_text():
    body = b"{}"
    assert not verify(TOKEN, body, "\udcff" * 64)  # lone surrogates: no encoding
    assert not verify(TOKEN, body, "ї" * 64)
    assert verify(TOKEN, body, sign(TOKEN, body).upper())  # hex case does not matter


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", json.dumps({"event": "message", "timestamp": 1}).encode(),
     json.dumps({"event": "teleport", "timestamp": 1, "message_token": 2}).encode(),
     json.dumps({**message_callback(), "message_token": "abc"}).encode()],
    ids=["broken-json", "array", "missing-fields", "unknown-event", "token-not-a-number"],
)
async def test_malformed_callback_gets_400_and_publishes_nothing(gateway, body):
    resp = await gateway.post(body)
    assert resp.status == 400
    await only_the_marker_is_published(gateway)


@pytest.mark.parametrize("timestamp", [10**20, -(10**20), -1], ids=["far-future", "far-past", "negative"])
@pytest.mark.parametrize("event", ["message", "delivered", "subscribed"])
async def test_signed_callback_with_an_impossible_timestamp_gets_400_and_publishes_nothing(gateway, event, timestamp):
    callbacks = {
        "message": message_callback(),
        "delivered": {"event": "delivered", "message_token": 778, "user_id": "u=="},
        "subscribed": {"event": "subscribed", "message_token": 779, "user": {"id": "u=="}},
    }
    resp = await gateway.post({**callbacks[event], "timestamp": timestamp})
    assert resp.status == 400
    await only_the_marker_is_published(gateway)


async def test_oversized_body_gets_413(gateway):
    resp = await gateway.post(message_callback(text="я" * 70000))
    assert resp.status == 413
    await only_the_marker_is_published(gateway)


async def test_webhook_check_event_is_answered_200(gateway):
    resp = await gateway.post({"event": "webhook", "timestamp": 1, "message_token": 1478683725125})
    assert resp.status == 200


async def test_conversation_started_is_answered_with_welcome_and_start_button(gateway):
    from viberbot.api.messages import get_message

    resp = await gateway.post({
        "event": "conversation_started", "timestamp": now_ms(), "message_token": 4912661846655238145,
        "type": "open", "context": "", "subscribed": False,
        "user": {"id": "new-user==", "name": "Олена", "language": "uk", "country": "UA", "api_version": 10},
    })
    assert resp.status == 200
    welcome = await resp.json()
    assert "Вітаємо" in welcome["text"]
    [button] = welcome["keyboard"]["Buttons"]
    assert button["ActionBody"] == "start" and "Розпочати" in button["Text"]
    assert get_message(welcome).text == welcome["text"]  # the official SDK accepts it
    [event] = await published(gateway, 1)
    assert event.type == "inbound.conversation_started"


async def test_repeated_callback_with_same_token_is_answered_but_published_once(gateway):
    first = await gateway.post(message_callback(token=6_000_000_000_000_000_007))
    second = await gateway.post(message_callback(token=6_000_000_000_000_000_007))
    assert first.status == second.status == 200
    await published(gateway, 1)
    marker = await gateway.post(message_callback(token=6_000_000_000_000_000_008))
    assert marker.status == 200
    events = await published(gateway, 2)
    assert [e.data["channel_message_id"] for e in events] == ["6000000000000000007", "6000000000000000008"]


async def test_receipts_become_delivery_events(gateway):
    for event in ("delivered", "seen"):
        resp = await gateway.post({"event": event, "timestamp": now_ms(), "message_token": 777, "user_id": "u=="})
        assert resp.status == 200
    resp = await gateway.post({"event": "failed", "timestamp": now_ms(), "message_token": 777,
                               "user_id": "u==", "desc": "invalid keyboard"})
    assert resp.status == 200
    events = await published(gateway, 3)
    assert [e.type for e in events] == ["delivery.delivered", "delivery.seen", "delivery.failed"]
    assert events[2].data["reason"] == "invalid keyboard"


@pytest.mark.parametrize("event", ["delivered", "seen", "failed"])
async def test_receipts_of_one_broadcast_are_published_for_every_receiver_and_once_each(gateway, event):
    # One broadcast has one message_token for all its receivers.
    def receipt(user: str) -> dict:
        return {"event": event, "timestamp": now_ms(), "message_token": 5_555_555_555_555_555_555,
                "user_id": user, **({"desc": "invalid keyboard"} if event == "failed" else {})}

    for user in ("u-1==", "u-2==", "u-3==", "u-1=="):  # the last is Viber retrying u-1's receipt
        resp = await gateway.post(receipt(user))
        assert resp.status == 200
    await only_the_marker_is_published(gateway, after=3)
    assert [e.data["channel_user_id"] for e in gateway.seen[:3]] == ["u-1==", "u-2==", "u-3=="]
    assert {e.type for e in gateway.seen[:3]} == {f"delivery.{event}"}
    assert len({e.id for e in gateway.seen[:3]}) == 3



async def test_callback_is_answered_503_while_the_broker_refuses_and_accepted_on_viber_retry(gateway, monkeypatch):
    from chatbot_common.bus import PublishError

    real_publish = gateway.bus.publish

    async def refusing(event):
        raise PublishError("broker unavailable")

    monkeypatch.setattr(gateway.bus, "publish", refusing)
    callback = message_callback(token=7_000_000_000_000_000_001)
    resp = await gateway.post(callback)
    assert resp.status == 503  # Viber retries an unanswered callback: nothing is lost
    monkeypatch.setattr(gateway.bus, "publish", real_publish)
    retry = await gateway.post(callback)
    assert retry.status == 200  # not mistaken for a duplicate: the first was never published
    [event] = await published(gateway, 1)
    assert event.data["channel_message_id"] == "7000000000000000001"


@pytest.mark.parametrize("token", ["", "demo-token"])
def test_gateway_refuses_to_start_without_a_real_token_against_real_viber(token):
    with pytest.raises(ValueError, match="VIBER_AUTH_TOKEN"):
        build(Settings(viber_auth_token=token, viber_api_url="https://chatapi.viber.com/pa"))


async def test_sent_batches_are_remembered_for_inbox_ttl_days(unique):
    store = open_store("memory://", "gateway", memory_namespace=f"ttl-{unique}")
    runtime = build(Settings(viber_auth_token=TOKEN, inbox_ttl_days=3), bus=create_bus(f"memory://ttl-{unique}"),
                    store=store)
    for hook in runtime.on_prepare:
        await hook()
    try:
        indexes = await store["sent_batches"].index_information()
        [ttl] = [ix["expireAfterSeconds"] for ix in indexes.values() if "expireAfterSeconds" in ix]
        assert ttl == 3 * 24 * 3600
    finally:
        for hook in runtime.on_stopping:
            await hook()


# --------------------------------------------------------------- odd input (issue 6, item 9)


async def raw_http(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``data`` as is and return what the server answered (up to its close or the
    first complete-looking response), failing if nothing comes within ``timeout``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        return head
    finally:
        writer.close()


def nested(depth: int) -> bytes:
    return b'{"event":"message","deep":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [1_000, 30_000])  # 30 000: 60 KB, under the body limit
@pytest.mark.parametrize("where", ["extra-field", "message-text", "whole-body"])
async def test_signed_json_nested_too_deep_gets_400_with_one_warning_and_no_traceback(gateway, service_log, depth,
                                                                                   where):
    deep = b"[" * depth + b"]" * depth
    body = {
        "extra-field": json.dumps({**message_callback(), "deep": "X"}).encode().replace(b'"X"', deep),
        "message-text": json.dumps(message_callback(text="X")).encode().replace(b'"X"', deep),
        "whole-body": deep,
    }[where]
    resp = await gateway.post(body)
    assert resp.status == 400
    assert len(service_log.events("webhook.malformed")) == 1
    assert service_log.tracebacks() == 0
    await only_the_marker_is_published(gateway)


@pytest.mark.parametrize(
    ("raw_text", "expected"),
    [(rb'"\ud800"', "\ufffd"), (rb'"a\udfffb\ud800"', "a\ufffdb\ufffd"),
     (b'"\xed\xa0\x80 ok"', "\ufffd ok"),  # a surrogate as raw UTF-8-style bytes
     (rb'"\ud83d\ude00"', "\U0001f600")],  # a proper pair stays the emoji it is
    ids=["escaped", "several", "raw-bytes", "proper-pair-kept"],
)
async def test_lone_surrogates_in_a_signed_message_become_U_FFFD_and_the_message_is_published_as_valid_json(
        gateway, service_log, raw_text, expected):
    callback = message_callback(text="TEXT")
    callback["sender"]["name"] = "NAME"
    body = json.dumps(callback).encode().replace(b'"TEXT"', raw_text)
    body = body.replace(b'"NAME"', rb'"\ud800\u0422"')  # the sender's name too
    resp = await gateway.post(body)
    assert resp.status == 200
    [event] = await published(gateway, 1)
    assert event.data["content"]["text"] == expected
    assert event.data["user"]["name"] == "\ufffdТ"
    json.loads(event.to_json())  # what went over the bus is valid JSON (it is UTF-8-encodable)
    assert service_log.tracebacks() == 0


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
async def test_signed_callback_with_a_non_finite_number_gets_400(gateway, constant):
    callback = message_callback()
    callback["message"] = {"type": "location", "location": {"lat": 0.5, "lon": "LON"}}
    resp = await gateway.post(json.dumps(callback).encode().replace(b'"LON"', constant))
    assert resp.status == 400
    await only_the_marker_is_published(gateway)


def encoded_request(encoding: str, body: bytes, *, declared_length: int | None = None,
                    signature: str | None = None) -> bytes:
    head = (f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Encoding: {encoding}\r\nContent-Length: {declared_length or len(body)}\r\n")
    if signature:
        head += f"X-Viber-Content-Signature: {signature}\r\n"
    return head.encode() + b"\r\n" + body


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "x-gzip", "GZIP", "identity, gzip", "garbage"])
async def test_unsigned_request_claiming_a_content_encoding_gets_415_at_once_without_reading_the_body(
        gateway, service_log, encoding):
    # 60 000 bytes announced, 30 sent: a server that read (or inflated) the body would
    # still be waiting for the rest; the answer comes from the headers alone.
    plain = json.dumps(message_callback()).encode()[:30]
    started = time.monotonic()
    head = await raw_http(gateway.client.server.port, encoded_request(encoding, plain, declared_length=60_000),
                          timeout=3)
    assert head.startswith(b"HTTP/1.1 415 "), head
    assert time.monotonic() - started < 2
    assert len(service_log.events("webhook.unsupported_encoding")) == 1
    assert service_log.tracebacks() == 0
    await only_the_marker_is_published(gateway)


async def test_signed_gzip_bomb_gets_415_and_is_never_inflated(gateway, service_log):
    import gzip

    bomb = gzip.compress(b"[" * 50_000_000)  # ≈ 50 KB that would inflate to 50 MB
    started = time.monotonic()
    head = await raw_http(gateway.client.server.port,
                          encoded_request("gzip", bomb, signature=sign(TOKEN, bomb)), timeout=3)
    assert head.startswith(b"HTTP/1.1 415 "), head
    assert time.monotonic() - started < 2
    assert service_log.tracebacks() == 0


async def test_content_encoding_identity_is_accepted(gateway):
    body = json.dumps(message_callback()).encode()
    resp = await gateway.client.post(WEBHOOK, data=body, headers={
        "Content-Encoding": "identity", "X-Viber-Content-Signature": sign(TOKEN, body)})
    assert resp.status == 200


async def test_broken_chunked_body_gets_400_with_one_warning_and_no_traceback(gateway, service_log):
    request = (f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\n{\"a\":\r\nZZ\r\nnot a chunk\r\n\r\n").encode()
    head = await raw_http(gateway.client.server.port, request)
    assert head.split(b" ")[1].startswith(b"4"), head
    await asyncio.sleep(0.05)
    assert service_log.tracebacks() == 0
    warnings = [r for r in service_log.records() if r.get("level") == "warning"]
    assert len(warnings) == 1, warnings


@pytest.mark.parametrize(
    "request_bytes",
    [b"GET /healthz HTTP/1.1 junk\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
     b"POST /viber/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
     b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"],
    ids=["bad-request-line", "bad-header", "negative-length", "line-too-long"],
)
async def test_malformed_http_gets_400_and_one_warning_line_without_traceback(gateway, service_log, request_bytes):
    head = await raw_http(gateway.client.server.port, request_bytes)
    assert head.split(b" ")[1].startswith(b"4"), head
    await asyncio.sleep(0.05)  # aiohttp logs after answering
    [record] = service_log.events("http.bad_request")
    assert record["level"] == "warning" and record["peer"] == "127.0.0.1" and record["status"] == 400
    assert len(service_log.lines()) == 1, service_log.lines()
    assert service_log.tracebacks() == 0


@pytest.mark.parametrize("request_bytes", [b"GARBAGE\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"],
                         ids=["unknown-method", "tls-handshake"])
async def test_traffic_that_is_not_http_at_all_gets_400_and_is_logged_at_debug_only(gateway, service_log,
                                                                                   request_bytes):
    """aiohttp's own choice, kept: a first request that isn't HTTP (a port scanner, TLS
    to the plain port) is logged at DEBUG — one line, no traceback — not at WARNING."""
    head = await raw_http(gateway.client.server.port, request_bytes)
    assert head.startswith(b"HTTP/1.0 400 "), head
    await asyncio.sleep(0.05)
    assert service_log.lines() == []  # INFO level: nothing


# ------------------------------------------------------------------ callback freshness

HOUR_MS = 3600 * 1000


@pytest.mark.parametrize(
    ("offset_ms", "status"),
    [(-48 * HOUR_MS, 403), (-47 * HOUR_MS - 60_000, 403), (-46 * HOUR_MS, 200), (-60_000, 200), (0, 200),
     (30 * 60_000, 200), (HOUR_MS + 60_000, 403), (24 * HOUR_MS, 403)],
    ids=["2-days-old", "just-over-47h", "46h-old", "a-minute-old", "now", "30-min-ahead", "just-over-1h-ahead",
         "a-day-ahead"],
)
async def test_signed_callback_is_accepted_only_within_the_freshness_window(gateway, service_log, offset_ms,
                                                                         status):
    """Window = [now − (2 days of de-duplication memory − 1 h skew), now + 1 h]:
    outside it → 403 and nothing published; inside → 200 and published."""
    callback = {**message_callback(token=8_000_000_000_000_000_001), "timestamp": now_ms() + offset_ms}
    resp = await gateway.post(callback)
    assert resp.status == status
    if status == 403:
        [record] = [r for r in service_log.records() if r["event"] in {"webhook.stale_callback",
                                                                      "webhook.future_callback"}]
        assert record["level"] == "warning"
        assert "Тарас" not in service_log.text and "Привіт" not in service_log.text
        await only_the_marker_is_published(gateway)
    else:
        await only_the_marker_is_published(gateway, after=1)


@pytest.mark.parametrize("event", ["conversation_started", "subscribed", "unsubscribed", "delivered", "seen",
                                   "failed"])
async def test_stale_callback_of_every_event_type_is_refused_403(gateway, event):
    base = {"event": event, "timestamp": now_ms() - 3 * 24 * HOUR_MS, "message_token": 42}
    extra = {"conversation_started": {"user": {"id": "u=="}}, "subscribed": {"user": {"id": "u=="}}}
    resp = await gateway.post({**base, **extra.get(event, {"user_id": "u=="})})
    assert resp.status == 403
    await only_the_marker_is_published(gateway)


@pytest.mark.parametrize("timestamp", [0, 1, 4977069964384421269, -5])
async def test_webhook_check_is_answered_200_whatever_its_timestamp(gateway, timestamp):
    resp = await gateway.post({"event": "webhook", "timestamp": timestamp, "message_token": 1478683725125})
    assert resp.status == 200


async def test_a_captured_callback_replayed_after_its_key_is_forgotten_is_refused(gateway):
    """The replay that freshness exists for: a callback published, its de-duplication
    key then forgotten (here: removed by hand, as the TTL would after 2 days) — its
    timestamp is by then outside the window, so it is refused, not published twice."""
    from gateway.webhook import Webhook

    clock = [time.time()]
    webhook = Webhook(token=TOKEN, bus=gateway.bus, callbacks=_ForgetfulInbox(), sender_name="Бот",
                      clock=lambda: clock[0])
    callback = message_callback(token=8_100_000_000_000_000_001)
    body = json.dumps(callback).encode()

    from multidict import CIMultiDict

    class Request:  # what handle() reads of a request
        headers = CIMultiDict({"X-Viber-Content-Signature": sign(TOKEN, body)})
        query: dict[str, str] = {}

        async def read(self) -> bytes:
            return body

    assert (await webhook.handle(Request())).status == 200  # type: ignore[arg-type]
    clock[0] += 2 * 24 * 3600  # two days later: the key is gone
    assert (await webhook.handle(Request())).status == 403  # type: ignore[arg-type]
    await only_the_marker_is_published(gateway, after=1)


class _ForgetfulInbox:
    async def seen(self, key: str) -> bool:
        return False

    async def remember(self, key: str) -> None:
        return None


def test_webhook_remembers_callbacks_as_long_as_the_gateway_keeps_their_keys():
    from gateway.service import CALLBACK_MEMORY
    from gateway.webhook import DEFAULT_CALLBACK_MEMORY

    assert DEFAULT_CALLBACK_MEMORY == CALLBACK_MEMORY


def test_freshness_window_edges_are_exact():
    from datetime import timedelta

    from gateway.webhook import Webhook

    now = 1_800_000_000.0
    webhook = Webhook(token=TOKEN, bus=None, callbacks=None, sender_name="Бот",  # type: ignore[arg-type]
                      callback_memory=timedelta(days=2), max_clock_skew=timedelta(hours=1), clock=lambda: now)
    now_ms_ = int(now * 1000)
    assert webhook.freshness(now_ms_ - 47 * HOUR_MS) is None
    assert webhook.freshness(now_ms_ - 47 * HOUR_MS - 1) == "stale"
    assert webhook.freshness(now_ms_ + HOUR_MS) is None
    assert webhook.freshness(now_ms_ + HOUR_MS + 1) == "future"
    with pytest.raises(ValueError):
        Webhook(token=TOKEN, bus=None, callbacks=None, sender_name="Бот",  # type: ignore[arg-type]
                callback_memory=timedelta(hours=1), max_clock_skew=timedelta(hours=1))


async def test_a_second_content_encoding_header_behind_identity_still_gets_415(gateway):
    body = json.dumps(message_callback()).encode()
    request = encoded_request("identity", body, signature=sign(TOKEN, body))
    request = request.replace(b"Content-Encoding: identity\r\n", b"Content-Encoding: identity\r\nContent-Encoding: gzip\r\n")
    head = await raw_http(gateway.client.server.port, request)
    assert head.startswith(b"HTTP/1.1 415 "), head
    await only_the_marker_is_published(gateway)

