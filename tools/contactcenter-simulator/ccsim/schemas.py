"""Validate documents against the Open311 schemas (copied into ``open311_schema/``) and ours.

``validate(kind, document)`` raises :class:`jsonschema.ValidationError` when the document
does not fit. Kinds: see :data:`KINDS`. ``date-time`` and ``uri`` formats are checked
(RFC 3339 with an offset; absolute http(s)/ftp URIs).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

BASE = "https://ccsim.invalid/"
KINDS: dict[str, str] = {
    "services": "open311_schema/services.json",
    "service": "open311_schema/service.json",
    "service_definition": "open311_schema/service-definition.json",
    "request": "open311_schema/request.json",
    "requests": "open311_schema/requests.json",
    "request_response": "ext_schema/request-response.json",
    "tokens": "ext_schema/tokens.json",
    "error": "ext_schema/errors.json",
    "updates": "ext_schema/updates.json",
    "outages": "ext_schema/outages.json",
    "rating": "ext_schema/rating.json",
    "reopen": "ext_schema/reopen.json",
    "discovery": "ext_schema/discovery.json",
}

FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value.upper():
        raise ValueError("not an RFC 3339 date-time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("date-time without an offset")
    return True


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https", "ftp") and bool(parts.netloc)


def _load(path: str) -> Any:
    return json.loads(resources.files("ccsim").joinpath(path).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _registry() -> Registry:
    pairs = []
    for folder in ("open311_schema", "ext_schema"):
        for entry in resources.files("ccsim").joinpath(folder).iterdir():
            if entry.name.endswith(".json"):
                contents = json.loads(entry.read_text(encoding="utf-8"))
                pairs.append((f"{BASE}{folder}/{entry.name}",
                               Resource.from_contents(contents, default_specification=DRAFT7)))
    return Registry().with_resources(pairs)


@lru_cache(maxsize=None)
def validator(kind: str) -> jsonschema.protocols.Validator:
    if kind not in KINDS:
        raise KeyError(f"unknown schema kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    return jsonschema.Draft7Validator({"$ref": BASE + KINDS[kind]}, registry=_registry(), format_checker=FORMATS)


def validate(kind: str, document: Any) -> None:
    """Raise :class:`jsonschema.ValidationError` (the most relevant error) if ``document`` is not a ``kind``."""
    error = jsonschema.exceptions.best_match(validator(kind).iter_errors(document))
    if error is not None:
        raise error


def swagger() -> dict[str, Any]:
    """The copied ``swagger.json`` (its ``examples`` are the spec's own sample documents)."""
    return dict(_load("open311_schema/swagger.json"))
