"""A tiny Open311 contact center of our own, for the service's tests (real HTTP on a
local port). It does just what the tests need and records every call; the full
simulator (tools/contactcenter-simulator, ``ccsim``) is used by the integration tests.

Faults: ``down`` (503), ``closed`` (the port is closed: connection refused — see
:meth:`FakeContactCenter.stop` / :meth:`start`), ``refuse`` = (status, code, text),
``answer_with = "token"``, ``updates_offered`` / ``extensions_offered`` = False (404).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@dataclass
class FakeRequest:
    service_request_id: str | None
    form: list[tuple[str, str]]
    status: str = "open"
    notes: str | None = None
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    expected: datetime | None = None
    token: str | None = None

    def record(self) -> dict[str, Any]:
        return {"service_request_id": self.service_request_id, "status": self.status, "status_notes": self.notes,
                "service_code": dict(self.form).get("service_code"), "description": dict(self.form).get("description"),
                "requested_datetime": iso(self.updated), "updated_datetime": iso(self.updated),
                "expected_datetime": iso(self.expected), "address": dict(self.form).get("address_string")}


class FakeContactCenter:
    def __init__(self) -> None:
        self.requests: dict[str, FakeRequest] = {}
        self.by_token: dict[str, FakeRequest] = {}
        self.idempotency: dict[str, list[dict[str, Any]]] = {}
        self.updates: list[dict[str, Any]] = []
        self.posts: list[dict[str, Any]] = []  # every POST requests.json: form, headers, answer status
        self.ratings: list[dict[str, Any]] = []
        self.reopens: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.services: list[dict[str, Any]] = [
            {"service_code": "water-leak", "service_name": "Витік води", "description": "", "metadata": True,
             "type": "realtime", "keywords": "вода, витік", "group": "Водопостачання"},
            {"service_code": 17, "service_name": "Освітлення", "metadata": False, "type": "realtime",
             "keywords": [], "group": "Благоустрій"},
        ]
        self.definitions: dict[str, dict[str, Any]] = {
            "water-leak": {"service_code": "water-leak", "attributes": [
                {"variable": True, "code": "where", "datatype": "multivaluelist", "required": True,
                 "datatype_description": None, "order": 1, "description": "Де тече?",
                 "values": [{"key": 1, "name": "Підвал"}, {"key": 2, "name": "Двір"}]}]},
        }
        self.down = False
        self.refuse: tuple[int, str, str] | None = None
        self.answer_with = "id"
        self.updates_offered = True
        self.extensions_offered = True
        self.api_key = "secret-key"
        self.hide_tokens = False  # /tokens answers "not yet" even when a number was assigned
        self._numbers = itertools.count(1001)
        self._updates = itertools.count(1)
        self._tokens = itertools.count(1)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/open311/v2"

    async def start(self, port: int = 0) -> None:
        app = web.Application(middlewares=[self._faults])
        r = app.router
        r.add_get("/open311/v2/services.json", self._services)
        r.add_get("/open311/v2/services/{code}.json", self._definition)
        r.add_post("/open311/v2/requests.json", self._post)
        r.add_get("/open311/v2/requests.json", self._query)
        r.add_get("/open311/v2/requests/{id}.json", self._one)
        r.add_get("/open311/v2/tokens/{token}.json", self._token)
        r.add_get("/open311/v2/servicerequestupdates.json", self._updates_feed)
        r.add_post("/open311/v2/x-chatbot/v1/requests/{id}/rating.json", self._rate)
        r.add_post("/open311/v2/x-chatbot/v1/requests/{id}/reopen.json", self._reopen)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port or self.port or 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Close the port: calls now get 'connection refused'."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def assign(self, token: str) -> str:
        request = self.by_token[token]
        request.service_request_id = str(next(self._numbers))
        self.requests[request.service_request_id] = request
        return request.service_request_id

    def set_status(self, srid: str, status: str, notes: str | None = None, at: datetime | None = None) -> dict[str, Any]:
        request = self.requests[srid]
        request.status, request.notes = ("closed" if status in ("fixed", "closed") else "open"), notes
        request.updated = at or datetime.now(UTC)
        update = {"update_id": str(next(self._updates)), "service_request_id": srid, "status": status,
                  "updated_datetime": iso(request.updated), "description": notes, "media_url": None}
        self.updates.append(update)
        return update

    def set_deadline(self, srid: str, expected: datetime | None) -> None:
        request = self.requests[srid]
        request.expected = expected
        request.updated = datetime.now(UTC)

    # ------------------------------------------------------------------ HTTP

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.calls.append(f"{request.method} {request.path}")
        if self.down:
            return web.json_response([{"code": 503, "description": "down"}], status=503)
        return await handler(request)

    @staticmethod
    def _error(status: int, code: Any, text: str) -> web.Response:
        return web.json_response([{"code": code, "description": text}], status=status)

    async def _services(self, _r: web.Request) -> web.Response:
        return web.json_response(self.services)

    async def _definition(self, r: web.Request) -> web.Response:
        d = self.definitions.get(r.match_info["code"])
        return web.json_response(d) if d else self._error(404, 404, "no such service")

    async def _post(self, r: web.Request) -> web.Response:
        form = [(k, v) for k, v in (await r.post()).items()]
        post = {"form": form, "headers": dict(r.headers)}
        self.posts.append(post)
        key = r.headers.get("Idempotency-Key")
        if key and key in self.idempotency:
            post["status"] = 200
            return web.json_response(self.idempotency[key])
        if dict(form).get("api_key") != self.api_key:
            post["status"] = 403
            return self._error(403, 403, "Невірний api_key")
        if self.refuse:
            status, code, text = self.refuse
            post["status"] = status
            return self._error(status, code, text)
        request = FakeRequest(None, form)
        if self.answer_with == "token":
            request.token = f"tk{next(self._tokens)}"
            self.by_token[request.token] = request
            answer = [{"token": request.token, "service_notice": "Прийнято"}]
        else:
            request.service_request_id = str(next(self._numbers))
            self.requests[request.service_request_id] = request
            answer = [{"service_request_id": int(request.service_request_id), "service_notice": "Прийнято"}]
        if key:
            self.idempotency[key] = answer
        post["status"] = 200
        return web.json_response(answer)

    async def _query(self, r: web.Request) -> web.Response:
        ids = [i for i in r.query.get("service_request_id", "").split(",") if i]
        return web.json_response([self.requests[i].record() for i in ids if i in self.requests])

    async def _one(self, r: web.Request) -> web.Response:
        request = self.requests.get(r.match_info["id"])
        return web.json_response([request.record()]) if request else self._error(404, 404, "not found")

    async def _token(self, r: web.Request) -> web.Response:
        request = self.by_token.get(r.match_info["token"])
        if request is None:
            return self._error(404, 404, "no such token")
        item: dict[str, Any] = {"token": request.token}
        if request.service_request_id and not self.hide_tokens:
            item["service_request_id"] = request.service_request_id
        return web.json_response([item])

    async def _updates_feed(self, r: web.Request) -> web.Response:
        if not self.updates_offered:
            return web.Response(status=404, text="Not Found")
        start = r.query.get("start_date")
        since = datetime.fromisoformat(start.replace("Z", "+00:00")) if start else None
        return web.json_response([u for u in self.updates
                                  if since is None or datetime.fromisoformat(u["updated_datetime"].replace("Z", "+00:00")) >= since])

    async def _rate(self, r: web.Request) -> web.Response:
        if not self.extensions_offered:
            return web.Response(status=404, text="Not Found")
        form = dict(await r.post())
        srid = r.match_info["id"]
        if srid not in self.requests:
            return self._error(404, 404, "unknown request")
        self.ratings.append({"service_request_id": srid, **form})
        return web.json_response([{"service_request_id": srid, "rating": int(form["rating"])}])

    async def _reopen(self, r: web.Request) -> web.Response:
        if not self.extensions_offered:
            return web.Response(status=404, text="Not Found")
        form = dict(await r.post())
        srid = r.match_info["id"]
        self.reopens.append({"service_request_id": srid, **form})
        self.set_status(srid, "reopen")
        self.requests[srid].status = "open"
        return web.json_response([{"service_request_id": srid, "status": "open"}])
