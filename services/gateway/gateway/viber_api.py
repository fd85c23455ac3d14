"""Client of the Viber REST Bot API (``send_message``, ``broadcast_message``,
``set_webhook``) with Viber's status handling.

Viber reports errors as HTTP 200 with a non-zero ``status``; we branch on the number,
never on ``status_message``. What can succeed later (status 12, network errors, HTTP
5xx) raises :class:`TransientViberError`; everything else :class:`ViberRefused`, whose
``resident_unreachable`` tells a resident Viber cannot reach (5, 6, 11: record it and
move on) from a refusal of the bot itself (bad token, bad data, account blocked, HTTP
4xx …: retrying will not help, but fixing the configuration will).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from chatbot_common.metrics import VIBER_CALLS

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
    """Worth retrying: network error, HTTP 5xx, status 12."""


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

    async def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/{method}"
        try:
            # UTF-8, not \u escapes: Viber caps the body at 30 KB and Cyrillic escaped
            # is six bytes a letter, so a long Ukrainian text would be refused.
            body = json.dumps(payload, ensure_ascii=False).encode()
            headers = {"X-Viber-Auth-Token": self.token, "Content-Type": "application/json; charset=utf-8"}
            async with self.session.post(url, data=body, headers=headers) as resp:
                if resp.status >= 500:
                    VIBER_CALLS.labels(method=method, status=f"http{resp.status}").inc()
                    raise TransientViberError(f"{method}: HTTP {resp.status}")
                if resp.status != 200:
                    VIBER_CALLS.labels(method=method, status=f"http{resp.status}").inc()
                    raise ViberRefused(-resp.status, f"HTTP {resp.status}")
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            VIBER_CALLS.labels(method=method, status="network").inc()
            raise TransientViberError(f"{method}: {exc!r}") from exc
        status = int(answer.get("status", -1))
        VIBER_CALLS.labels(method=method, status=str(status)).inc()
        if status == OK:
            return answer
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
