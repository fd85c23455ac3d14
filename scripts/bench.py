"""``make bench``: webhook throughput and round-trip latency on real RabbitMQ.

Starts fake Viber, gateway and dialog as separate processes (as in the e2e tests) and
POSTs signed ``message`` callbacks straight at the gateway, each from its own resident
so every one gets a reply. Two phases:
1. burst — N callbacks as fast as the gateway takes them (a bounded number in flight):
   accepted callbacks per second, p50/p99 of the gateway's answer latency, and how
   fast replies drain through dialog and gateway to the fake Viber API;
2. paced — M callbacks at a steady rate below saturation: round trip p50/p99 from
   callback to the reply arriving at the fake Viber API (what one resident feels).
A figure printer, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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


_TOKENS = itertools.count(2**60)


class Load:
    """Signed callbacks from residents ``<prefix>-<i>``; remembers when each was sent."""

    def __init__(self, webhook: str, prefix: str) -> None:
        self.webhook = webhook
        self.prefix = prefix
        self.sent_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.failures = 0

    async def post(self, session: aiohttp.ClientSession, i: int) -> None:
        user = f"{self.prefix}-{i}"
        body = json.dumps({
            "event": "message", "timestamp": int(time.time() * 1000), "message_token": next(_TOKENS),
            "sender": {"id": user, "name": "Бенчмарк", "api_version": 10},
            "message": {"type": "text", "text": "start"},
        }).encode()
        headers = {"X-Viber-Content-Signature": sign(TOKEN, body), "Content-Type": "application/json"}
        started = time.perf_counter()
        self.sent_at[user] = time.time()
        async with session.post(self.webhook, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                self.failures += 1
        self.latencies.append(time.perf_counter() - started)

    async def burst(self, count: int, concurrency: int) -> float:
        """As fast as possible with ``concurrency`` in flight; returns the elapsed time."""
        todo = iter(range(count))

        async def worker(session: aiohttp.ClientSession) -> None:
            for i in todo:
                await self.post(session, i)

        began = time.perf_counter()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - began

    async def paced(self, count: int, rate: float) -> None:
        """Open loop: callback ``i`` leaves at ``i / rate`` seconds, whatever came back."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with aiohttp.ClientSession() as session:
            tasks = []
            for i in range(count):
                await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
                tasks.append(asyncio.create_task(self.post(session, i)))
            await asyncio.gather(*tasks)


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


def trips_of(load: Load, replies: list[dict]) -> list[float]:
    return [r["at"] - load.sent_at[r["body"]["receiver"]] for r in replies if r["body"]["receiver"] in load.sent_at]


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.0f} ms"


async def main(count: int, concurrency: int, paced_count: int, rate: float, amqp_url: str) -> None:
    await clean(amqp_url)
    system = BotSystem(amqp_url=amqp_url, extra_env={"LOG_LEVEL": "WARNING"})
    system.start()
    try:
        burst = Load(system.webhook_url, "burst")
        began = time.time()
        elapsed = await burst.burst(count, concurrency)
        replies = await wait_replies(system.sim.url, count, timeout=max(120, count / 20))
        drained = max(r["at"] for r in replies) - began if replies else float("nan")
        paced = Load(system.webhook_url, "paced")
        await paced.paced(paced_count, rate)
        all_replies = await wait_replies(system.sim.url, count + paced_count, timeout=120)
    finally:
        system.stop()
    accepted = count - burst.failures
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}; real RabbitMQ, in-memory store, every process on this machine")
    print(f"burst: {count} signed 'message' callbacks, {concurrency} in flight")
    print(f"  accepted {accepted} ({burst.failures} not 200) in {elapsed:.1f} s = {accepted / elapsed:.0f} callbacks/s")
    print(f"  webhook answer latency p50 {percentile(burst.latencies, 50) * 1000:.1f} ms, "
          f"p99 {percentile(burst.latencies, 99) * 1000:.1f} ms")
    print(f"  {len(replies)} replies reached the fake Viber API within {drained:.1f} s "
          f"= {len(replies) / drained:.0f} replies/s end to end")
    trips = trips_of(paced, all_replies)
    print(f"paced: {paced_count} callbacks at {rate:.0f}/s")
    if trips:
        print(f"  round trip callback → reply at fake Viber: p50 {ms(trips, 50)}, p99 {ms(trips, 99)}, "
              f"mean {statistics.fmean(trips) * 1000:.0f} ms ({len(trips)} replies)")
    else:
        print("  round trip: no replies arrived")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--paced-count", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0, help="callbacks per second in the paced phase")
    parser.add_argument("--amqp-url", default=os.environ.get("AMQP_TEST_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    args = parser.parse_args()
    asyncio.run(main(args.count, args.concurrency, args.paced_count, args.rate, args.amqp_url))
