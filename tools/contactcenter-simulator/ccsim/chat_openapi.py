"""Chatwoot's published OpenAPI document (copied into ``chat_openapi_data/`` with its
provenance and licence) as JSON Schema 2020-12: the simulator's ``/chatwoot`` API checks
request bodies against it, its tests check the answers.

``request_errors(path, method, body)`` → the first mismatch as text (``None`` = fits);
``response_errors(path, method, body)`` likewise for the 200 answer. ``path`` is the
document's path template below ``/api/v1/accounts/{account_id}``, e.g.
``/conversations/{conversation_id}/messages``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "https://ccsim.invalid/chatwoot/application_swagger.json"
ACCOUNT = "/api/v1/accounts/{account_id}"


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    text = resources.files("ccsim").joinpath("chat_openapi_data/application_swagger.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resource(BASE, Resource.from_contents(document(), default_specification=DRAFT202012))


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@lru_cache(maxsize=None)
def _validator(pointer: str) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator({"$ref": f"{BASE}#/{pointer}"}, registry=_registry())


def _errors(pointer: str, body: Any) -> str | None:
    error = jsonschema.exceptions.best_match(_validator(pointer).iter_errors(body))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return f"{where}: {error.message}"


def request_errors(path: str, method: str, body: Any, content_type: str = "application/json") -> str | None:
    operation = document()["paths"][ACCOUNT + path][method]
    if content_type not in operation.get("requestBody", {}).get("content", {}):
        raise KeyError(f"{method.upper()} {path} takes no {content_type} body in the document")
    return _errors(_pointer("paths", ACCOUNT + path, method, "requestBody", "content", content_type, "schema"), body)


def response_errors(path: str, method: str, body: Any, status: str = "200") -> str | None:
    return _errors(_pointer("paths", ACCOUNT + path, method, "responses", status, "content", "application/json",
                            "schema"), body)
