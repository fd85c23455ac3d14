"""Application assembly: ``create_app`` for embedding, ``start_simulator`` for running.

The outgoing HTTP session and receipt workers need a running loop, so they are made
in a cleanup context (startup/shutdown) rather than in ``create_app``.
"""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from . import api, control
from .callbacks import CallbackSender, ReceiptQueue
from .config import SimConfig
from .keys import CALLBACKS, RECEIPTS, STATE
from .state import SimState

STATIC_DIR = Path(__file__).parent / "static"
MAX_REQUEST_BYTES = 1024**2


async def _outgoing(app: web.Application) -> AsyncIterator[None]:
    """One shared client session for callbacks, plus the receipt workers."""
    state = app[STATE]
    session = aiohttp.ClientSession()
    sender = CallbackSender(state, session)
    app[CALLBACKS] = sender
    app[RECEIPTS] = ReceiptQueue(sender, state.config.delivery_concurrency)
    try:
        yield
    finally:
        await app[RECEIPTS].close()
        await session.close()


async def _index(request: web.Request) -> web.FileResponse:
    """The resident's phone page."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})


def create_app(config: SimConfig | None = None) -> web.Application:
    """Build the simulator: ``/pa/*`` fake Viber, ``/_sim/*`` control, ``/`` page."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[STATE] = SimState(config or SimConfig())
    app.cleanup_ctx.append(_outgoing)
    app.router.add_post("/pa/{method}", api.handle)
    app.add_routes(control.routes)
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC_DIR)
    return app


def simulator_state(app: web.Application) -> SimState:
    """The live state of an app built by :func:`create_app` (for in-process tests)."""
    return app[STATE]


async def start_simulator(
    config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 8000
) -> tuple[web.AppRunner, str]:
    """Start on the current event loop; ``port=0`` picks a free port.

    Returns the runner (``await runner.cleanup()`` to stop) and the base URL.
    """
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    shown_host = "127.0.0.1" if bound_host in ("0.0.0.0", "::") else bound_host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    url = f"http://{shown_host}:{bound_port}"
    state = app[STATE]
    if state.public_url is None:
        state.public_url = url
    return runner, url
