"""Application assembly: ``build_app`` for embedding and tests, ``start_simulator`` for running."""

from __future__ import annotations

import asyncio

from aiohttp import web

from . import chat, chat_page, control, open311, operator
from .keys import SIM, STOPPING
from .state import Simulator

MAX_REQUEST_BYTES = 1024**2


async def _stopping(app: web.Application) -> None:
    app[STOPPING].set()  # release Open311 calls held by the "slow" fault


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build_app(sim: Simulator | None = None, *, api_key: str | None = None,
              chat_sim: chat.ChatSim | None = None) -> web.Application:
    """Open311 under ``/open311/v2``, control API under ``/control``, operator page at ``/``.

    ``api_key`` (if given) replaces ``sim.api_key``: POSTs must then carry it (else 403).
    The Chatwoot subset lives under ``/chatwoot``, its operator page at ``/chat``
    (``chat_sim``; default from ``CCSIM_CHAT_*``, see ccsim.chat).
    """
    sim = sim if sim is not None else Simulator()
    if api_key is not None:
        sim.api_key = api_key
    app = web.Application(client_max_size=MAX_REQUEST_BYTES,
                          middlewares=[open311.faults_middleware, control.control_errors, chat.chat_middleware])
    app[SIM] = sim
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_stopping)
    app.add_routes(open311.routes)
    app.add_routes(control.routes)
    app.add_routes(operator.routes)
    app[chat.CHAT] = chat_sim if chat_sim is not None else chat.ChatSim.from_env()
    app.on_cleanup.append(_close_chat)
    app.add_routes(chat.routes)
    app.add_routes(chat_page.routes)
    app.router.add_get("/healthz", _healthz)
    return app


async def _close_chat(app: web.Application) -> None:
    await app[chat.CHAT].close()


async def start_simulator(sim: Simulator | None = None, host: str = "127.0.0.1", port: int = 8090, *,
                          api_key: str | None = None,
                          chat_sim: chat.ChatSim | None = None) -> tuple[web.AppRunner, str]:
    """Start on the running loop (``port=0`` = a free port). Returns the runner and the base URL
    (the Open311 base is ``url + "/open311/v2"``); ``await runner.cleanup()`` stops it."""
    app = build_app(sim, api_key=api_key, chat_sim=chat_sim)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    shown = "127.0.0.1" if bound_host in ("0.0.0.0", "::") else bound_host
    if ":" in shown:
        shown = f"[{shown}]"
    return runner, f"http://{shown}:{bound_port}"


def simulator_of(app: web.Application) -> Simulator:
    """The live state of an app built by :func:`build_app`."""
    return app[SIM]
