"""Viber status codes and the error type the validators raise.

Callers must branch on the number, never on ``status_message``; we still make the
message descriptive so a developer reading a refused request knows what to fix.
"""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    """The subset of Viber REST status codes the simulator produces."""

    OK = 0
    INVALID_URL = 1
    INVALID_AUTH_TOKEN = 2
    BAD_DATA = 3
    MISSING_DATA = 4
    RECEIVER_NOT_REGISTERED = 5
    RECEIVER_NOT_SUBSCRIBED = 6
    WEBHOOK_NOT_SET = 10
    TOO_MANY_REQUESTS = 12


NAMES: dict[int, str] = {
    0: "ok",
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "receiverNotSubscribed",
    7: "publicAccountBlocked",
    8: "publicAccountNotFound",
    9: "publicAccountSuspended",
    10: "webhookNotSet",
    11: "receiverNoSuitableDevice",
    12: "tooManyRequests",
    13: "apiVersionNotSupported",
    14: "incompatibleWithVersion",
    15: "publicAccountNotAuthorized",
    16: "inchatReplyMessageNotAllowed",
    17: "publicAccountIsNotInline",
    18: "noPublicChat",
    19: "cannotSendBroadcast",
    20: "broadcastNotAllowed",
    21: "unsupportedCountry",
    22: "paymentUnsupported",
    23: "freeMessagesExceeded",
    24: "noBalance",
}


def status_message(status: int, detail: str | None = None) -> str:
    """``name`` or ``name: detail`` (``generalFailure`` for unknown numbers)."""
    name = NAMES.get(status, "generalFailure")
    return f"{name}: {detail}" if detail else name


class ApiError(Exception):
    """A request Viber would refuse with HTTP 200 and a non-zero ``status``."""

    def __init__(self, status: int, detail: str | None = None) -> None:
        super().__init__(status_message(status, detail))
        self.status = int(status)
        self.detail = detail

    def body(self) -> dict[str, object]:
        """The JSON answer Viber gives for this error."""
        return {"status": self.status, "status_message": status_message(self.status, self.detail)}
