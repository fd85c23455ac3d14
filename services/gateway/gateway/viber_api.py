"""Client of the Viber REST Bot API (``send_message``, ``broadcast_message``,
``set_webhook``) with Viber's status handling.

Viber reports errors as HTTP 200 with a non-zero ``status``; we branch on the number,
never on ``status_message``. Three outcomes besides success:

- :class:`TransientViberError` — *not sent*, can succeed later: the request never left
  (connection refused, DNS, TLS, aiohttp's connect timeout) or Viber said it failed
  (HTTP 500/502/503, status 12);
- :class:`ViberOutcomeUnknown` (a subclass) — *maybe sent*: no answer after the
  request may have been written (read or total timeout, server disconnected, connection
  reset), HTTP 504, an unreadable answer. Viber has no idempotency key, so sending
  again may deliver (and bill) the message twice;
- :class:`ViberRefused` — Viber refused; ``resident_unreachable`` tells a resident
  Viber cannot reach (5, 6, 11: record it and move on) from a refusal of the bot itself
  (bad token, bad data, account blocked, HTTP 4xx …: retrying will not help, fixing the
  configuration will).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from chatbot_common.metrics import VIBER_CALLS, Children

log = structlog.get_logger("gateway.viber_api")

OK = 0
RECEIVER_NOT_REGISTERED = 5
RECEIVER_NOT_SUBSCRIBED = 6
RECEIVER_NO_SUITABLE_DEVICE = 11
TOO_MANY_REQUESTS = 12
#: Refusals that describe the resident, not the bot: nothing to fix, nothing to replay.
RESIDENT_UNREACHABLE = frozenset({RECEIVER_NOT_REGISTERED, RECEIVER_NOT_SUBSCRIBED, RECEIVER_NO_SUITABLE_DEVICE})
STATUS_NAMES = {
    0: "ok", 1: "invalidUrl", 2: "invalidAuthToken", 3: "badData", 4: "missingData",
    5: "receiverNotRegistered", 6: "receiverNotSubscribed", 7: "publicAccountBlocked",
    8: "publicAccountNotFound", 9: "publicAccountSuspended", 10: "webhookNotSet",
    11: "receiverNoSuitableDevice", 12: "tooManyRequests", 13: "apiVersionNotSupported",
    14: "incompatibleWithVersion", 15: "publicAccountNotAuthorized", 16: "inchatReplyMessageNotAllowed",
    17: "publicAccountIsNotInline", 18: "noPublicChat", 19: "cannotSendBroadcast",
    20: "broadcastNotAllowed", 21: "unsupportedCountry", 22: "paymentUnsupported",
    23: "freeMessagesExceeded", 24: "noBalance",
}
MAX_BROADCAST = 300


class TransientViberError(Exception):
    """Worth retrying: Viber did not take the message — the request never left
    (connection refused, DNS, TLS, connect timeout), or Viber answered that it failed
    (HTTP 500/502/503, status 12)."""


class ViberOutcomeUnknown(TransientViberError):
    """The request may have reached Viber and been acted upon, but no answer says so:
    a timeout once the connection was made, the connection dropped after the request
    was (maybe) written, HTTP 504 (a proxy gave up waiting for Viber's backend, which
    may still have sent it), or an answer we could not read. Retrying may send the
    message twice: the reply lane retries, the mailing lane never does
    (docs/messaging.md, "Viber calls")."""


#: Failures that prove the request never reached Viber: nothing was sent, so it can
#: be sent again. ``ClientConnectorError`` covers refused connections, DNS (its
#: subclass ``ClientConnectorDNSError``) and TLS set-up (``ClientConnectorSSLError``,
#: ``…CertificateError``); ``ConnectionTimeoutError`` is aiohttp's ``connect``
#: timeout (waiting for a pooled connection or establishing one), raised before a
#: byte of the request is written; ``InvalidURL`` is raised before connecting.
NOT_SENT: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, aiohttp.InvalidURL,
)
#: HTTP answers that say the call did not happen; 504 is not among them (see above).
RETRYABLE_HTTP = frozenset({500, 502, 503})


@dataclass
class ViberRefused(Exception):
    """Viber answered a non-retryable status. ``status`` is Viber's status, or minus
    the HTTP status for an HTTP 4xx answer."""

    status: int
    status_message: str

    @property
    def reason(self) -> str:
        if self.status < 0:
            return f"http{-self.status}"
        return STATUS_NAMES.get(self.status, "generalError")

    @property
    def resident_unreachable(self) -> bool:
        """5/6/11: this resident can't be reached. Anything else is the bot's problem."""
        return self.status in RESIDENT_UNREACHABLE

    def __str__(self) -> str:
        if self.status < 0:
            return f"viber answered HTTP {-self.status}"
        return f"viber status {self.status} ({self.reason})"


class ViberApi:
    def __init__(self, base_url: str, token: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session
        self._headers = {"X-Viber-Auth-Token": token, "Content-Type": "application/json; charset=utf-8"}
        self._calls = Children(VIBER_CALLS)  # by (method, status)

    async def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Call ``method``; return Viber's answer when its status is 0. Raises
        :class:`TransientViberError` (not sent: retry), :class:`ViberOutcomeUnknown`
        (maybe sent) or :class:`ViberRefused`."""
        # UTF-8, not \u escapes: Viber caps the body at 30 KB and Cyrillic escaped is
        # six bytes a letter, so a long Ukrainian text would be refused.
        body = json.dumps(payload, ensure_ascii=False).encode()
        try:
            async with self.session.post(f"{self.base_url}/{method}", data=body, headers=self._headers) as resp:
                http = resp.status
                if http == 200:
                    raw = await resp.read()
        except NOT_SENT as exc:
            self._calls(method, "network").inc()
            raise TransientViberError(f"{method}: not sent: {exc!r}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Everything else happens once a connection was there and the request may
            # have been written: a read timeout or the total timeout (plain
            # TimeoutError), ServerDisconnectedError, a connection reset while writing
            # or reading (ClientOSError), a broken answer (ClientPayloadError).
            self._calls(method, "unknown").inc()
            raise ViberOutcomeUnknown(f"{method}: outcome unknown: {exc!r}") from exc
        if http != 200:
            self._calls(method, f"http{http}").inc()
            if http in RETRYABLE_HTTP:
                raise TransientViberError(f"{method}: HTTP {http}")
            if http >= 500:
                raise ViberOutcomeUnknown(f"{method}: HTTP {http}")
            raise ViberRefused(-http, f"HTTP {http}")
        try:
            answer = json.loads(raw)
            status = int(answer.get("status", -1))
        except (ValueError, TypeError, AttributeError) as exc:
            # HTTP 200 that isn't Viber's JSON: whoever answered may well have sent it.
            self._calls(method, "unreadable").inc()
            raise ViberOutcomeUnknown(f"{method}: unreadable answer") from exc
        self._calls(method, str(status)).inc()
        if status == OK:
            return answer  # type: ignore[no-any-return]
        if status == TOO_MANY_REQUESTS:
            raise TransientViberError(f"{method}: status 12 tooManyRequests")
        raise ViberRefused(status, str(answer.get("status_message", "")))

    async def send_message(self, receiver: str, message: dict[str, Any]) -> dict[str, Any]:
        return await self.call("send_message", {"receiver": receiver, **message})

    async def broadcast_message(self, receivers: list[str], message: dict[str, Any]) -> dict[str, Any]:
        if not 0 < len(receivers) <= MAX_BROADCAST:
            raise ValueError(f"broadcast_list must hold 1..{MAX_BROADCAST} ids")
        return await self.call("broadcast_message", {"broadcast_list": receivers, **message})

    async def set_webhook(self, url: str) -> dict[str, Any]:
        return await self.call(
            "set_webhook",
            {
                "url": url,
                "event_types": ["delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"],
                "send_name": True,
                "send_photo": False,
            },
        )
