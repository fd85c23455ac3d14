"""The fake Viber REST API under ``/pa/<method>``.

Like Viber, every refusal is HTTP 200 with a non-zero ``status``; only injected faults
produce HTTP errors or dropped connections. Every call is recorded, refused or not, so
tests can assert on exactly what a service sent.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable

from aiohttp import web

from . import events
from .keys import CALLBACKS, RECEIPTS, STATE
from .state import ALL_EVENT_TYPES, Fault, SimState
from .statuses import ApiError, Status
from .tokens import chat_hostname
from .validation import (
    JsonDict,
    parse_body,
    require_string,
    validate_broadcast,
    validate_online,
    validate_send,
)

AUTH_HEADER = "X-Viber-Auth-Token"
Handler = Callable[[web.Application, JsonDict, Fault | None], Awaitable[JsonDict]]
BOT_MESSAGE_EXTRAS = (
    "media", "thumbnail", "size", "file_name", "sticker_id", "location", "contact",
    "rich_media", "tracking_data", "min_api_version", "sender",
)


def _ok(**extra: Any) -> JsonDict:
    return {"status": 0, "status_message": "ok", **extra}


def _refusal(state: SimState, receiver: str) -> str | None:
    """Why Viber would not deliver to ``receiver`` (status 6), or None."""
    user = state.users.get(receiver)
    if user is not None and user.unsubscribed:
        return "receiver unsubscribed"
    if state.config.reject_unknown_receivers and (user is None or not user.known):
        return "receiver never contacted the bot"
    return None


def deliver(
    app: web.Application, receiver: str, body: JsonDict, token: int, fault: Fault | None, **extra: Any
) -> None:
    """Side effects of an accepted message: the chat bubble, tracking data, the receipt.

    Also used for the welcome message a webhook returns to ``conversation_started``.
    """
    state = app[STATE]
    entry: JsonDict = {
        "from": "bot",
        "type": body.get("type", "keyboard"),
        "text": body.get("text"),
        "keyboard": body.get("keyboard"),
        "message_token": token,
        **extra,
    }
    entry.update({k: body[k] for k in BOT_MESSAGE_EXTRAS if k in body})
    state.add_chat(receiver, entry)
    state.user(receiver).tracking_data = body.get("tracking_data")
    if not state.config.send_delivery_receipts or RECEIPTS not in app:
        return
    if fault is not None and fault.failed is not None:
        app[RECEIPTS].put(events.failed(state, receiver, token, fault.failed))
    else:
        app[RECEIPTS].put(events.delivered(state, receiver, token))


async def send_message(app: web.Application, body: JsonDict, fault: Fault | None) -> JsonDict:
    """One message to one user; ≤ 100 per user per hour without a reply."""
    state = app[STATE]
    receiver = validate_send(body)
    reason = _refusal(state, receiver)
    if reason:
        raise ApiError(Status.RECEIVER_NOT_SUBSCRIBED, reason)
    now = state.now()
    if not state.user_messages.allowed(receiver, now):
        raise ApiError(Status.TOO_MANY_REQUESTS, "more than 100 messages to this user within an hour without a reply")
    state.user_messages.add(receiver, now)
    token = state.new_token()
    deliver(app, receiver, body, token, fault)
    return _ok(message_token=token, chat_hostname=chat_hostname())


async def broadcast_message(app: web.Application, body: JsonDict, fault: Fault | None) -> JsonDict:
    """One message to ≤ 300 users; ≤ 500 calls per 10 s; unreachable ids go to failed_list."""
    state = app[STATE]
    receivers = validate_broadcast(body)
    now = state.now()
    if not state.broadcast_calls.allowed("broadcast", now):
        raise ApiError(Status.TOO_MANY_REQUESTS, "more than 500 broadcast calls within 10 seconds")
    state.broadcast_calls.add("broadcast", now)
    token = state.new_token()
    failed_list: list[JsonDict] = []
    for receiver in receivers:
        reason = _refusal(state, receiver)
        if reason:
            failed_list.append({
                "receiver": receiver,
                "status": int(Status.RECEIVER_NOT_SUBSCRIBED),
                "status_message": reason,
            })
        else:
            deliver(app, receiver, body, token, fault)
    return _ok(message_token=token, chat_hostname=chat_hostname(), failed_list=failed_list)


async def set_webhook(app: web.Application, body: JsonDict, fault: Fault | None) -> JsonDict:
    """Check the URL by POSTing a signed ``webhook`` event; it must answer 200."""
    state = app[STATE]
    url = body.get("url")
    if url is None:
        raise ApiError(Status.MISSING_DATA, "'url' is required")
    if not isinstance(url, str):
        raise ApiError(Status.BAD_DATA, "'url' must be a string")
    types = body.get("event_types")
    if types is not None and (
        not isinstance(types, list) or not all(t in ALL_EVENT_TYPES for t in types)
    ):
        raise ApiError(Status.BAD_DATA, f"'event_types' must be a list drawn from {list(ALL_EVENT_TYPES)}")
    if url == "":
        state.webhook_url = None
        return _ok()
    if not url.startswith(("http://", "https://")):
        raise ApiError(Status.INVALID_URL, "webhook URL must be http(s)")
    result = await app[CALLBACKS].post(events.webhook(state), url=url)
    if result["http_status"] != 200:
        why = result.get("error") or f"webhook answered HTTP {result['http_status']}"
        raise ApiError(Status.INVALID_URL, why)
    state.webhook_url = url
    state.event_types = tuple(types) if types is not None else ALL_EVENT_TYPES
    return _ok(event_types=list(state.event_types), chat_hostname=chat_hostname())


async def get_account_info(app: web.Application, body: JsonDict, fault: Fault | None) -> JsonDict:
    """A plausible city-hotline public account."""
    state = app[STATE]
    base = state.public_url or ""
    return _ok(
        id="pa:5550000000000000001",
        chat_hostname=chat_hostname(),
        name=state.config.account_name,
        uri=state.config.account_uri,
        icon=f"{base}/static/avatar.png",
        background=f"{base}/static/avatar.png",
        category="Government",
        subcategory="City services",
        location={"lat": 49.4229, "lon": 26.9871},
        country="UA",
        webhook=state.webhook_url or "",
        event_types=list(state.event_types),
        subscribers_count=sum(1 for u in state.users.values() if u.subscribed),
        members=[{"id": "01234567890A=", "name": "Адміністратор", "avatar": "", "role": "admin"}],
    )


async def get_user_details(app: web.Application, body: JsonDict, fault: Fault | None) -> JsonDict:
    """Profile of one user; Viber allows 2 calls per user per 12 hours."""
    state = app[STATE]
    user_id = require_string(body, "id")
    known = state.users.get(user_id)
    if state.config.reject_unknown_receivers and (known is None or not known.known):
        raise ApiError(Status.RECEIVER_NOT_REGISTERED, "no such user")
    now = state.now()
    if not state.user_details_calls.allowed(user_id, now):
        raise ApiError(Status.TOO_MANY_REQUESTS, "get_user_details is limited to 2 calls per user per 12 hours")
    state.user_details_calls.add(user_id, now)
    user = state.user(user_id)
    details = user.profile() | {
        "primary_device_os": "Android 14",
        "viber_version": "24.8.0.0",
        "mcc": 255,
        "mnc": 3,
        "device_type": "SM-A546B",
    }
    return _ok(chat_hostname=chat_hostname(), user=details)


async def get_online(app: web.Application, body: JsonDict, fault: Fault | None) -> JsonDict:
    """Online status for ≤ 100 ids: users who talked to the bot are online."""
    state = app[STATE]
    users = []
    for user_id in validate_online(body):
        user = state.users.get(user_id)
        online = user is not None and user.known
        users.append({
            "id": user_id,
            "online_status": 0 if online else 1,
            "online_status_message": "online" if online else "offline",
        })
    return _ok(users=users)


HANDLERS: dict[str, Handler] = {
    "send_message": send_message,
    "broadcast_message": broadcast_message,
    "set_webhook": set_webhook,
    "get_account_info": get_account_info,
    "get_user_details": get_user_details,
    "get_online": get_online,
}


def _body_for_record(raw: bytes) -> Any:
    """The parsed body when it is JSON, else the (truncated) text, for the record."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw[:4096].decode("utf-8", "replace")


async def _apply_fault(request: web.Request, fault: Fault, method: str, raw: bytes) -> web.StreamResponse | None:
    """Act out an injected fault; None means 'carry on normally'."""
    state = request.app[STATE]
    token = request.headers.get(AUTH_HEADER)
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    common: JsonDict = {"method": method, "body": _body_for_record(raw), "token": token, "fault": fault.spec}
    if fault.disconnect:
        state.record(status=None, http=None, response=None, **common)
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError()
    if fault.http is not None:
        error: JsonDict = {"error": f"injected HTTP {fault.http}"}
        state.record(status=None, http=fault.http, response=error, **common)
        return web.json_response(error, status=fault.http)
    if fault.status is not None:
        answer = ApiError(fault.status, fault.status_message).body()
        if fault.status_message is not None:
            answer["status_message"] = fault.status_message
        state.record(status=fault.status, http=200, response=answer, **common)
        return web.json_response(answer)
    return None


async def handle(request: web.Request) -> web.StreamResponse:
    """Entry point for ``POST /pa/{method}``."""
    state = request.app[STATE]
    method = request.match_info["method"]
    raw = await request.read()
    token = request.headers.get(AUTH_HEADER)
    fault = state.take_fault(method)
    if fault is not None:
        faulted = await _apply_fault(request, fault, method, raw)
        if faulted is not None:
            return faulted
    handler = HANDLERS.get(method)
    if handler is None:
        answer: JsonDict = {"error": f"unknown method {method!r}"}
        state.record(method=method, body=_body_for_record(raw), token=token, status=None, http=404, response=answer)
        return web.json_response(answer, status=404)
    body: Any = _body_for_record(raw)
    try:
        if token != state.config.auth_token:
            raise ApiError(Status.INVALID_AUTH_TOKEN, None if token else "missing X-Viber-Auth-Token header")
        body = parse_body(raw)
        answer = await handler(request.app, body, fault)
    except ApiError as exc:
        answer = exc.body()
    state.record(method=method, body=body, token=token, status=answer["status"], http=200, response=answer)
    return web.json_response(answer)
