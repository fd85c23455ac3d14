"""The REST API's small framework: one route table that both mounts the handlers on the
aiohttp app and describes them in the OpenAPI document (so the two cannot drift), JSON
errors, bearer authentication and role checks on every route, request bodies parsed by
pydantic with errors naming the field path (``addresses[1].street``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from .errors import ApiError, ErrorBody, ErrorDetail, FieldError, dumps

from .staff import Role, Staff

log = structlog.get_logger("admin.http")

PREFIX = "/api/v1"


def field_path(loc: Sequence[str | int]) -> str:
    """``("addresses", 1, "street")`` → ``addresses[1].street``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def invalid(path: str, message: str) -> ApiError:
    return unprocessable([FieldError(path=path, message=message)])


def unprocessable(fields: list[FieldError]) -> ApiError:
    summary = "; ".join(f"{f.path}: {f.message}" for f in fields[:5])
    return ApiError(422, "validation_failed", f"Перевірте дані — {summary}", fields)


def from_validation_error(exc: ValidationError) -> ApiError:
    fields = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if p not in ("function-after",)]
        message = err["msg"]
        if err["type"].startswith("value_error") and message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        fields.append(FieldError(path=field_path(loc) or "body", message=message))
    return unprocessable(fields)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} не знайдено")


@dataclass
class Call:
    """What a handler gets: the request, the authenticated staff member (``None`` on a
    public route), the parsed body and the path parameters."""

    request: web.Request
    staff: Staff | None
    body: Any
    params: dict[str, str]

    @property
    def actor(self) -> Staff:
        assert self.staff is not None
        return self.staff

    def query(self, name: str) -> str | None:
        value = self.request.query.get(name)
        return value if value not in (None, "") else None


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: dict[str, Any]
    description: str
    location: str = "query"  # or "header"


@dataclass
class Route:
    method: str
    path: str  # under PREFIX, aiohttp/OpenAPI template syntax: /outages/{id}
    handler: Handler
    summary: str
    tag: str
    role: Role | None  # None: public (no token)
    body: type[BaseModel] | None = None
    response: Any = None  # a model, list[model], or None (204)
    status: int = 200
    query: tuple[QueryParam, ...] = ()
    errors: tuple[int, ...] = ()
    media: str | None = None  # a non-JSON answer (text/csv): the handler returns the web.Response

    @property
    def full_path(self) -> str:
        return PREFIX + self.path


Authenticate = Callable[[web.Request], Awaitable[Staff]]


@dataclass
class Api:
    routes: list[Route] = field(default_factory=list)

    def route(self, method: str, path: str, *, summary: str, tag: str, role: Role | None,
              body: type[BaseModel] | None = None, response: Any = None, status: int = 200,
              query: Sequence[QueryParam] = (), errors: Sequence[int] = (),
              media: str | None = None) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler, summary, tag, role, body, response, status,
                                     tuple(query), tuple(errors), media))
            return handler

        return register

    def mount(self, app: web.Application, authenticate: Authenticate) -> None:
        for route in self.routes:
            app.router.add_route(route.method, route.full_path, _endpoint(route, authenticate))


def _endpoint(route: Route, authenticate: Authenticate) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    adapter = TypeAdapter(route.response) if route.response is not None else None

    async def endpoint(request: web.Request) -> web.StreamResponse:
        try:
            staff = None
            if route.role is not None:
                staff = await authenticate(request)
                if not staff.role.at_least(route.role):
                    raise ApiError(403, "forbidden", f"Недостатньо прав: потрібна роль «{route.role.value}» або вища")
            body = await _body(request, route.body) if route.body is not None else None
            result = await route.handler(Call(request, staff, body, dict(request.match_info)))
        except ApiError as exc:
            return exc.response()
        except ValidationError as exc:
            return from_validation_error(exc).response()
        if isinstance(result, web.StreamResponse):
            return result
        if adapter is None:
            return web.Response(status=204)
        payload = adapter.dump_python(result, mode="json")
        return web.json_response(payload, status=route.status, dumps=dumps)

    endpoint.__name__ = route.handler.__name__
    return endpoint


async def _body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.read()
    if not raw:
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid_json", "Тіло запиту — не JSON") from None
    if not isinstance(data, dict):
        raise ApiError(422, "validation_failed", "Тіло запиту має бути об'єктом JSON",
                       [FieldError(path="body", message="очікується об'єкт JSON")])
    return model.model_validate(data)


__all__ = ["ApiError", "ErrorBody", "ErrorDetail", "FieldError", "Api", "Call", "QueryParam", "Route"]
