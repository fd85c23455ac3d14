"""JSON control API under ``/control`` for tests that run the simulator as a separate process.

Keeps working while the Open311 side is ``down``. Bad input answers 400 ``{"error": ...}``
and changes nothing; unknown ids 404; a request without a number yet 409.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from aiohttp import web

from .keys import SIM
from .state import Conflict, NotFound, Simulator
from .timeutil import parse_iso

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _sim(request: web.Request) -> Simulator:
    return request.app[SIM]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                        content_type="application/json", charset="utf-8")


@web.middleware
async def control_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Translate state errors into JSON answers on ``/control`` paths."""
    if not request.path.startswith("/control/"):
        return await handler(request)
    try:
        return await handler(request)
    except NotFound as exc:
        return _json({"error": str(exc)}, 404)
    except Conflict as exc:
        return _json({"error": str(exc)}, 409)
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ValueError("тіло запиту має бути JSON")
    if not isinstance(body, dict):
        raise ValueError("очікується JSON-об'єкт")
    return body


@routes.get("/control/faults")
async def get_faults(request: web.Request) -> web.Response:
    return _json(_sim(request).faults.to_dict())


@routes.post("/control/faults")
async def set_faults(request: web.Request) -> web.Response:
    sim = _sim(request)
    sim.faults.update(await _body(request))
    return _json(sim.faults.to_dict())


@routes.get("/control/requests")
async def list_requests(request: web.Request) -> web.Response:
    """Every accepted request, oldest first: form fields, headers, number, token, status, deadline."""
    return _json([r.view() for r in reversed(_sim(request).newest_first())])


@routes.get("/control/posts")
async def list_posts(request: web.Request) -> web.Response:
    """Every POST to requests.json as it arrived (refused and replayed ones too) and its answer."""
    return _json([p.view() for p in _sim(request).posts])


@routes.get("/control/requests/{id}")
async def get_request(request: web.Request) -> web.Response:
    return _json(_sim(request).find(request.match_info["id"]).view())


@routes.post("/control/requests/{id}/status")
async def set_status(request: web.Request) -> web.Response:
    """``{"status": "in_progress", "notes": "...", "external_status_code": "..."}`` → the new update."""
    body = await _body(request)
    status = body.get("status")
    if not isinstance(status, str):
        raise ValueError("status: очікується рядок")
    for name in ("notes", "external_status_code", "media_url"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ValueError(f"{name}: очікується рядок")
    sim = _sim(request)
    update = sim.set_status(request.match_info["id"], status, body.get("notes"),
                            external_status_code=body.get("external_status_code"), media_url=body.get("media_url"))
    return _json({"update": update.record(), "request": sim.find(update.service_request_id).view()})


@routes.post("/control/requests/{id}/deadline")
async def set_deadline(request: web.Request) -> web.Response:
    """``{"expected_datetime": "2026-12-01T18:00:00+02:00"}`` (null clears it)."""
    body = await _body(request)
    if "expected_datetime" not in body:
        raise ValueError("expected_datetime: обов'язкове поле (дата ISO-8601 або null)")
    value = body["expected_datetime"]
    if value is not None and not isinstance(value, str):
        raise ValueError("expected_datetime: дата ISO-8601 або null")
    try:
        expected = parse_iso(value) if value is not None else None
    except ValueError:
        raise ValueError("expected_datetime: дата ISO-8601, наприклад 2026-12-01T18:00:00+02:00")
    return _json(_sim(request).set_deadline(request.match_info["id"], expected).view())


@routes.post("/control/tokens/{token}/assign")
async def assign(request: web.Request) -> web.Response:
    """Give a token its number; body ``{"service_request_id": "..."}`` optional."""
    body = await _body(request)
    number = body.get("service_request_id")
    if number is not None and (not isinstance(number, str) or not number.strip()):
        raise ValueError("service_request_id: непорожній рядок")
    item = _sim(request).assign(request.match_info["token"], number)
    return _json({"token": item.token, "service_request_id": item.service_request_id})


@routes.get("/control/ratings")
async def ratings(request: web.Request) -> web.Response:
    return _json([r.view() for r in _sim(request).ratings.values()])


@routes.get("/control/updates")
async def updates(request: web.Request) -> web.Response:
    return _json([u.record() for u in _sim(request).updates])


@routes.get("/control/outages")
async def list_outages(request: web.Request) -> web.Response:
    sim = _sim(request)
    return _json([sim.outage(i) for i in sim.outages])


@routes.post("/control/outages")
async def add_outage(request: web.Request) -> web.Response:
    return _json(_sim(request).add_outage(await _body(request)), 201)


@routes.patch("/control/outages/{id}")
async def patch_outage(request: web.Request) -> web.Response:
    return _json(_sim(request).update_outage(request.match_info["id"], await _body(request)))


@routes.post("/control/reset")
async def reset(request: web.Request) -> web.Response:
    _sim(request).reset()
    return _json({"ok": True})
