"""Errors the API answers with: ``{"error": {"code", "message", "fields"}}``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial

from aiohttp import web
from pydantic import BaseModel, ConfigDict

#: JSON answers keep Ukrainian readable (UTF-8, not \\u escapes)
dumps = partial(json.dumps, ensure_ascii=False)


class FieldError(BaseModel):
    path: str  # addresses[1].street
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[FieldError] = []


class ErrorBody(BaseModel):
    """Every error answer."""

    model_config = ConfigDict(title="Error")
    error: ErrorDetail


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: Sequence[FieldError] = (), *,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields)
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = ErrorBody(error=ErrorDetail(code=self.code, message=self.message, fields=self.fields))
        return web.json_response(body.model_dump(mode="json"), status=self.status, headers=self.headers, dumps=dumps)
