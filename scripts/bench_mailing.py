"""``make bench-mailing``: outage mailings at Viber's ceiling, on real RabbitMQ (issue 8).

What runs:

- a **fake Viber API** (this script in ``--fake-viber`` mode, its own process) enforcing
  Viber's broadcast limits: ≤ 300 receivers a call, ≤ 500 calls in any 10 s (a sliding
  window; one call more → status 12), a ``failed_list`` entry (status 6) for about 1 in
  200 receivers; ``send_message`` answers at once. It records when each call arrived;
- the **gateway** as its own process (``python -m gateway``), calling the fake;
- the **notifier** in this process (``notifier.service.build``) on the in-memory store,
  its audience projection seeded directly: N residents (300 000; ``--quick``: 30 000)
  over the Khmelnytskyi street directory (``chatbot_common.directory``) with a
  realistic spread — most on the big streets (Zipf), houses up to 150 with a few
  letters, ~10 % choosing the whole city — plus a few thousand who must never be
  reached (no notices, unsubscribed, deleted, a village). The index is filled
  directly (the in-memory store's documents are skipped: mongomock would need minutes
  to scan 300 000 at start; with MongoDB the same index is built by ``load()``), then
  the heap is settled as the notifier's process does once started
  (``runner.settle_heap``: the index out of the collector's reach);
- all on a **fresh RabbitMQ virtual host** (``rabbitmqctl add_vhost``), deleted at the end.

The outage events are published straight on the bus, as the admin service does
through its outbox (the admin service is being built meanwhile: this does not depend
on it). Two mailings:

1. an emergency outage on streets chosen until its audience (address subscribers of
   those streets + the city's whole-city subscribers) is ~50 000 (``--quick``: 5 000);
2. a city-wide outage reaching everyone eligible: 300 000 (``--quick``: 30 000).

For each it prints, on its own line::

    mailing: <N> recipients in <T> s; <C> calls; window floor <F> s

with N the receivers in the broadcast calls Viber accepted, T from the outage event's
publication to the last of them accepted, C the accepted calls and F = 10 s ×
⌊(C − 1) / 500⌋ (the least any sender can need under Viber's window), then the match
time against the whole projection, the notifier's peak memory (this process's peak
RSS: the notifier, its index and the seeded data — the fake Viber and the gateway are
other processes) and the interactive reply p99 measured while the mailing runs (reply
events published on the bus by a load thread at ``--reply-rate``, timed until the fake
Viber receives the ``send_message``), and the CPU each process spent from the admin call
to the last call accepted, per call (/proc counters: gateway, fake Viber, broker, this
process). Between the mailings it waits for Viber's window to empty. After the second,
it feeds the ``delivered`` and ``seen`` receipts of 50 of its calls (30 000: Viber sends
both for nearly every receiver) to the notifier's figures and prints their CPU cost
each. A figure printer, not a test: nothing here asserts a time.

Goals (issue 8): the last of the 50 000 accepted ≤ 1 s after the admin call, the
300 000 mailing ≤ F + 1 s, match < 200 ms, reply p99 < 200 ms throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections import deque
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_proc import cpu_seconds, find_broker  # noqa: E402
from bench_reference import describe  # noqa: E402
from tests.e2e.harness import TOKEN, ServiceProcess, free_port  # noqa: E402
from tests.support import add_vhost, delete_vhost  # noqa: E402

WINDOW_CALLS, WINDOW_SECONDS, MAX_RECEIVERS = 500, 10.0, 300
FAIL_ONE_IN = 200  # receivers the fake Viber puts in failed_list (status 6)


# ================================================================ the fake Viber API

def serve_fake_viber(port: int) -> None:
    """Viber's REST API as far as the gateway uses it, with the broadcast limits."""
    from aiohttp import web

    window: deque[float] = deque()
    broadcasts: list[list[float]] = []  # [arrived at (epoch), receivers, failed]
    replies: dict[str, float] = {}
    counters = {"rejected_window": 0, "rejected_size": 0}
    tokens = iter(range(10**15, 10**16))

    async def api(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.json() if request.can_read_body else {}
        now, wall = time.monotonic(), time.time()
        if method == "broadcast_message":
            receivers = body.get("broadcast_list") or []
            if not 1 <= len(receivers) <= MAX_RECEIVERS:
                counters["rejected_size"] += 1
                return web.json_response({"status": 3, "status_message": "badData: 1..300 receivers"})
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= WINDOW_CALLS:
                counters["rejected_window"] += 1
                return web.json_response({"status": 12, "status_message": "tooManyRequests"})
            window.append(now)
            failed = [{"receiver": r, "status": 6, "status_message": "notSubscribed"}
                      for r in receivers if zlib.crc32(r.encode()) % FAIL_ONE_IN == 0]
            broadcasts.append([wall, len(receivers), len(failed)])
            return web.json_response({"status": 0, "status_message": "ok", "message_token": next(tokens),
                                      "failed_list": failed})
        if method == "send_message":
            replies[str(body.get("receiver"))] = wall
            return web.json_response({"status": 0, "status_message": "ok", "message_token": next(tokens)})
        return web.json_response({"status": 0, "status_message": "ok"})

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"broadcasts": broadcasts, "replies": replies, **counters})

    async def reset(_request: web.Request) -> web.Response:
        broadcasts.clear()
        replies.clear()
        counters.update(rejected_window=0, rejected_size=0)
        return web.json_response({})

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/pa/{method}", api)
    app.router.add_get("/_bench/stats", stats)
    app.router.add_delete("/_bench/stats", reset)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


# ================================================================ the seeded audience

def seed_documents(total: int, rng: random.Random) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    """``total`` eligible residents of Khmelnytskyi plus ~2 % who must never be reached.
    Returns (resident id, projection document) pairs and facts about the spread."""
    from chatbot_common.directory import address_key, load_city

    city = load_city()
    streets = [s.id for s in city.street_directory("khmelnytskyi").streets]
    weights = [1 / (n + 1) ** 0.8 for n in range(len(streets))]  # a few big streets, a long tail
    cumulative = list(_accumulate(weights))
    houses_on = {s: rng.randint(20, 150) for s in streets}
    villages = [s.id for s in city.settlements if s.id != "khmelnytskyi"]

    def house(street: str) -> str:
        n = rng.randint(1, houses_on[street])
        return f"{n}{rng.choice('абв')}" if rng.random() < 0.04 else str(n)

    docs: list[tuple[str, dict[str, Any]]] = []
    for i in range(total):
        street = streets[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
        keys = [address_key("khmelnytskyi", street, house(street))]
        if rng.random() < 0.08:  # a second address (parents', a dacha street)
            other = rng.choice(streets)
            keys.append(address_key("khmelnytskyi", other, house(other)))
        notify = "city" if rng.random() < 0.10 else "address"
        docs.append((f"r{i:07d}", {"receiver": f"viber-{i:07d}", "settlement_id": "khmelnytskyi",
                                   "settlements": ["khmelnytskyi"], "keys": keys, "notify": notify,
                                   "subscribed": True, "deleted": False}))
    never = max(1, total // 50)
    for j in range(never):
        kind = j % 4
        street = rng.choice(streets)
        doc = {"receiver": f"viber-x{j:06d}", "settlement_id": "khmelnytskyi", "settlements": ["khmelnytskyi"],
               "keys": [address_key("khmelnytskyi", street, house(street))], "notify": "address",
               "subscribed": True, "deleted": False}
        if kind == 0:
            doc["notify"] = "none"
        elif kind == 1:
            doc["subscribed"] = False
        elif kind == 2:
            doc.update(deleted=True, subscribed=False)
        else:
            village = rng.choice(villages)
            doc.update(settlement_id=village, settlements=[village], notify="city", keys=[])
        docs.append((f"x{j:06d}", doc))
    return docs, {"streets": streets, "never": never}


def _accumulate(values: list[float]):  # type: ignore[no-untyped-def]
    total = 0.0
    for v in values:
        total += v
        yield total


def choose_streets(index: Any, streets: list[str], target: int) -> tuple[list[str], int]:
    """Whole streets, smallest first, until the audience (with the city subscribers)
    reaches about ``target``."""
    from chatbot_common.directory import street_key

    city = len(index.city.get("khmelnytskyi", ()))
    sizes = sorted(((len(index.by_street.get(street_key("khmelnytskyi", s), ())), s) for s in streets))
    chosen: list[str] = []
    audience = city
    for size, street in reversed(sizes):  # the biggest streets first: fewer of them
        if audience + size > target * 1.02:
            continue
        chosen.append(street)
        audience += size
        if audience >= target * 0.98:
            break
    return chosen, audience


# ================================================================ interactive replies

class ReplyLoad(threading.Thread):
    """Reply events at ``rate``/s on the bus from a thread with its own event loop (the
    notifier's loop is busy planning the mailing), each to its own resident."""

    def __init__(self, amqp_url: str, rate: float, prefix: str) -> None:
        super().__init__(daemon=True)
        self.amqp_url, self.rate, self.prefix = amqp_url, rate, prefix
        self.sent_at: dict[str, float] = {}
        self.failed = 0
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(30)

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        from chatbot_common.bus import create_bus
        from chatbot_common.events import OutboundMessage, make_event

        bus = create_bus(self.amqp_url, name="bench-replies")
        await bus.connect()
        i = 0
        started = time.monotonic()
        try:
            while not self._halt.is_set():
                user = f"{self.prefix}-{i}"
                event = make_event(OutboundMessage(receivers=[user], text="Відповідь бенчмарку"), source="/bench")
                self.sent_at[user] = time.time()
                try:
                    await bus.publish(event)
                except Exception:  # noqa: BLE001 - counted and reported
                    self.failed += 1
                i += 1
                await asyncio.sleep(max(0.0, started + i / self.rate - time.monotonic()))
        finally:
            await bus.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# ================================================================ the benchmark

async def fetch(session: Any, url: str) -> dict[str, Any]:
    async with session.get(url) as resp:
        return await resp.json()


async def mailing(args: argparse.Namespace, amqp_url: str, notifier: Any, publisher: Any, session: Any,
                  fake_url: str, outage: Any, label: str, pids: dict[str, int | None]) -> None:
    from chatbot_common.events import derived_id, make_event

    index = notifier.audience.index
    # Match time against the whole projection (the same call the handler makes).
    times = []
    for _ in range(5):
        started = time.perf_counter()
        matched = index.match(outage)
        times.append(time.perf_counter() - started)
    expected_receivers = len({index.entries[r].receiver for r in matched if index.entries[r].receiver})

    async with session.delete(fake_url + "/_bench/stats"):
        pass
    replies = ReplyLoad(amqp_url, args.reply_rate, f"reply-{label}-{uuid.uuid4().hex[:4]}")
    replies.start()
    await asyncio.sleep(1.0)  # replies flowing before the mailing starts
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
    t0 = time.time()
    await publisher.publish(make_event(outage, source="/admin"))
    deadline = time.monotonic() + args.timeout
    accepted = 0
    last_change, last = time.monotonic(), -1
    while time.monotonic() < deadline:
        stats = await fetch(session, fake_url + "/_bench/stats")
        accepted = sum(b[1] for b in stats["broadcasts"])
        if accepted != last:
            last, last_change = accepted, time.monotonic()
        if accepted >= expected_receivers or time.monotonic() - last_change > args.stall:
            break
        await asyncio.sleep(0.05)
    cpu_spent = {name: cpu_seconds(pids[name]) - before for name, before in cpu_before.items()}
    await asyncio.sleep(1.0)  # replies keep flowing just after the mailing too
    replies.stop()
    stats = await fetch(session, fake_url + "/_bench/stats")
    calls = stats["broadcasts"]
    n = sum(b[1] for b in calls)
    c = len(calls)
    t = (max(b[0] for b in calls) - t0) if calls else float("nan")
    floor = 10 * ((c - 1) // 500) if c else 0
    trips = [(stats["replies"][u] - s) * 1000 for u, s in replies.sent_at.items() if u in stats["replies"]]
    missing = len(replies.sent_at) - len(trips)
    print(f"mailing: {n} recipients in {t:.2f} s; {c} calls; window floor {floor} s")
    print(f"  audience {len(matched)} matched ({expected_receivers} reachable) of {len(index)} eligible; "
          f"failed_list receivers {sum(b[2] for b in calls)}; calls refused by the window "
          f"{stats['rejected_window']}, by size {stats['rejected_size']}")
    print(f"  match against the projection: median {statistics.median(times) * 1000:.1f} ms, "
          f"max {max(times) * 1000:.1f} ms; in the handler {notifier.outages.last_match_seconds * 1000:.1f} ms "
          f"(+ {notifier.outages.last_order_seconds * 1000:.0f} ms to sort it into batch order)")
    print(f"  notifier peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          "(peak RSS of this process: notifier, index, seeded data)")
    if trips:
        print(f"  interactive reply p99 during the mailing: {percentile(trips, 99):.1f} ms "
              f"(p50 {percentile(trips, 50):.1f} ms, {len(trips)} replies at {args.reply_rate:.0f}/s, "
              f"{missing} not arrived, {replies.failed} not published)")
    else:
        print("  interactive reply p99 during the mailing: no reply arrived")
    arrivals = sorted(b[0] - t0 for b in calls)
    if arrivals:
        marks = [("first", 0), ("500th", 499), ("501st", 500), ("last", len(arrivals) - 1)]
        shown = ", ".join(f"{name} {arrivals[i]:.2f} s" for name, i in marks if i < len(arrivals))
        job = await notifier.mailer.jobs.find_one({"_id": derived_id(outage.outage_id, outage.revision, "published")})
        planned = f"{job['ready_at'].timestamp() - t0:.2f} s" if job and job.get("ready_at") else "?"
        print(f"  calls accepted at: {shown}; the notifier had planned the mailing at {planned} "
              "(its batches go to the bus while it plans and after)")
    if c:
        shares = ", ".join(f"{name} {spent:.2f} s ({spent * 1000 / c:.1f} ms)" for name, spent in cpu_spent.items())
        print(f"  CPU from the admin call to the last call accepted (per call): {shares}; "
              "this process = the notifier + the reply load")
    progress = await wait_done(notifier, outage, 5.0)
    print(f"  notifier figures: {progress}")


async def receipts(notifier: Any, outage: Any, tokens: int) -> None:
    """Viber sends a ``delivered`` and a ``seen`` receipt for nearly every receiver: feed
    those of ``tokens`` accepted calls (300 receivers each) to the notifier's figures,
    in this process, without the broker or the gateway — what counting them costs."""
    from chatbot_common.events import DeliveryDelivered, DeliverySeen, derived_id, make_event, utcnow
    from notifier.mailings import TOKENS

    job_id = derived_id(outage.outage_id, outage.revision, "published")
    store = notifier.mailer.jobs.database
    taken = [doc["_id"] async for doc in store[TOKENS].find({"job_id": job_id}, {"_id": 1}).limit(tokens)]
    events = [make_event(model(channel="viber", channel_user_id=f"bench-{token}-{k}", channel_message_id=token,
                               at=utcnow()), source="/bench")
              for token in taken for k in range(MAX_RECEIVERS) for model in (DeliveryDelivered, DeliverySeen)]
    started = time.process_time()
    for event in events:
        await notifier.figures.handle(event)
    spent = time.process_time() - started
    print(f"  receipts: {len(events)} delivered/seen of {len(taken)} calls counted in {spent:.2f} CPU-s "
          f"({spent * 1000 / max(1, len(events)):.3f} ms each; the notifier's figures alone, no broker)")


async def wait_done(notifier: Any, outage: Any, timeout: float) -> str:
    """The notifier's own figures for the mailing (from the gateway's delivery.* events)."""
    from chatbot_common.events import derived_id

    job_id = derived_id(outage.outage_id, outage.revision, "published")
    deadline = time.monotonic() + timeout
    totals = None
    while time.monotonic() < deadline:
        totals = await notifier.figures.totals(job_id)
        if totals and totals["done"]:
            break
        await asyncio.sleep(0.2)
    if not totals:
        return "none yet"
    totals.pop("job", None)
    return ", ".join(f"{k} {v}" for k, v in totals.items())


async def bench(args: argparse.Namespace, amqp_url: str) -> None:
    import aiohttp

    from chatbot_common.bus import create_bus
    from chatbot_common.events import OutageKind, OutagePublished, Utility, utcnow
    from chatbot_common.events import OutageAddress as Addr
    from chatbot_common.logging import configure_logging
    from chatbot_common.runner import settle_heap
    from chatbot_common.store import open_store
    from notifier.service import build
    from notifier.settings import NotifierSettings

    fake_port, gw_port = free_port(), free_port()
    fake = subprocess.Popen([sys.executable, __file__, "--fake-viber", str(fake_port)], cwd=ROOT)
    gateway = ServiceProcess("bench-gateway", "gateway", gw_port, {
        "AMQP_URL": amqp_url, "MONGODB_URL": "memory://", "GATEWAY_PORT": str(gw_port), "LOG_LEVEL": "WARNING",
        "VIBER_AUTH_TOKEN": TOKEN, "VIBER_API_URL": f"http://127.0.0.1:{fake_port}/pa", "PYTHONUNBUFFERED": "1",
    })
    runtime = None
    try:
        from tests.e2e.harness import wait_http_ok

        wait_http_ok(f"http://127.0.0.1:{fake_port}/healthz", 30, fake)
        gateway.start()
        settings = NotifierSettings(amqp_url=amqp_url, notifier_port=0, log_level="WARNING")
        configure_logging("notifier", "WARNING", "console")
        store = open_store("memory://", f"bench_notifier_{uuid.uuid4().hex[:6]}")
        runtime = build(settings, bus=create_bus(amqp_url, name="notifier"), store=store)
        await runtime.start(host="127.0.0.1")
        notifier = runtime.notifier

        rng = random.Random(8)
        started = time.perf_counter()
        docs, facts = seed_documents(args.residents, rng)
        for rid, doc in docs:
            notifier.audience.index.put(rid, doc)
        index = notifier.audience.index
        seeded = len(docs)
        del docs  # the index holds what the notifier keeps
        # What `python -m notifier` does once started, its index loaded: the start-up
        # heap is frozen (runner.settle_heap), so full collections skip 300 000 entries.
        settle_heap()
        print(f"seeded {seeded} residents ({len(index)} eligible, {facts['never']} never to be reached) over "
              f"{len(facts['streets'])} streets in {time.perf_counter() - started:.1f} s; "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        print(f"gateway, fake Viber: processes; notifier: in this process (on the event loop it runs on as a "
              f"service); RabbitMQ vhost {urlsplit(amqp_url).path}; {describe()}")

        streets, audience = choose_streets(index, facts["streets"], args.audience)
        now = utcnow()
        common = {"kind": OutageKind.emergency, "utility": Utility.cold_water, "settlement_id": "khmelnytskyi",
                  "starts_at": now, "ends_at": now + timedelta(hours=6), "description": "Аварія на водогоні",
                  "contact_phone": "+380382650000", "at": now}
        emergency = OutagePublished(outage_id=f"bench-{uuid.uuid4().hex[:6]}", revision=1,
                                    addresses=[Addr(street_id=s, street_name=s) for s in streets], **common)
        city_wide = OutagePublished(outage_id=f"bench-{uuid.uuid4().hex[:6]}", revision=1, city_wide=True,
                                    **common)
        publisher = create_bus(amqp_url, name="bench-admin")
        await publisher.connect()
        fake_url = f"http://127.0.0.1:{fake_port}"
        pids = {"gateway": gateway.process.pid if gateway.process else None, "fake Viber": fake.pid,
                "broker": find_broker(), "this process": os.getpid()}
        async with aiohttp.ClientSession() as session:
            print(f"\n1. emergency outage on {len(streets)} streets (audience ≈ {audience}: address + whole-city subscribers)")
            await mailing(args, amqp_url, notifier, publisher, session, fake_url, emergency, "a", pids)
            print(f"\n(waiting {WINDOW_SECONDS + 1:.0f} s for Viber's window to empty)")
            await asyncio.sleep(WINDOW_SECONDS + 1)
            print(f"\n2. city-wide outage (audience: every eligible resident, {len(index)})")
            await mailing(args, amqp_url, notifier, publisher, session, fake_url, city_wide, "b", pids)
            await receipts(notifier, city_wide, 50)
        await publisher.close()
    finally:
        if runtime is not None:
            await runtime.stop()
        gateway.stop()
        fake.terminate()
        fake.wait(10)




def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="30 000 residents, mailings of 5 000 and 30 000")
    parser.add_argument("--residents", type=int, help="eligible residents seeded (default 300 000)")
    parser.add_argument("--audience", type=int, help="target audience of the emergency outage (default 50 000)")
    parser.add_argument("--reply-rate", type=float, default=50.0, help="interactive replies per second meanwhile")
    parser.add_argument("--timeout", type=float, default=180.0, help="most seconds to wait for one mailing")
    parser.add_argument("--stall", type=float, default=30.0, help="give up when no call arrived for this long")
    parser.add_argument("--amqp-url", default=os.environ.get("AMQP_TEST_URL", "amqp://guest:guest@127.0.0.1:5672/"),
                        help="the broker; the benchmark runs on a fresh virtual host of it")
    parser.add_argument("--fake-viber", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_viber:
        serve_fake_viber(args.fake_viber)
        return 0
    args.residents = args.residents or (30_000 if args.quick else 300_000)
    args.audience = args.audience or (5_000 if args.quick else 50_000)
    vhost = f"bench-mailing-{uuid.uuid4().hex[:8]}"
    url = add_vhost(vhost, args.amqp_url)
    try:
        # The notifier runs here on the loop it runs on as a service (run_service: uvloop).
        from chatbot_common.runner import event_loop_factory

        with asyncio.Runner(loop_factory=event_loop_factory(os.environ.get("EVENT_LOOP", "uvloop"))) as runner:
            runner.run(bench(args, url))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: services stopped, vhost removed", file=sys.stderr)
        return 130
    finally:
        delete_vhost(vhost, warn=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
