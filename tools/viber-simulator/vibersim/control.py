"""The ``/_sim`` control API: play residents, inspect calls, inject faults.

Resident actions answer ``{"http_status", "response", "event"}`` — what the bot's
webhook answered to the callback we sent — so a test can assert on both sides.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from . import events
from .api import deliver
from .keys import CALLBACKS, STATE
from .state import Fault, SimState
from .statuses import ApiError
from .users import User
from .validation import JsonDict, validate_message

KHMELNYTSKYI = {"lat": 49.4229, "lon": 26.9871}
DEFAULT_STICKER_ID = 40133
USER_FLAGS = ("subscribed", "unsubscribed", "known")

routes = web.RouteTableDef()


async def _json(request: web.Request, default: Any = None) -> Any:
    """Request JSON (``default`` for an empty body); 400 when it is not JSON."""
    raw = await request.read()
    if not raw.strip():
        return {} if default is None else default
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"invalid JSON: {exc}"}), content_type="application/json")


async def _object(request: web.Request) -> JsonDict:
    body = await _json(request)
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "expected a JSON object"}), content_type="application/json")
    return body


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _public_url(request: web.Request, state: SimState) -> str:
    return (state.public_url or str(request.url.origin())).rstrip("/")


def _user(request: web.Request, body: JsonDict | None = None, profile_keys: bool = True) -> User:
    state = request.app[STATE]
    user = state.user(request.match_info["user_id"])
    if body and profile_keys:
        try:
            user.update(body)
        except (TypeError, ValueError) as exc:
            raise _bad_request(f"bad profile field: {exc}")
    return user


async def _user_message(request: web.Request, user: User, content: JsonDict, silent: bool = False) -> web.Response:
    """The resident sends a message: show it in the chat, then POST the callback.

    A message counts as the user's reply (resetting the per-user rate limit) and
    subscribes them, as on Viber.
    """
    state = request.app[STATE]
    user.known = True
    user.subscribed = True
    user.unsubscribed = False
    state.user_messages.reset(user.id)
    entry = state.add_chat(user.id, {"from": "user", "keyboard": None, "text": content.get("text"), **content})
    if silent:
        entry["silent"] = True  # a tapped button with Silent: Viber does not show it in the chat
    event = events.message(state, user, content)
    entry["message_token"] = event["message_token"]
    result = await request.app[CALLBACKS].post(event)
    entry["http_status"] = result["http_status"]
    return web.json_response(result)


@routes.post("/_sim/users/{user_id}/open")
async def open_conversation(request: web.Request) -> web.Response:
    """``conversation_started``; a message in the webhook's answer is the welcome."""
    body = await _object(request)
    user = _user(request, body)
    user.known = True
    state = request.app[STATE]
    event = events.conversation_started(state, user, body.get("context"))
    result = await request.app[CALLBACKS].post(event)
    welcome = result["response"]
    if isinstance(welcome, dict) and any(k in welcome for k in ("type", "text", "keyboard")):
        try:
            validate_message(welcome)
        except ApiError as exc:
            result["welcome_error"] = exc.body()
        else:
            token = state.new_token()
            deliver(request.app, user.id, welcome, token, None, welcome=True)
            result["welcome_message_token"] = token
    return web.json_response(result)


@routes.post("/_sim/users/{user_id}/say")
async def say(request: web.Request) -> web.Response:
    """A text message (a tapped ``reply`` button is the same with text = ActionBody)."""
    body = await _object(request)
    text = body.get("text")
    if not isinstance(text, str) or not text:
        raise _bad_request("'text' (non-empty string) is required")
    return await _user_message(request, _user(request, body), {"type": "text", "text": text},
                               silent=body.get("silent") is True)


@routes.post("/_sim/users/{user_id}/contact")
async def contact(request: web.Request) -> web.Response:
    """A shared contact card (what ``share-phone`` produces); defaults to the user's own."""
    body = await _object(request)
    user = _user(request, {k: v for k, v in body.items() if k != "name"})
    card = {"name": body.get("name") or user.name, "phone_number": body.get("phone_number") or user.phone}
    if body.get("avatar"):
        card["avatar"] = body["avatar"]
    return await _user_message(request, user, {"type": "contact", "contact": card})


@routes.post("/_sim/users/{user_id}/location")
async def location(request: web.Request) -> web.Response:
    """A shared location (what ``location-picker`` produces); defaults to Khmelnytskyi."""
    body = await _object(request)
    try:
        point: JsonDict = {"lat": float(body.get("lat", KHMELNYTSKYI["lat"])),
                           "lon": float(body.get("lon", KHMELNYTSKYI["lon"]))}
    except (TypeError, ValueError):
        raise _bad_request("'lat' and 'lon' must be numbers")
    if body.get("address"):
        point["address"] = str(body["address"])
    return await _user_message(request, _user(request, body), {"type": "location", "location": point})


@routes.post("/_sim/users/{user_id}/sticker")
async def sticker(request: web.Request) -> web.Response:
    """A sticker message (``sticker_id``)."""
    body = await _object(request)
    sticker_id = body.get("sticker_id", DEFAULT_STICKER_ID)
    if not isinstance(sticker_id, int) or isinstance(sticker_id, bool):
        raise _bad_request("'sticker_id' must be an integer")
    return await _user_message(request, _user(request, body), {"type": "sticker", "sticker_id": sticker_id})


@routes.post("/_sim/users/{user_id}/picture")
async def picture(request: web.Request) -> web.Response:
    """A photo; ``media`` defaults to a small PNG served by the simulator."""
    body = await _object(request)
    base = _public_url(request, request.app[STATE])
    size = body.get("size", 1024)
    if not isinstance(size, int) or isinstance(size, bool):
        raise _bad_request("'size' must be an integer")
    content: JsonDict = {
        "type": "picture",
        "media": body.get("media") or f"{base}/static/photo.png",
        "thumbnail": body.get("thumbnail") or f"{base}/static/photo.png",
        "file_name": body.get("file_name") or "photo.png",
        "size": size,
        "text": body.get("text", ""),
    }
    return await _user_message(request, _user(request, body), content)


@routes.post("/_sim/users/{user_id}/subscribe")
async def subscribe(request: web.Request) -> web.Response:
    """The user subscribes (``subscribed`` callback)."""
    user = _user(request, await _object(request))
    user.known, user.subscribed, user.unsubscribed = True, True, False
    state = request.app[STATE]
    return web.json_response(await request.app[CALLBACKS].post(events.subscribed(state, user)))


@routes.post("/_sim/users/{user_id}/unsubscribe")
async def unsubscribe(request: web.Request) -> web.Response:
    """The user unsubscribes; later sends to them answer status 6."""
    user = _user(request, await _object(request))
    user.known, user.subscribed, user.unsubscribed = True, False, True
    state = request.app[STATE]
    return web.json_response(await request.app[CALLBACKS].post(events.unsubscribed(state, user)))


@routes.get("/_sim/users/{user_id}/chat")
async def chat(request: web.Request) -> web.Response:
    """The conversation: bot messages to this user and the user's own messages."""
    return web.json_response(request.app[STATE].chat(request.match_info["user_id"]))


@routes.get("/_sim/users")
async def list_users(request: web.Request) -> web.Response:
    """Every user the simulator has seen."""
    return web.json_response([u.to_dict() for u in request.app[STATE].users.values()])


@routes.get("/_sim/users/{user_id}")
async def get_user(request: web.Request) -> web.Response:
    """One user's profile and flags (created with defaults if new)."""
    return web.json_response(_user(request).to_dict())


@routes.put("/_sim/users/{user_id}")
async def put_user(request: web.Request) -> web.Response:
    """Set profile fields (name, phone, avatar, language, country, api_version) and flags."""
    body = await _object(request)
    user = _user(request, body)
    for flag in USER_FLAGS:
        if flag in body:
            setattr(user, flag, bool(body[flag]))
    return web.json_response(user.to_dict())


@routes.post("/_sim/callback")
async def raw_callback(request: web.Request) -> web.Response:
    """Sign and send an arbitrary event dict exactly as given (no side effects)."""
    body = await _object(request)
    if "event" not in body:
        raise _bad_request("the event needs an 'event' field")
    return web.json_response(await request.app[CALLBACKS].post(body, force=True))


@routes.get("/_sim/requests")
async def get_requests(request: web.Request) -> web.Response:
    """Recorded API calls, optionally ``?method=send_message``."""
    return web.json_response(request.app[STATE].requests(request.query.get("method")))


@routes.delete("/_sim/requests")
async def clear_requests(request: web.Request) -> web.Response:
    """Forget records, faults, rate-limit counters and chats."""
    request.app[STATE].reset()
    return web.json_response({"ok": True})


@routes.post("/_sim/faults")
async def add_faults(request: web.Request) -> web.Response:
    """Queue faults (a list, or one object); each is consumed by one API call."""
    body = await _json(request, default=[])
    items = body if isinstance(body, list) else [body]
    try:
        faults = [Fault.parse(item) for item in items]
    except ValueError as exc:
        raise _bad_request(str(exc))
    state = request.app[STATE]
    state.faults.extend(faults)
    return web.json_response({"queued": len(state.faults)})


@routes.get("/_sim/faults")
async def list_faults(request: web.Request) -> web.Response:
    """Faults not consumed yet."""
    return web.json_response([f.spec for f in request.app[STATE].faults])


@routes.delete("/_sim/faults")
async def clear_faults(request: web.Request) -> web.Response:
    """Drop pending faults."""
    request.app[STATE].faults.clear()
    return web.json_response({"ok": True})


@routes.get("/_sim/state")
async def sim_state(request: web.Request) -> web.Response:
    """Webhook and configuration, for the page and for debugging."""
    state = request.app[STATE]
    cfg = state.config
    return web.json_response({
        "webhook_url": state.webhook_url,
        "event_types": list(state.event_types),
        "public_url": _public_url(request, state),
        "reject_unknown_receivers": cfg.reject_unknown_receivers,
        "send_delivery_receipts": cfg.send_delivery_receipts,
        "account_name": cfg.account_name,
        "pending_faults": len(state.faults),
        "records": len(state.records),
    })


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Readiness probe for scripts that start the simulator as a subprocess."""
    return web.json_response({"ok": True})
