"""Open311 GeoReport v2 JSON under ``/open311/v2`` plus this project's ``x-chatbot/v1`` extensions.

The fault middleware (:func:`faults_middleware`) runs first on every path under the
prefix: ``down`` answers 503, ``slow_seconds`` delays. Refusals are Open311 error bodies
``[{"code", "description"}]`` with the matching HTTP status.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable

from aiohttp import web

from .keys import SIM, STOPPING
from .state import Open311Error, Simulator
from .timeutil import iso

PREFIX = "/open311/v2"
EXT = PREFIX + "/x-chatbot/v1"
SPEC = "http://wiki.open311.org/GeoReport_v2"

routes = web.RouteTableDef()


def _sim(request: web.Request) -> Simulator:
    return request.app[SIM]


def answer(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                        content_type="application/json", charset="utf-8")


def error(status: int, description: str) -> web.Response:
    return answer([{"code": status, "description": description}], status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def faults_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply ``down``/``slow`` to Open311 paths; turn :class:`Open311Error` and 404/405 into error bodies."""
    if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")):
        return await handler(request)
    sim = _sim(request)
    if sim.faults.down:
        return error(503, "Контакт-центр тимчасово недоступний (режим «down» симулятора)")
    if sim.faults.slow_seconds > 0:
        await _slow(request, sim)
        if sim.faults.down:
            return error(503, "Контакт-центр тимчасово недоступний (режим «down» симулятора)")
    try:
        return await handler(request)
    except Open311Error as exc:
        return answer(exc.body(), exc.status)
    except web.HTTPNotFound:
        return error(404, f"Немає такого ресурсу: {request.path} (підтримується лише формат .json)")
    except web.HTTPMethodNotAllowed:
        return error(405, f"Метод {request.method} не підтримується для {request.path}")


async def _slow(request: web.Request, sim: Simulator) -> None:
    """Wait ``slow_seconds`` since arrival, re-reading the setting: lowering it (or stopping
    the server) releases calls already waiting."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not request.app[STOPPING].is_set():
        left = started + sim.faults.slow_seconds - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.05))


def _query(request: web.Request) -> dict[str, str]:
    query = {k: request.query.getone(k) for k in request.query}
    _sim(request).check_jurisdiction(query.get("jurisdiction_id"))
    return query


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    fields = {k: request.query.getone(k) for k in request.query if k == "api_key"}
    return fields | {k: str(form.getone(k)) for k in form}


@routes.get(PREFIX + "/discovery.json")
async def discovery(request: web.Request) -> web.Response:
    base = f"{request.scheme}://{request.host}{PREFIX}"
    sim = _sim(request)
    changeset = iso(sim.started_at)
    std = [("services", "GET", "services.json"), ("service_definition", "GET", "services/{service_code}.json"),
           ("create_request", "POST", "requests.json"), ("token", "GET", "tokens/{token}.json"),
           ("requests", "GET", "requests.json"), ("request", "GET", "requests/{service_request_id}.json"),
           ("updates", "GET", "servicerequestupdates.json")]
    ext = [("rating", "POST", "x-chatbot/v1/requests/{service_request_id}/rating.json",
            "Оцінка виконаного звернення: rating 1–5, comment"),
           ("reopen", "POST", "x-chatbot/v1/requests/{service_request_id}/reopen.json",
            "Повторне відкриття звернення: reason"),
           ("outages", "GET", "x-chatbot/v1/outages.json", "Стрічка планових і аварійних відключень: updated_after"),
           ("idempotency_key", "POST", "requests.json",
            "Заголовок Idempotency-Key: повтор з тим самим ключем повертає першу відповідь")]
    return answer({
        "changeset": changeset,
        "contact": "Симулятор контакт-центру (тестове середовище)",
        "key_service": "api_key видає адміністратор контакт-центру",
        "endpoints": [{"specification": SPEC, "url": base, "changeset": changeset, "type": "test",
                       "formats": ["application/json"]}],
        "x-chatbot": {
            "version": "1",
            "standard": [{"name": n, "method": m, "path": p} for n, m, p in std],
            "extensions": [{"name": n, "method": m, "path": p, "description": d} for n, m, p, d in ext],
        },
    })


@routes.get(PREFIX + "/services.json")
async def services(request: web.Request) -> web.Response:
    _query(request)
    return answer(_sim(request).service_list())


@routes.get(PREFIX + "/services/{code}.json")
async def service_definition(request: web.Request) -> web.Response:
    _query(request)
    return answer(_sim(request).service_definition(request.match_info["code"]))


@routes.post(PREFIX + "/requests.json")
async def create_request(request: web.Request) -> web.Response:
    form = await request.post()
    pairs = [(k, v if isinstance(v, str) else getattr(v, "filename", "") or "") for k, v in form.items()]
    pairs += [(k, v) for k, v in request.query.items() if k in ("api_key", "jurisdiction_id") and k not in form]
    return answer(_sim(request).submit(pairs, dict(request.headers)))


@routes.get(PREFIX + "/tokens/{token}.json")
async def token(request: web.Request) -> web.Response:
    _query(request)
    return answer(_sim(request).token(request.match_info["token"]))


@routes.get(PREFIX + "/requests.json")
async def requests(request: web.Request) -> web.Response:
    return answer(_sim(request).query(_query(request)))


@routes.get(PREFIX + "/requests/{id}.json")
@routes.get(PREFIX + "/request/{id}.json")
async def one_request(request: web.Request) -> web.Response:
    _query(request)
    return answer(_sim(request).request_record(request.match_info["id"]))


@routes.get(PREFIX + "/servicerequestupdates.json")
async def updates(request: web.Request) -> web.Response:
    return answer(_sim(request).update_feed(_query(request)))


@routes.post(EXT + "/requests/{id}/rating.json")
async def rating(request: web.Request) -> web.Response:
    form = await _form(request)
    return answer(_sim(request).rate(request.match_info["id"], form))


@routes.post(EXT + "/requests/{id}/reopen.json")
async def reopen(request: web.Request) -> web.Response:
    form = await _form(request)
    return answer(_sim(request).reopen(request.match_info["id"], form))


@routes.get(EXT + "/outages.json")
async def outages(request: web.Request) -> web.Response:
    return answer(_sim(request).outage_feed(_query(request)))
