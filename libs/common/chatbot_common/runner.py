"""Service runner: one obvious place where a service starts, stops and gets its
resources (aiohttp-demos style).

Lifecycle: connect bus → prepare store → declare the whole topology → serve HTTP →
consume → started hooks → background jobs (outbox relays, pollers, schedulers; a
*singleton* job runs under a lease, on one replica at a time). Shutdown on
SIGTERM/SIGINT, also while still starting or while the broker is gone: not ready →
cancel background jobs → stop consuming and finish in-flight handlers → stop hooks →
stop HTTP → close bus and store; every step that talks to the broker has a deadline.

Every service serves ``/healthz`` (alive), ``/readyz`` (broker and DB reachable) and
``/metrics`` (Prometheus) (T3).
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable

import structlog
import uvloop
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .bus import Bus, create_bus
from .http_server import server_options
from .lease import Lease
from .logging import configure_logging
from .settings import Settings
from .store import Store, open_store

Hook = Callable[[], Awaitable[None]]
log = structlog.get_logger("chatbot.runner")


class ServiceRuntime:
    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        port: int,
        bus: Bus | None = None,
        store: Store | None = None,
        database: str | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.port = port
        self.bus = bus or create_bus(
            settings.amqp_url,
            name=name,
            prefetch=settings.bus_prefetch,
            delivery_limit=settings.bus_delivery_limit,
            confirm_timeout=settings.bus_confirm_timeout,
        )
        self.store = store or open_store(
            settings.mongodb_url, settings.database_prefix + (database or name.replace("-", "_"))
        )
        self.app = web.Application(client_max_size=settings.webhook_max_body)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_get("/metrics", self._metrics)
        self.on_prepare: list[Hook] = []  # before consuming (indexes, caches)
        self.on_started: list[Hook] = []  # after consuming (e.g. set_webhook)
        self.on_stopping: list[Hook] = []  # after consuming stopped, before closing
        self._runner: web.AppRunner | None = None
        self._ready = False
        self.bound_port: int | None = None
        self._jobs: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def background(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job()`` on every replica once the service started; cancelled at stop.
        A job that ends or fails is logged and started again after a pause."""
        self._jobs.append((name, job))

    def singleton(self, name: str, job: Callable[[], Awaitable[None]], *, ttl: float = 15.0) -> Lease:
        """Run ``job()`` on exactly one replica, under the lease ``name`` in this
        service's database; another replica takes over within ``ttl`` when it dies."""
        lease = Lease(self.store, f"{self.name}:{name}", ttl=ttl)
        self._jobs.append((name, lambda: lease.run(job)))
        return lease

    async def _keep_running(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await job()
                log.warning("job.ended", job=name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a job must outlive its own bugs
                log.error("job.failed", job=name, error=repr(exc)[:300])
            await asyncio.sleep(1.0)

    def subscribe(self, queue: str, keys: list[str], handler, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.bus.subscribe(queue, keys, handler, service=self.name, **kwargs)

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": self.name})

    async def _readyz(self, _request: web.Request) -> web.Response:
        checks = {"started": self._ready, "broker": await self.bus.ping(), "database": await self.store.ping()}
        ok = all(checks.values())
        return web.json_response({"status": "ready" if ok else "not ready", **checks}, status=200 if ok else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, host: str = "0.0.0.0") -> None:
        # Tasks created here (consumers, HTTP server) inherit this service's log context.
        with structlog.contextvars.bound_contextvars(service=self.name):
            await self._start(host)

    async def _start(self, host: str) -> None:
        await self.bus.connect()
        for hook in self.on_prepare:
            await hook()
        await self.bus.declare()
        self._runner = web.AppRunner(self.app, **server_options())
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        await self.bus.start_consuming()
        for hook in self.on_started:
            await hook()
        for name, job in self._jobs:
            self._tasks.append(asyncio.create_task(self._keep_running(name, job), name=f"{self.name}:{name}"))
        self._ready = True
        log.info("service.started", port=self.bound_port)

    async def stop(self) -> None:
        with structlog.contextvars.bound_contextvars(service=self.name):
            await self._stop()

    async def _stop(self) -> None:
        self._ready = False
        log.info("service.stopping")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.bus.stop_consuming()
        for hook in self.on_stopping:
            try:
                await hook()
            except Exception as exc:  # noqa: BLE001 - shutdown must go on
                log.warning("service.stop_hook_failed", error=repr(exc))
        if self._runner is not None:
            await self._runner.cleanup()
        await self.bus.close()
        await self.store.close()
        log.info("service.stopped")


async def serve_until_signalled(*runtimes: ServiceRuntime, host: str = "0.0.0.0",
                                after_start: Hook | None = None) -> None:
    """Start the runtimes, wait for SIGTERM/SIGINT, stop them in reverse order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started: list[ServiceRuntime] = []

    async def start_all() -> None:
        for runtime in runtimes:
            started.append(runtime)  # a half-started runtime is stopped too
            await runtime.start(host)
        if after_start is not None:
            await after_start()
        settle_heap()

    # SIGTERM must work while starting too (e.g. waiting for a broker that is gone).
    starting = asyncio.create_task(start_all())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a failed start raises here
            await stopping
        else:
            log.info("service.stop_while_starting")
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
    finally:
        stopping.cancel()
        for runtime in reversed(started):
            await runtime.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def settle_heap() -> None:
    """Once started: collect, then move every object start-up made (modules, the text
    catalog, the question index, pools) out of the collector's reach (``gc.freeze``),
    so a full collection walks only what the service made since. Without it, the
    dialog paused its event loop for 70–120 ms in full collections during ``make bench``
    — which is what a resident's p99 round trip was made of."""
    gc.collect()
    gc.freeze()


def run_service(build: Callable[[Settings], ServiceRuntime], settings: Settings) -> None:
    """Entry point body for ``python -m <service>``."""
    runtime = build(settings)
    configure_logging(runtime.name, settings.log_level, settings.log_format)
    with asyncio.Runner(loop_factory=event_loop_factory(settings.event_loop)) as runner:
        runner.run(serve_until_signalled(runtime))


def event_loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """``uvloop`` (the default): the same asyncio API on libuv, with the transports,
    the selector and the scheduling in C — less CPU for every message a service moves
    (``make bench``); ``asyncio``: the standard loop (``None`` asks for it)."""
    if kind == "asyncio":
        return None
    return uvloop.new_event_loop
