"""The OpenAPI 3.1 document, generated from the route table and the pydantic models the
handlers parse and return: a route or a field cannot exist without being described."""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .errors import ErrorBody
from .http import Api, Route

REF = "#/components/schemas/{model}"
REASONS = {
    200: "OK", 201: "Created", 204: "No content", 400: "The body is not JSON", 401: "No, invalid or expired token",
    403: "The staff member's role is too low", 404: "Not found",
    409: "Conflict: resolved/cancelled, read-only, stale revision or a duplicate",
    422: "Invalid data: `error.fields[].path` names each field (e.g. `addresses[1].street`)",
    429: "Too many failed logins for this address; see Retry-After",
}


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(model, is_list) of a response annotation: ``M`` or ``list[M]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item, True
    return None, False


def document(api: Api, *, title: str = "Міський чат-бот — admin API", version: str = "1") -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], str]] = [(ErrorBody, "serialization")]
    for route in api.routes:
        if route.body is not None:
            wanted.append((route.body, "validation"))
        model, _ = _model_of(route.response)
        if model is not None:
            wanted.append((model, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, defs = models_json_schema(unique, ref_template=REF)  # type: ignore[arg-type]
    paths: dict[str, dict[str, Any]] = {}
    for route in api.routes:
        paths.setdefault(route.full_path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Staff API of the city chat-bot: accounts and roles, the audit log, outages and their "
                           "mailing figures, useful information, the knowledge base of answers and residents' "
                           "questions. Every call but POST /api/v1/auth/token takes `Authorization: Bearer "
                           "<token>`. Errors are `{\"error\": {\"code\", \"message\", \"fields\"}}`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "An access token from POST /api/v1/auth/token"}},
        },
    }


def _operation(route: Route, refs: dict[Any, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "tags": [route.tag],
        "description": (f"Role: **{route.role.value}** or higher." if route.role else "Public: no token."),
        "security": [{"bearerAuth": []}] if route.role else [],
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    parameters += [{"name": q.name, "in": q.location, "required": False, "schema": q.schema,
                    "description": q.description} for q in route.query]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": refs[(route.body, "validation")]}}}
    responses: dict[str, Any] = {}
    model, is_list = _model_of(route.response)
    if route.media is not None:
        responses[str(route.status)] = {"description": REASONS.get(route.status, "OK"),
                                        "content": {route.media: {"schema": {"type": "string"}}}}
    elif route.response is None:
        responses[str(route.status)] = {"description": REASONS.get(route.status, "OK")}
    else:
        if model is not None:
            schema = refs[(model, "serialization")]
            schema = {"type": "array", "items": schema} if is_list else schema
        else:
            schema = {"type": "object"}
        responses[str(route.status)] = {"description": REASONS.get(route.status, "OK"),
                                        "content": {"application/json": {"schema": schema}}}
    errors = set(route.errors)
    if route.role:
        errors |= {401, 403}
    if route.body is not None:
        errors |= {400, 422}
    error_schema = refs[(ErrorBody, "serialization")]
    for status in sorted(errors):
        responses[str(status)] = {"description": REASONS.get(status, "Error"),
                                  "content": {"application/json": {"schema": error_schema}}}
    operation["responses"] = responses
    return operation
