"""The panel's «Розсилки» (staff mailings to segments, S7) and «Привітання» (birthday and
staff-defined days, C9). Every action runs a documented API route through
:meth:`Panel.api`; the live recipient count is ``POST /api/v1/segments/preview``."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from .errors import ApiError
from .mailings import KYIV, MAX_TEXT, describe_segment, today_kyiv
from .panel import PREFIX, ROWS_MIN, Ctx, Panel, _redirect, _uk, kyiv, parse_local
from .staff import Role

MAILING_STATES = {"scheduled": "заплановано", "sending": "надсилається", "sent": "надіслано",
                  "cancelled": "скасовано"}
OK = {
    "sent": "Розсилку запущено: мешканці отримують повідомлення.",
    "scheduled": "Розсилку заплановано.",
    "cancelled": "Розсилку скасовано.",
    "birthday": "Привітання з днем народження збережено.",
    "event": "Подію збережено.",
    "event_cancelled": "Подію скасовано.",
    "unchanged": "Нічого не змінилося.",
}


# --------------------------------------------------------------------------- forms


def segment_values(form: Any) -> dict[str, Any]:
    """The segment picker as entered (kept to re-render it with the errors)."""
    form = form or {}
    getall = form.getall if hasattr(form, "getall") else (lambda k, d=(): d)
    streets = []
    n = 0
    while f"streets[{n}].street" in form or f"streets[{n}].houses" in form:
        street = str(form.get(f"streets[{n}].street", "")).strip()
        houses = str(form.get(f"streets[{n}].houses", "")).strip()
        if street or houses:
            streets.append({"street": street, "houses": houses})
        n += 1
    return {"settlement_id": str(form.get("settlement_id", "")), "streets": streets,
            "notify_scopes": [str(v) for v in getall("notify_scopes", [])],
            "channels": [str(v) for v in getall("channels", [])],
            "registered_after": str(form.get("registered_after", "")),
            "registered_before": str(form.get("registered_before", "")),
            "has_open_request": str(form.get("has_open_request", "")),
            "answered_survey_id": str(form.get("answered_survey_id", "")).strip()}


def _day_start(raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return datetime.combine(date.fromisoformat(raw), time(0), KYIV).isoformat()
    except ValueError:
        return raw  # the API names the field


def segment_body(seg: dict[str, Any]) -> dict[str, Any]:
    """The picker → the API's ``SegmentInput``."""
    body: dict[str, Any] = {
        "settlement_ids": [seg["settlement_id"]] if seg["settlement_id"] else [],
        "streets": seg["streets"], "notify_scopes": seg["notify_scopes"], "channels": seg["channels"],
        "registered_after": _day_start(seg["registered_after"]),
        "registered_before": _day_start(seg["registered_before"]),
        "has_open_request": {"yes": True, "no": False}.get(seg["has_open_request"]),
        "answered_survey_id": seg.get("answered_survey_id") or None,
    }
    return body


def segment_from(segment: Any, panel: Panel) -> dict[str, Any]:
    """A stored Segment → the picker's values (for editing an event)."""
    streets = []
    for s in segment.streets:
        directory = panel.city.street_directory(s.settlement_id)
        found = directory.get(s.street_id) if directory else None
        streets.append({"street": found.label if found else s.street_id, "houses": ", ".join(s.houses)})
    return {"settlement_id": segment.settlement_ids[0] if segment.settlement_ids else "", "streets": streets,
            "notify_scopes": [v.value for v in segment.notify_scopes], "channels": [v.value for v in segment.channels],
            "registered_after": kyiv(segment.registered_after, "%Y-%m-%d"),
            "registered_before": kyiv(segment.registered_before, "%Y-%m-%d"),
            "has_open_request": {True: "yes", False: "no"}.get(segment.has_open_request, ""),
            "answered_survey_id": segment.answered_survey_id or ""}


def segment_picker(panel: Panel, seg: dict[str, Any], rows: int | None = None) -> dict[str, Any]:
    """What the segment form shows (mailings and surveys): the segment with its street
    rows padded to ``rows`` (at least :data:`ROWS_MIN`, one empty row after the filled
    ones), the streets of its settlement (the first one when none or an unknown one is
    chosen) and the settlements."""
    filled = len(seg["streets"])
    count = max(ROWS_MIN, filled + 1, rows or 0)
    seg = {**seg, "streets": list(seg["streets"]) + [{"street": "", "houses": ""}] * (count - filled)}
    city = panel.city
    settlement = seg["settlement_id"] if city.settlement(seg["settlement_id"]) else city.settlements[0].id
    directory = city.street_directory(settlement)
    return {"segment": seg, "streets": list(directory.streets) if directory else [],
            "settlements": list(city.settlements)}


async def published_surveys(panel: Panel, ctx: Ctx, exclude: str | None = None) -> list[Any]:
    """The surveys a segment may name in «відповіли на опитування» (published ones)."""
    found = await panel.api(ctx, "GET", "/surveys", query={"limit": "500"})
    return [s for s in found if s.state != "draft" and s.id != exclude]


def _errors(exc: ApiError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for f in exc.fields:
        errors.setdefault(f.path, _uk(f.message))
    return errors


def register(panel: Panel, app: web.Application) -> None:
    r = app.router
    page = panel.page
    env = aiohttp_jinja2.get_env(app)
    env.globals.update(MAILING_STATES=MAILING_STATES, describe_segment=lambda s: describe_segment(s, panel.city))

    def rows(ctx: Ctx) -> int | None:
        raw = ctx.form.get("rows", "")
        return int(raw) + 1 if raw.isdigit() and ctx.form.get("action") == "add_row" else None

    # ------------------------------------------------------------------ mailings

    @page(Role.viewer)
    async def mailings_list(ctx: Ctx) -> web.StreamResponse:
        found = await panel.api(ctx, "GET", "/mailings", query={"limit": "500"})
        groups: dict[str, list[Any]] = {state: [] for state in MAILING_STATES}
        for m in found:
            groups[m.state].append(m)
        groups["scheduled"].sort(key=lambda m: m.send_at)
        return panel.render(ctx, "mailings.html", {"groups": groups, "ok": OK.get(ctx.request.query.get("ok", ""))})

    async def mailing_form(ctx: Ctx, values: dict[str, Any], errors: dict[str, str], *, audience: Any = None,
                     status: int = 200, add: int | None = None) -> web.Response:
        chosen = segment_picker(panel, values["segment"], add)
        general = [m for p, m in errors.items() if p in ("body", "segment") or p.startswith("query")]
        return panel.render(ctx, "mailing_form.html", {
            "values": {**values, "segment": chosen["segment"]}, "streets": chosen["streets"],
            "surveys": await published_surveys(panel, ctx),
            "settlements": chosen["settlements"], "errors": errors, "general": general, "audience": audience,
            "max_text": MAX_TEXT}, status=status)

    def mailing_values(ctx: Ctx) -> dict[str, Any]:
        values = {k: ctx.form.get(k, "") for k in ("text", "image_url", "link_label", "link_url", "send_at", "when",
                                                   "idem")}
        values["idem"] = values["idem"] or secrets.token_urlsafe(16)
        values["segment"] = segment_values(ctx.multi)
        return values

    def mailing_body(values: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"text": values["text"], "image_url": values["image_url"] or None,
                                "link_label": values["link_label"] or None, "link_url": values["link_url"] or None,
                                "segment": segment_body(values["segment"])}
        if values["when"] == "later":
            body["send_at"] = parse_local(values["send_at"]) if values["send_at"] else None
        return body

    @page(Role.editor)
    async def mailing_new(ctx: Ctx) -> web.StreamResponse:
        values = {"text": "", "image_url": "", "link_label": "", "link_url": "", "send_at": "", "when": "now",
                  "idem": secrets.token_urlsafe(16), "segment": segment_values(None)}
        return await mailing_form(ctx, values, {})

    async def audience_of(ctx: Ctx, segment: dict[str, Any]) -> dict[str, Any]:
        try:
            preview = await panel.api(ctx, "POST", "/segments/preview", body={"segment": segment_body(segment)})
        except ApiError as exc:
            return {"error": "Перевірте сегмент: " + "; ".join(_uk(f.message) for f in exc.fields[:3])
                    if exc.fields else exc.message}
        return preview.model_dump()

    @page(Role.editor)
    async def mailing_create(ctx: Ctx) -> web.StreamResponse:
        values = mailing_values(ctx)
        action = ctx.form.get("action", "preview")
        if action == "add_row":
            return await mailing_form(ctx, values, {}, add=rows(ctx))
        if action != "send":  # "preview" (also Enter in a field): the count, without sending
            return await mailing_form(ctx, values, {}, audience=await audience_of(ctx, values["segment"]))
        if values["when"] == "later" and not values["send_at"]:
            return await mailing_form(ctx, values, {"send_at": "вкажіть дату й час або оберіть «Зараз»"}, status=422)
        try:
            mailing = await panel.api(ctx, "POST", "/mailings", body=mailing_body(values),
                                      headers={"Idempotency-Key": values["idem"]})
        except ApiError as exc:
            if exc.status != 422:
                return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message},
                                    status=exc.status)
            return await mailing_form(ctx, values, _errors(exc), status=422)
        return _redirect(f"{PREFIX}/mailings/{mailing.id}?ok={'scheduled' if mailing.send_at else 'sent'}")

    @page(Role.viewer)
    async def segment_count(ctx: Ctx) -> web.StreamResponse:
        return panel.render(ctx, "_audience.html", {"audience": await audience_of(ctx, segment_values(ctx.multi))})

    async def _mailing(ctx: Ctx) -> Any:
        return await panel.api(ctx, "GET", "/mailings/{id}", params={"id": ctx.request.match_info["id"]})

    def _fail(ctx: Ctx, exc: ApiError) -> web.Response:
        return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message}, status=exc.status)

    @page(Role.viewer)
    async def mailing_view(ctx: Ctx) -> web.StreamResponse:
        try:
            m = await _mailing(ctx)
        except ApiError as exc:
            return _fail(ctx, exc)
        return panel.render(ctx, "mailing.html", {"m": m, "ok": OK.get(ctx.request.query.get("ok", ""))})

    def fragment(template: str) -> Any:
        @page(Role.viewer)
        async def show(ctx: Ctx) -> web.StreamResponse:
            try:
                m = await _mailing(ctx)
            except ApiError as exc:
                return web.Response(status=exc.status, text=exc.message)
            return panel.render(ctx, template, {"m": m})

        return show

    @page(Role.editor)
    async def mailing_cancel_confirm(ctx: Ctx) -> web.StreamResponse:
        try:
            m = await _mailing(ctx)
        except ApiError as exc:
            return _fail(ctx, exc)
        if m.state not in ("scheduled", "sending"):
            return panel.render(ctx, "error.html", {"status": 409, "message": "Цю розсилку вже не можна скасувати."},
                                status=409)
        return panel.render(ctx, "mailing_cancel.html", {"m": m})

    @page(Role.editor)
    async def mailing_cancel(ctx: Ctx) -> web.StreamResponse:
        mailing_id = ctx.request.match_info["id"]
        try:
            await panel.api(ctx, "POST", "/mailings/{id}/cancel", params={"id": mailing_id})
        except ApiError as exc:
            return _fail(ctx, exc)
        return _redirect(f"{PREFIX}/mailings/{mailing_id}?ok=cancelled")

    # ------------------------------------------------------------------ greetings

    async def greetings_page(ctx: Ctx, *, errors: dict[str, str] | None = None, bvalues: dict[str, Any] | None = None,
                             status: int = 200, failure: str | None = None) -> web.Response:
        g = await panel.api(ctx, "GET", "/greetings")
        return panel.render(ctx, "greetings.html", {
            "g": g, "errors": errors or {}, "failure": failure, "today": today_kyiv(), "max_text": MAX_TEXT,
            "bvalues": bvalues or {"enabled": g.birthday_enabled, "text": g.birthday_text, "time": g.birthday_time},
            "ok": OK.get(ctx.request.query.get("ok", ""))}, status=status)

    @page(Role.viewer)
    async def greetings_view(ctx: Ctx) -> web.StreamResponse:
        return await greetings_page(ctx)

    @page(Role.editor)
    async def birthday_save(ctx: Ctx) -> web.StreamResponse:
        values = {"enabled": ctx.form.get("enabled") in ("on", "true", "1"), "text": ctx.form.get("text", ""),
                  "time": ctx.form.get("time", "")}
        body: dict[str, Any] = dict(values)
        if ctx.form.get("revision", "").isdigit():
            body["revision"] = int(ctx.form["revision"])
        try:
            before = ctx.form.get("revision", "")
            g = await panel.api(ctx, "PUT", "/greetings/birthday", body=body)
        except ApiError as exc:
            if exc.status not in (409, 422):
                return _fail(ctx, exc)
            return await greetings_page(ctx, errors=_errors(exc), bvalues=values, status=exc.status,
                                        failure=None if exc.fields else exc.message)
        return _redirect(f"{PREFIX}/greetings?ok={'birthday' if str(g.revision) != before else 'unchanged'}")

    async def event_form(ctx: Ctx, values: dict[str, Any], errors: dict[str, str], *, new: bool, status: int = 200,
                   add: int | None = None) -> web.Response:
        chosen = segment_picker(panel, values["segment"], add)
        general = [m for p, m in errors.items() if p in ("body", "segment", "form", "id")]
        return panel.render(ctx, "greeting_event.html", {
            "values": {**values, "segment": chosen["segment"]}, "streets": chosen["streets"],
            "surveys": await published_surveys(panel, ctx),
            "settlements": chosen["settlements"], "errors": errors, "general": general, "new": new,
            "audience": None, "max_text": MAX_TEXT}, status=status)

    @page(Role.editor)
    async def event_new(ctx: Ctx) -> web.StreamResponse:
        g = await panel.api(ctx, "GET", "/greetings")
        values = {"event_id": "ev-" + secrets.token_hex(5), "date": "", "send_time": "10:00", "text": "",
                  "revision": str(g.revision), "segment": segment_values(None), "new": "1"}
        return await event_form(ctx, values, {}, new=True)

    async def _event(ctx: Ctx) -> tuple[Any, Any]:
        g = await panel.api(ctx, "GET", "/greetings")
        found = next((e for e in g.events if e.event_id == ctx.request.match_info["id"]), None)
        return g, found

    @page(Role.editor)
    async def event_edit(ctx: Ctx) -> web.StreamResponse:
        g, e = await _event(ctx)
        if e is None:
            return panel.render(ctx, "error.html", {"status": 404, "message": "Подію не знайдено"}, status=404)
        values = {"event_id": e.event_id, "date": e.date.isoformat(), "send_time": e.send_time, "text": e.text,
                  "revision": str(g.revision), "segment": segment_from(e.segment, panel)}
        return await event_form(ctx, values, {}, new=False)

    @page(Role.editor)
    async def event_save(ctx: Ctx) -> web.StreamResponse:
        event_id = ctx.request.match_info["id"]
        g, existing = await _event(ctx)
        values = {"event_id": event_id, "date": ctx.form.get("date", ""), "send_time": ctx.form.get("send_time", ""),
                  "text": ctx.form.get("text", ""), "revision": ctx.form.get("revision", ""),
                  "segment": segment_values(ctx.multi)}
        new = existing is None
        if ctx.form.get("action") == "add_row":
            return await event_form(ctx, values, {}, new=new, add=rows(ctx))
        body: dict[str, Any] = {"date": values["date"] or None, "send_time": values["send_time"] or "10:00",
                                "text": values["text"], "segment": segment_body(values["segment"])}
        if values["revision"].isdigit():
            body["revision"] = int(values["revision"])
        try:
            await panel.api(ctx, "PUT", "/greetings/events/{id}", body=body, params={"id": event_id})
        except ApiError as exc:
            if exc.status not in (409, 422):
                return _fail(ctx, exc)
            errors = _errors(exc) or {"form": exc.message}
            return await event_form(ctx, values, errors, new=new, status=exc.status)
        return _redirect(f"{PREFIX}/greetings?ok=event")

    @page(Role.editor)
    async def event_cancel_confirm(ctx: Ctx) -> web.StreamResponse:
        g, e = await _event(ctx)
        if e is None:
            return panel.render(ctx, "error.html", {"status": 404, "message": "Подію не знайдено"}, status=404)
        return panel.render(ctx, "greeting_event_cancel.html", {"e": e, "revision": g.revision})

    @page(Role.editor)
    async def event_cancel(ctx: Ctx) -> web.StreamResponse:
        revision = ctx.form.get("revision", "")
        try:
            await panel.api(ctx, "POST", "/greetings/events/{id}/cancel", params={"id": ctx.request.match_info["id"]},
                            query={"revision": revision} if revision.isdigit() else {})
        except ApiError as exc:
            return await greetings_page(ctx, status=exc.status, failure=exc.message)
        return _redirect(f"{PREFIX}/greetings?ok=event_cancelled")

    r.add_get(f"{PREFIX}/mailings", mailings_list)
    r.add_get(f"{PREFIX}/mailings/new", mailing_new)
    r.add_post(f"{PREFIX}/mailings/new", mailing_create)
    r.add_get(f"{PREFIX}/mailings/{{id}}", mailing_view)
    r.add_get(f"{PREFIX}/mailings/{{id}}/progress", fragment("mailing_progress.html"))
    r.add_get(f"{PREFIX}/mailings/{{id}}/bar", fragment("_mailing_bar.html"))
    r.add_get(f"{PREFIX}/mailings/{{id}}/cancel", mailing_cancel_confirm)
    r.add_post(f"{PREFIX}/mailings/{{id}}/cancel", mailing_cancel)
    r.add_post(f"{PREFIX}/fragments/segment-count", segment_count)
    r.add_get(f"{PREFIX}/greetings", greetings_view)
    r.add_post(f"{PREFIX}/greetings/birthday", birthday_save)
    r.add_get(f"{PREFIX}/greetings/events/new", event_new)
    r.add_get(f"{PREFIX}/greetings/events/{{id}}", event_edit)
    r.add_post(f"{PREFIX}/greetings/events/{{id}}", event_save)
    r.add_get(f"{PREFIX}/greetings/events/{{id}}/cancel", event_cancel_confirm)
    r.add_post(f"{PREFIX}/greetings/events/{{id}}/cancel", event_cancel)
