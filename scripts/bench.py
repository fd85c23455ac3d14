"""``make bench``: webhook throughput, latency and CPU per message on real RabbitMQ.

Starts fake Viber, gateway and dialog as separate processes (as in the e2e tests) on a
RabbitMQ virtual host of its own (created at start, deleted at the end, also on failure
or Ctrl-C), and POSTs signed ``message`` callbacks straight at the gateway, each from
its own resident so every one gets a reply. After a short idle measurement and a
warm-up (which also checks that replies arrive at all), four phases (the first in two parts), each waiting until
every reply has reached the fake Viber API before the next begins:

1. burst — N callbacks as fast as the gateway takes them (a bounded number in flight):
   accepted callbacks per second, p50/p99 of the gateway's answer, how fast the
   replies drain through dialog and gateway to the fake Viber API; every one is a
   resident's first contact (the dialog creates the resident); then "burst again" —
   the first of those residents write once more, as fast: a known resident's turn,
   which is what most messages are;
2. paced 500/s — a bounded number of callbacks offered at 500 a second: p50/p99 of
   the gateway's answer (target p99 < 25 ms), and whether every publish was confirmed
   (every answer 200);
3. paced 100/s — callbacks below saturation: round trip p50/p99 from callback to the
   reply arriving at the fake Viber API (what one resident feels);
4. replies only — reply events published straight to the bus (as the dialog publishes
   them), no callbacks: what one reply costs the gateway on its own.

CPU per message comes from each process's own counters (utime+stime in
/proc/<pid>/stat), read right before a phase, when its last callback was answered
("send" window) and when its last reply arrived ("drain" window): gateway, dialog, the
broker (RabbitMQ's beam.smp, found by name in /proc — it serves every other virtual
host too), the fake Viber and the load generator (this process) for reference. The
gateway does both jobs at once in phases 1–3; its cost per callback is its CPU there less
the replies it sent times the cost per reply of phase 4.
``--quick`` runs small counts as a smoke test; ``--profile DIR --py-spy PATH`` records the
gateway and the dialog with py-spy during the burst (a distortion: not for the figures).
A figure printer, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_proc import cpu_seconds, find_broker  # noqa: E402
from bench_reference import describe  # noqa: E402
from gateway.signature import sign  # noqa: E402
from tests.e2e.harness import TOKEN, BotSystem  # noqa: E402
from tests.support import add_vhost, delete_vhost  # noqa: E402

GW_TARGET_MS = 0.5
DIALOG_TARGET_MS = 1.0
ANSWER_P99_TARGET_MS = 25.0


# ---------------------------------------------------------------- load

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


_TOKENS = itertools.count(2**60)


class Load:
    """Signed callbacks from residents ``<prefix>-<i>``; remembers when each was sent."""

    def __init__(self, webhook: str, prefix: str) -> None:
        self.webhook = webhook
        self.prefix = prefix
        self.sent_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.first_sent = self.last_sent = self.last_answer = 0.0  # perf_counter

    @property
    def accepted(self) -> int:
        return self.statuses["200"]

    @property
    def not_accepted(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200")

    async def post(self, session: aiohttp.ClientSession, i: int) -> None:
        user = f"{self.prefix}-{i}"
        body = json.dumps({
            "event": "message", "timestamp": int(time.time() * 1000), "message_token": next(_TOKENS),
            "sender": {"id": user, "name": "Бенчмарк", "api_version": 10},
            "message": {"type": "text", "text": "start"},
        }).encode()
        headers = {"X-Viber-Content-Signature": sign(TOKEN, body), "Content-Type": "application/json"}
        started = time.perf_counter()
        self.first_sent = self.first_sent or started
        self.last_sent = started
        self.sent_at[user] = time.time()
        try:
            async with session.post(self.webhook, data=body, headers=headers) as resp:
                await resp.read()
                status = str(resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            self.statuses[type(exc).__name__] += 1
            return
        self.last_answer = time.perf_counter()
        self.statuses[status] += 1
        self.latencies.append(self.last_answer - started)

    async def burst(self, count: int, concurrency: int) -> None:
        """As fast as possible with ``concurrency`` in flight."""
        todo = iter(range(count))

        async def worker(session: aiohttp.ClientSession) -> None:
            for i in todo:
                await self.post(session, i)

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            await asyncio.gather(*(worker(session) for _ in range(concurrency)))

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

    @property
    def send_seconds(self) -> float:
        """First callback sent → last one answered."""
        return self.last_answer - self.first_sent if self.last_answer else float("nan")

    @property
    def offered_rate(self) -> float:
        n = sum(self.statuses.values())
        return (n - 1) / (self.last_sent - self.first_sent) if n > 1 and self.last_sent > self.first_sent else float("nan")


class ReplyLoad:
    """Reply events for residents ``<prefix>-<i>`` published straight to the bus, as the dialog would."""

    def __init__(self, amqp_url: str, prefix: str) -> None:
        self.amqp_url = amqp_url
        self.prefix = prefix
        self.sent_at: dict[str, float] = {}
        self.published = 0
        self.failed = 0

    async def publish(self, count: int, concurrency: int) -> None:
        from chatbot_common.bus import create_bus
        from chatbot_common.events import OutboundMessage, make_event

        bus = create_bus(self.amqp_url, name="bench")
        await bus.connect()
        slots = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            user = f"{self.prefix}-{i}"
            event = make_event(OutboundMessage(receivers=[user], text=f"Відповідь бенчмарку {i}"), source="/bench")
            async with slots:
                self.sent_at[user] = time.time()
                try:
                    await bus.publish(event)
                    self.published += 1
                except Exception:  # noqa: BLE001 - counted and reported
                    self.failed += 1

        try:
            await asyncio.gather(*(one(i) for i in range(count)))
        finally:
            await bus.close()


# ---------------------------------------------------------------- observing the system

def metric(text: str, name: str, *labels: str) -> float:
    """Sum of the Prometheus samples ``name{...}`` carrying every one of ``labels`` (``key="value"``)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(label in line for label in labels):
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class Snapshot:
    at: float  # perf_counter
    cpu: dict[str, float]  # process label → CPU seconds so far
    sent: float  # gateway: send_message calls Viber answered with status 0
    handled: float  # dialog: messages handled on dialog.inbound
    failed: float  # handler failures (requeued) and dead-lettered messages, gateway and dialog


class Observer:
    def __init__(self, system: BotSystem, session: aiohttp.ClientSession) -> None:
        self.system = system
        self.session = session
        broker = find_broker()
        self.pids: dict[str, int | None] = {
            "gateway": system.gateway.process.pid, "dialog": system.dialog.process.pid,
            "broker": broker, "fake Viber": system.sim.process.pid, "load gen": os.getpid(),
        }

    async def _get(self, url: str) -> str:
        async with self.session.get(url) as resp:
            return await resp.text()

    async def snapshot(self) -> Snapshot:
        gateway = await self._get(self.system.gateway.url + "/metrics")
        dialog = await self._get(self.system.dialog.url + "/metrics")
        cpu = {name: cpu_seconds(pid) if pid else float("nan") for name, pid in self.pids.items()}
        return Snapshot(
            at=time.perf_counter(), cpu=cpu,
            sent=metric(gateway, "chatbot_viber_api_calls_total", 'method="send_message"', 'status="0"'),
            handled=metric(dialog, "chatbot_messages_handled_total", 'queue="dialog.inbound"'),
            failed=sum(metric(text, name) for text in (gateway, dialog)
                       for name in ("chatbot_messages_failed_total", "chatbot_messages_dead_lettered_total")),
        )

    async def reset_fake_viber(self) -> None:
        async with self.session.delete(self.system.sim.url + "/_sim/requests") as resp:
            resp.raise_for_status()

    async def wait_replies(self, expected: int, timeout: float, stall: float) -> list[dict]:
        """The fake Viber's accepted send_message calls, once ``expected`` arrived — or at the
        timeout, or when none arrived for ``stall`` seconds.

        Polls the cheap record count and fetches the records only when enough are there."""
        now = time.monotonic()
        deadline, last_change, last_count, fetched_at = now + timeout, now, -1, -1
        while True:
            count = json.loads(await self._get(self.system.sim.url + "/_sim/state"))["records"]
            now = time.monotonic()
            if count != last_count:
                last_change, last_count = now, count
            give_up = now > deadline or now - last_change > stall
            if count >= expected and count != fetched_at or give_up:
                fetched_at = count
                records = json.loads(await self._get(self.system.sim.url + "/_sim/requests?method=send_message"))
                ok = [r for r in records if r["status"] == 0]
                if len(ok) >= expected or give_up:
                    return ok
            await asyncio.sleep(0.25)


@dataclass
class Window:
    label: str
    start: Snapshot
    end: Snapshot
    callbacks: int = 0

    @property
    def wall(self) -> float:
        return self.end.at - self.start.at

    @property
    def replies(self) -> float:
        return self.end.sent - self.start.sent

    def cpu(self, name: str) -> float:
        return self.end.cpu[name] - self.start.cpu[name]


@dataclass
class Phase:
    name: str
    load: Load | ReplyLoad
    replies: list[dict] = field(default_factory=list)
    began_wall: float = 0.0  # time.time() of the phase's start
    send: Window | None = None
    drain: Window | None = None
    target_p99: bool = False

    @property
    def whole(self) -> Window:
        assert self.send and self.drain
        return Window(self.name, self.send.start, self.drain.end, self.send.callbacks)

    @property
    def handled(self) -> float:
        return self.whole.end.handled - self.whole.start.handled

    def trips(self) -> list[float]:
        sent = self.load.sent_at
        return [r["at"] - sent[r["body"]["receiver"]] for r in self.replies if r["body"]["receiver"] in sent]

    @property
    def replied_in(self) -> float:
        return max(r["at"] for r in self.replies) - self.began_wall if self.replies else float("nan")


class Profiler:
    """Optional py-spy recordings of gateway and dialog over one phase (``--profile``)."""

    def __init__(self, py_spy: str, out_dir: Path, pids: dict[str, int]) -> None:
        self.py_spy, self.out_dir, self.pids = py_spy, out_dir, pids
        self.procs: list[subprocess.Popen] = []
        self.files: dict[str, Path] = {}

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            path = self.files[name] = self.out_dir / f"{name}.txt"
            self.procs.append(subprocess.Popen(
                [self.py_spy, "record", "--pid", str(pid), "--format", "raw", "--nonblocking", "--rate", "100",
                 "-o", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


# ---------------------------------------------------------------- the run

async def run_phase(obs: Observer, phase: Phase, drive, stall: float, settle: float = 0.3) -> Phase:  # type: ignore[no-untyped-def]
    await obs.reset_fake_viber()
    start = await obs.snapshot()
    phase.began_wall = time.time()
    await drive()
    mid = await obs.snapshot()
    expected = phase.load.accepted if isinstance(phase.load, Load) else phase.load.published
    phase.replies = await obs.wait_replies(expected, timeout=60 + expected / 20, stall=stall)
    await asyncio.sleep(settle)  # let acks and bookkeeping after the last reply finish inside this phase
    end = await obs.snapshot()
    phase.send = Window(f"{phase.name}: send", start, mid, phase.load.accepted if isinstance(phase.load, Load) else 0)
    phase.drain = Window(f"{phase.name}: drain", mid, end)
    return phase


async def bench(args: argparse.Namespace, amqp_url: str, vhost: str) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    system = BotSystem(amqp_url=amqp_url, extra_env={"LOG_LEVEL": "WARNING"})
    try:
        system.start()
        async with aiohttp.ClientSession() as session:
            obs = Observer(system, session)
            header(args, vhost, obs)
            idle_start = await obs.snapshot()
            await asyncio.sleep(args.idle)
            idle = Window("idle", idle_start, await obs.snapshot())

            # Warm-up (first connections, lazy imports, caches) and a check that replies come at all.
            warm = Phase("warm-up", Load(system.webhook_url, "warmup"))
            await run_phase(obs, warm, lambda: warm.load.paced(args.warmup, 50), stall=30)
            print(f"warm-up: {warm.load.accepted} of {args.warmup} callbacks accepted, {len(warm.replies)} replies",
                  flush=True)
            if not warm.replies:
                raise SystemExit("no reply reached the fake Viber API during the warm-up: the system is broken, not "
                                 f"slow — see {system.dialog.log_path} and {system.gateway.log_path}")

            burst = Phase(f"burst, {args.concurrency} in flight", Load(system.webhook_url, "burst"))
            profiler = None
            if args.profile:
                profiler = Profiler(args.py_spy, args.profile,
                                    {"gateway": system.gateway.process.pid, "dialog": system.dialog.process.pid})
                profiler.start()
                await asyncio.sleep(1)  # py-spy attaches
            try:
                await run_phase(obs, burst, lambda: burst.load.burst(args.count, args.concurrency), args.stall)
            finally:
                if profiler:
                    profiler.stop()
            phases = [burst]
            if args.again_count:
                # The same residents ("burst-<i>") again: each is known now, mid-registration.
                again = Phase(f"burst again, {args.concurrency} in flight", Load(system.webhook_url, "burst"))
                phases.append(await run_phase(obs, again, lambda: again.load.burst(args.again_count,
                                                                                   args.concurrency), args.stall))
            if args.fast_count:
                fast = Phase(f"paced {args.fast_rate:g}/s", Load(system.webhook_url, "fast"), target_p99=True)
                phases.append(await run_phase(obs, fast, lambda: fast.load.paced(args.fast_count, args.fast_rate),
                                              args.stall))
            if args.paced_count:
                paced = Phase(f"paced {args.rate:g}/s", Load(system.webhook_url, "paced"))
                phases.append(await run_phase(obs, paced, lambda: paced.load.paced(args.paced_count, args.rate),
                                              args.stall))
            if args.reply_count:
                # To residents the fake Viber has seen; its per-resident limits were reset with its records.
                only = Phase("replies only", ReplyLoad(amqp_url, "burst"))
                phases.append(await run_phase(obs, only, lambda: only.load.publish(args.reply_count, 32), args.stall))
    finally:
        codes = system.stop()
    report(phases, idle)
    if any(codes.values()):
        print(f"note: service exit codes {codes} (0 = clean shutdown); logs in test-artifacts/logs/")
    if profiler:
        from bench_profile import summarise

        for name, path in profiler.files.items():
            print()
            print(summarise(path, top=args.profile_top, title=f"profile of the {name} during the burst ({path})")
                  if path.exists() else f"profile of the {name}: py-spy wrote nothing ({path})")


def header(args: argparse.Namespace, vhost: str, obs: Observer) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}; load average at start {load}; {describe()}")
    print(f"real RabbitMQ (vhost {vhost!r}, deleted afterwards), in-memory store, every process on this machine")
    print("pids: " + ", ".join(f"{name} {pid or 'not found'}" for name, pid in obs.pids.items()), flush=True)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def per_ms(cpu: float, count: float) -> str:
    return f"{cpu / count * 1000:.2f}" if count > 0 and cpu == cpu else "—"


def report(phases: list[Phase], idle: Window) -> None:
    callback_phases = [p for p in phases if isinstance(p.load, Load)]
    print()
    print("Webhook: gateway answers (200 only after the broker confirmed the publish)")
    rows = []
    for p in callback_phases:
        load = p.load
        assert isinstance(load, Load)
        lat = load.latencies
        failures = ", ".join(f"{s}×{n}" for s, n in sorted(load.statuses.items()) if s != "200") or "0"
        p99 = percentile(lat, 99) * 1000 if lat else float("nan")
        verdict = (" ok" if p99 < ANSWER_P99_TARGET_MS else " OVER") if p.target_p99 else ""
        rows.append([
            p.name, f"{sum(load.statuses.values())}", f"{load.accepted}", failures,
            f"{load.offered_rate:.0f}/s", f"{load.send_seconds:.1f} s",
            f"{load.accepted / load.send_seconds:.0f}/s" if load.accepted else "—",
            f"{percentile(lat, 50) * 1000:.1f} ms" if lat else "—", f"{p99:.1f} ms{verdict}" if lat else "—",
        ])
    print(table(["phase", "callbacks", "200", "not 200", "offered", "answered in", "accepted", "answer p50",
                 "answer p99"], rows))
    for p in callback_phases:
        if p.target_p99:
            assert isinstance(p.load, Load)
            verdict = ("every publish confirmed (every answer 200)" if p.load.not_accepted == 0
                       else f"{p.load.not_accepted} callbacks NOT answered 200 (publish not confirmed)")
            print(f"  {p.name}: {verdict}; target: answer p99 < {ANSWER_P99_TARGET_MS:g} ms")

    print()
    print("Replies: → gateway → fake Viber API (send_message accepted); round trip from callback (or publish)")
    rows = []
    for p in phases:
        trips = p.trips()
        expected = p.load.accepted if isinstance(p.load, Load) else p.load.published
        rows.append([
            p.name, f"{len(p.replies)} of {expected}", f"{p.replied_in:.1f} s",
            f"{len(p.replies) / p.replied_in:.0f}/s" if p.replies else "—",
            f"{percentile(trips, 50) * 1000:.0f} ms" if trips else "—",
            f"{percentile(trips, 99) * 1000:.0f} ms" if trips else "—",
            f"{statistics.fmean(trips) * 1000:.0f} ms" if trips else "—",
        ])
    print(table(["phase", "replies", "all in", "replies/s", "round trip p50", "p99", "mean"], rows))
    for p in phases:
        failed = p.whole.end.failed - p.whole.start.failed
        expected = p.load.accepted if isinstance(p.load, Load) else p.load.published
        if failed or len(p.replies) < expected:
            print(f"  {p.name}: {expected - len(p.replies)} replies missing, {failed:.0f} handler failures or "
                  "dead-lettered messages: its figures are not a clean measurement (see test-artifacts/logs/)")

    names = list(idle.start.cpu)
    print()
    print("CPU by window: CPU-seconds (share of one core); send = first callback → last answer, "
          "drain = → last reply")
    rows = []
    for w in [idle, *(w for p in phases for w in (p.send, p.drain))]:
        assert w is not None
        rows.append([w.label, f"{w.wall:.1f} s", f"{w.callbacks}", f"{w.replies:.0f}",
                     *(f"{w.cpu(n):.2f} ({w.cpu(n) / w.wall * 100:.0f}%)" if w.wall > 0 and w.cpu(n) == w.cpu(n)
                       else "—" for n in names)])
    print(table(["window", "wall", "callbacks", "replies", *names], rows))

    print()
    print("CPU-ms per message: utime+stime from /proc/<pid>/stat, sampled right before and after each phase")
    only = next((p for p in phases if not isinstance(p.load, Load) and p.whole.replies > 0), None)
    per_reply = only.whole.cpu("gateway") / only.whole.replies if only else None
    rows = []
    for p in phases:
        whole = p.whole
        if isinstance(p.load, Load):
            accepted = p.load.accepted
            callback = ((whole.cpu("gateway") - whole.replies * per_reply) / accepted
                        if per_reply is not None and accepted else None)
            rows.append([
                p.name, f"{callback * 1000:.2f}" if callback is not None else "—", "",
                per_ms(whole.cpu("gateway"), accepted), per_ms(whole.cpu("dialog"), p.handled),
                per_ms(whole.cpu("broker"), accepted), per_ms(whole.cpu("fake Viber"), whole.replies),
                per_ms(whole.cpu("load gen"), accepted),
            ])
        else:
            rows.append([p.name, "", per_ms(whole.cpu("gateway"), whole.replies), "", "",
                         per_ms(whole.cpu("broker"), whole.replies) + " /reply",
                         per_ms(whole.cpu("fake Viber"), whole.replies), per_ms(whole.cpu("load gen"), whole.replies)
                         + " /reply"])
    rows.append(["target", f"≤ {GW_TARGET_MS:g}", f"≤ {GW_TARGET_MS:g}", "", f"≤ {DIALOG_TARGET_MS:g}", "", "", ""])
    print(table(["phase", "gateway/callback", "gateway/reply", "gateway/(cb+reply)", "dialog/message",
                 "broker/callback", "fake Viber/reply", "load gen/callback"], rows))
    print("  gateway/reply: the gateway's CPU in the replies-only phase ÷ replies sent (no callbacks then);")
    print("  gateway/callback: (the gateway's CPU in the phase − replies it sent × gateway/reply) ÷ callbacks;")
    print("  gateway/(cb+reply): all the gateway's CPU in the phase ÷ callbacks (each callback gets one reply);")
    print("  dialog/message: the dialog's CPU ÷ messages it handled; broker: the whole beam.smp — per callback two")
    print("  publishes, two deliveries and their confirms and acks, plus whatever other vhosts do meanwhile.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small counts (burst 500, 1 000 at 500/s, 200 at 100/s, 300 replies only): a smoke test in under a minute")
    parser.add_argument("--count", type=int, help="callbacks in the burst (default 10 000)")
    parser.add_argument("--concurrency", type=int, default=64, help="callbacks in flight in the burst")
    parser.add_argument("--again-count", type=int,
                        help="callbacks from the burst's residents once more (default 5 000; 0 skips the phase)")
    parser.add_argument("--fast-count", type=int, help="callbacks at --fast-rate (default 5 000; 0 skips the phase)")
    parser.add_argument("--fast-rate", type=float, default=500.0, help="callbacks per second offered in phase 2")
    parser.add_argument("--paced-count", type=int, help="callbacks at --rate (default 2 000; 0 skips the phase)")
    parser.add_argument("--rate", type=float, default=100.0, help="callbacks per second in the paced phase")
    parser.add_argument("--reply-count", type=int,
                        help="reply events published straight to the bus in phase 4 (default 2 000; 0 skips it)")
    parser.add_argument("--idle", type=float, help="seconds of idle CPU measured before the burst (default 3)")
    parser.add_argument("--warmup", type=int, default=20, help="callbacks sent (at 50/s) before measuring")
    parser.add_argument("--stall", type=float, default=30.0,
                        help="stop waiting for a phase's replies when none arrived for this many seconds")
    parser.add_argument("--amqp-url", default=os.environ.get("AMQP_TEST_URL", "amqp://guest:guest@127.0.0.1:5672/"),
                        help="the broker; the benchmark runs on a fresh virtual host of it")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record gateway and dialog with py-spy during the burst into DIR/<name>.txt and summarise "
                             "(py-spy is not a project dependency: see --py-spy)")
    parser.add_argument("--py-spy", default="py-spy", metavar="PATH", help="the py-spy executable for --profile")
    parser.add_argument("--profile-top", type=int, default=15, help="rows per profile summary")
    args = parser.parse_args()
    quick = args.quick
    args.count = args.count if args.count is not None else (500 if quick else 10_000)
    args.again_count = min(args.count, args.again_count if args.again_count is not None else (300 if quick else 5000))
    args.fast_count = args.fast_count if args.fast_count is not None else (1000 if quick else 5000)
    args.paced_count = args.paced_count if args.paced_count is not None else (200 if quick else 2000)
    args.reply_count = args.reply_count if args.reply_count is not None else (300 if quick else 2000)
    args.idle = args.idle if args.idle is not None else (1.0 if quick else 3.0)
    if args.count < 1:
        parser.error("--count must be at least 1")

    vhost = f"bench-{uuid.uuid4().hex[:8]}"
    url = add_vhost(vhost, args.amqp_url)
    try:
        asyncio.run(bench(args, url, vhost))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: services stopped, vhost removed", file=sys.stderr)
        return 130
    finally:
        delete_vhost(vhost, warn=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
