"""Options for every service's aiohttp server (``ServiceRuntime`` passes them to
``web.AppRunner``): one place to tune how the HTTP server behaves and logs.

- ``auto_decompress=False``: a request body is handed to the handler exactly as it
  arrived. aiohttp would otherwise decompress a body that claims ``Content-Encoding:
  gzip``/``deflate``/``br`` while *parsing* it — before any handler could check a
  signature — so anyone could make the server inflate (or choke on) a body for free.
  No service accepts compressed bodies (Viber sends none); the gateway's webhook
  refuses any ``Content-Encoding`` but ``identity`` with 415.
- ``logger``: aiohttp logs every malformed HTTP request (bad request line, bad header,
  broken chunked framing, …) with ``logger.exception`` — an ERROR with a traceback that
  anyone on the internet can cause at will. :class:`ServerLog` turns those into one
  WARNING line, ``http.bad_request`` (peer, status, error), without a traceback (a
  first request that isn't HTTP at all — a port scanner, TLS to the plain port — stays
  at DEBUG, aiohttp's own choice). An exception raised by one of *our* handlers is a
  bug of ours and stays what aiohttp makes of it: an ERROR with its traceback.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import RequestPayloadError

from .logging import describe_error

#: What aiohttp raises for a request that is not well-formed HTTP: the caller's fault.
MALFORMED_HTTP: tuple[type[BaseException], ...] = (HttpProcessingError, RequestPayloadError)
_SPACES = re.compile(r"\s+")
log = structlog.get_logger("chatbot.http")


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    if exc_info is True:
        return sys.exc_info()[1]
    return None


def _malformed(exc: BaseException | None) -> bool:
    return isinstance(exc, MALFORMED_HTTP) or isinstance(getattr(exc, "__cause__", None), MALFORMED_HTTP)


def one_line(exc: BaseException) -> str:
    """:func:`describe_error` on one line: aiohttp's messages span several (the bad
    line, a caret under it)."""
    return _SPACES.sub(" ", describe_error(exc)).strip()


class ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The ``logger`` aiohttp's ``RequestHandler`` writes to (web_protocol.py: every
    error goes through ``logger.exception``, a first request that isn't HTTP at all
    through ``logger.debug``, both with ``exc_info``). A malformed-HTTP error becomes one
    ``http.bad_request`` line — WARNING, or DEBUG where aiohttp chose debug — with the
    peer, the status and the error, no traceback; anything else goes to aiohttp's own
    logger as before (an exception in a handler: ERROR with its traceback)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        super().__init__(logger or logging.getLogger("aiohttp.server"), {})

    def _quietly(self, level: int, args: tuple[Any, ...], exc_info: Any) -> bool:
        exc = _exception_of(exc_info)
        if exc is None or not _malformed(exc):
            return False
        # aiohttp's one argument is the peer's address ("Error handling request from %s").
        peer = str(args[0]) if args and args[0] is not None else None
        status = getattr(exc, "code", None) or getattr(exc.__cause__, "code", None) or 400
        write = log.warning if level >= logging.WARNING else log.debug
        write("http.bad_request", peer=peer, status=status, error=one_line(exc))
        return True

    def exception(self, msg: Any, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        if not self._quietly(logging.WARNING, args, exc_info):
            self.logger.error(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self._quietly(logging.DEBUG, args, kwargs.get("exc_info")):
            self.logger.debug(msg, *args, **kwargs)


def server_options() -> dict[str, Any]:
    """Keyword arguments for ``web.AppRunner`` beyond the app itself."""
    return {"access_log": None, "handle_signals": False, "auto_decompress": False, "logger": ServerLog()}
