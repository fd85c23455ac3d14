"""``make bench``: webhook throughput and round-trip latency on real RabbitMQ.

Starts fake Viber, gateway and dialog as separate processes (as in the e2e tests),
then POSTs N signed ``message`` callbacks (each from its own resident, so every one
gets a reply) straight at the gateway with a bounded number in flight. Prints:
- accepted callbacks per second and p50/p99 of the gateway's answer latency;
- round trip p50/p99: callback sent → reply received by the fake Viber API.
A figure printer, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.signature import sign  # noqa: E402
from tests.e2e.harness import STATE_QUEUES, TOKEN, BotSystem  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def clean(url: str) -> None:
    import aio_pika

    conn = await aio_pika.connect(url)
    async with conn:
        channel = await conn.channel()
        for name in [*STATE_QUEUES, *(f"{q}.dead" for q in STATE_QUEUES)]:
            await channel.queue_delete(name)


async def fire(webhook: str, count: int, concurrency: int) -> tuple[dict[str, float], list[float], float, int]:
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while not queue.empty():
            i = queue.get_nowait()
            user = f"bench-{i}"
            body = json.dumps({
                "event": "message", "timestamp": int(time.time() * 1000), "message_token": 2**60 + i,
                "sender": {"id": user, "name": "Бенчмарк", "api_version": 10},
                "message": {"type": "text", "text": "start"},
            }).encode()
            headers = {"X-Viber-Content-Signature": sign(TOKEN, body), "Content-Type": "application/json"}
            started = time.perf_counter()
            sent_at[user] = time.time()
            async with session.post(webhook, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    failures += 1
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return sent_at, latencies, time.perf_counter() - began, failures


async def wait_replies(sim_url: str, expected: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{sim_url}/_sim/requests", params={"method": "send_message"}) as resp:
                records = await resp.json()
            ok = [r for r in records if r["status"] == 0]
            if len(ok) >= expected or time.monotonic() > deadline:
                return ok
            await asyncio.sleep(1)


async def main(count: int, concurrency: int, amqp_url: str) -> None:
    await clean(amqp_url)
    system = BotSystem(amqp_url=amqp_url, extra_env={"LOG_LEVEL": "WARNING"})
    system.start()
    try:
        sent_at, latencies, elapsed, failures = await fire(system.webhook_url, count, concurrency)
        replies = await wait_replies(system.sim.url, count, timeout=max(120, count / 20))
    finally:
        system.stop()
    trips = [r["at"] - sent_at[r["body"]["receiver"]] for r in replies if r["body"]["receiver"] in sent_at]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    print(f"callbacks: {count} signed 'message' callbacks, {concurrency} in flight, real RabbitMQ, in-memory store")
    print(f"accepted: {count - failures} ({failures} not 200) in {elapsed:.1f}s = {(count - failures) / elapsed:.0f}/s")
    print(f"webhook answer latency: p50 {percentile(latencies, 50) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 99) * 1000:.1f} ms")
    if trips:
        print(f"round trip callback → reply at fake Viber ({len(trips)} replies): "
              f"p50 {percentile(trips, 50) * 1000:.0f} ms, p99 {percentile(trips, 99) * 1000:.0f} ms, "
              f"mean {statistics.fmean(trips) * 1000:.0f} ms")
    else:
        print("round trip: no replies arrived")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--amqp-url", default=os.environ.get("AMQP_TEST_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    args = parser.parse_args()
    asyncio.run(main(args.count, args.concurrency, args.amqp_url))
