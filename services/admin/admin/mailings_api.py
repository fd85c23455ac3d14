"""The routes of ``/api/v1/mailings``, ``/api/v1/segments/preview`` and
``/api/v1/greetings`` (issue 9: S7, C9): viewer reads, editor and admin send and
configure. Registered by :func:`admin.api.build_api` into the route table that also
builds the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .errors import ApiError, FieldError, dumps
from .http import Api, Call, QueryParam
from .mailings import (
    STATES,
    BirthdayIn,
    GreetingEventIn,
    Greetings,
    GreetingsIn,
    GreetingsRepository,
    Mailing,
    MailingCreate,
    MailingRepository,
    SegmentPreview,
    SegmentPreviewRequest,
    notifier_preview,
)
from .staff import Role


def register(api: Api, mailings: MailingRepository, greetings: GreetingsRepository, *,
             notifier_url: str | None, price_uah: float) -> None:
    from .api import LIMIT, _choice, _int

    route = api.route

    # ------------------------------------------------------------------ segments

    @route("POST", "/segments/preview", summary="How many residents a segment reaches now, and the cost",
           tag="mailings", role=Role.viewer, body=SegmentPreviewRequest, response=SegmentPreview)
    async def preview_segment(call: Call) -> SegmentPreview:
        errors: list[FieldError] = []
        segment = mailings.segments.check(call.body.segment, "segment", errors)
        if segment is None:
            raise ApiError(422, "validation_failed", "Перевірте сегмент", errors)
        counted = await notifier_preview(notifier_url, segment)
        if counted is None:
            return SegmentPreview(segment=segment, price_uah=price_uah)
        residents, messages = counted
        return SegmentPreview(segment=segment, residents=residents, messages=messages,
                              cost_uah=round(messages * price_uah, 2), price_uah=price_uah)

    # ------------------------------------------------------------------ mailings

    @route("GET", "/mailings", summary="Staff mailings, newest first", tag="mailings", role=Role.viewer,
           response=list[Mailing], query=(
               QueryParam("state", {"type": "string", "enum": list(STATES)},
                          "scheduled, sending, sent or cancelled"),
               LIMIT, QueryParam("offset", {"type": "integer", "minimum": 0, "default": 0}, "skip this many")))
    async def list_mailings(call: Call) -> list[Mailing]:
        return await mailings.list(state=_choice(call, "state", STATES), limit=_int(call, "limit", 100, 1, 500),
                                   offset=_int(call, "offset", 0, 0, 10**6))

    @route("POST", "/mailings", summary="Send a message to a segment now or at send_at: mailing.requested",
           tag="mailings", role=Role.editor, body=MailingCreate, response=Mailing, status=201, query=(
               QueryParam("Idempotency-Key", {"type": "string", "maxLength": 200},
                          "retrying with the same key returns the mailing the first call created (200) "
                          "instead of sending it twice", location="header"),))
    async def create_mailing(call: Call) -> Any:
        key = call.request.headers.get("Idempotency-Key", "").strip()[:200] or None
        mailing, created = await mailings.create(call.actor, call.body, idempotency_key=key)
        if created:
            return mailing
        return web.json_response(mailing.model_dump(mode="json"), status=200, dumps=dumps)

    @route("GET", "/mailings/{id}", summary="One mailing with the figures of its sending", tag="mailings",
           role=Role.viewer, response=Mailing, errors=(404,))
    async def get_mailing(call: Call) -> Mailing:
        found = await mailings.get(call.params["id"])
        if found is None:
            raise ApiError(404, "not_found", "Розсилку не знайдено")
        return found

    @route("POST", "/mailings/{id}/cancel", summary="Cancel a mailing not yet sent: mailing.cancelled (409 once sent)",
           tag="mailings", role=Role.editor, response=Mailing, errors=(404, 409))
    async def cancel_mailing(call: Call) -> Mailing:
        return await mailings.cancel(call.actor, call.params["id"])

    # ------------------------------------------------------------------ greetings

    @route("GET", "/greetings", summary="The greetings configuration (birthday and staff-defined days)",
           tag="greetings", role=Role.viewer, response=Greetings)
    async def get_greetings(call: Call) -> Greetings:
        return await greetings.get()

    @route("PUT", "/greetings", summary="Replace the whole greetings configuration: greeting.configured",
           tag="greetings", role=Role.editor, body=GreetingsIn, response=Greetings, errors=(409,))
    async def put_greetings(call: Call) -> Greetings:
        return await greetings.replace(call.actor, call.body)

    @route("PUT", "/greetings/birthday", summary="The birthday greeting (text, daily time, on/off): "
                                                 "greeting.configured", tag="greetings", role=Role.editor,
           body=BirthdayIn, response=Greetings, errors=(409,))
    async def put_birthday(call: Call) -> Greetings:
        return await greetings.put_birthday(call.actor, call.body)

    @route("PUT", "/greetings/events/{id}", summary="Add or change a staff-defined day: greeting.configured",
           tag="greetings", role=Role.editor, body=GreetingEventIn, response=Greetings, errors=(409,))
    async def put_greeting_event(call: Call) -> Greetings:
        return await greetings.put_event(call.actor, call.params["id"], call.body)

    @route("POST", "/greetings/events/{id}/cancel", summary="Cancel a staff-defined day: greeting.configured",
           tag="greetings", role=Role.editor, response=Greetings, errors=(404, 409), query=(
               QueryParam("revision", {"type": "integer", "minimum": 0}, "the configuration's current revision"),))
    async def cancel_greeting_event(call: Call) -> Greetings:
        revision = _int(call, "revision", -1, -1, 10**9)
        return await greetings.cancel_event(call.actor, call.params["id"], None if revision < 0 else revision)
