"""The panel's pages: outages (list, create with preview, edit, resolve/cancel, live
progress), staff accounts and the audit log. Each action runs a documented API route
through :meth:`Panel.api`."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from chatbot_common.events import OutageKind, Utility, utcnow

from .errors import ApiError
from .info import MAX_TEXT
from .info import depth as info_depth
from .info import descendants as info_descendants
from .panel import OK_MESSAGES, PREFIX, ROWS_MIN, Ctx, Panel, _redirect, kyiv, parse_local
from .staff import Role

PAGE = 50


def register(panel: Panel, app: web.Application) -> None:
    r = app.router
    page = panel.page

    # ------------------------------------------------------------------ common

    @page(Role.viewer)
    async def logout(ctx: Ctx) -> web.StreamResponse:
        return await panel.logout(ctx)

    @page(Role.viewer)
    async def home(ctx: Ctx) -> web.StreamResponse:
        return _redirect(f"{PREFIX}/outages")

    # ------------------------------------------------------------------ outages

    @page(Role.viewer)
    async def outages_list(ctx: Ctx) -> web.StreamResponse:
        active = await panel.api(ctx, "GET", "/outages", query={"active": "true", "limit": "500"})
        past = await panel.api(ctx, "GET", "/outages", query={"active": "false", "limit": str(PAGE)})
        now = utcnow()
        return panel.render(ctx, "outages.html", {
            "current": [o for o in active if o.starts_at <= now], "planned": [o for o in active if o.starts_at > now],
            "past": past, "settlements": _settlements(panel), "ok": OK_MESSAGES.get(ctx.request.query.get("ok", ""))})

    def form_context(ctx: Ctx, values: dict[str, Any], errors: dict[str, str], *, mode: str,
                     outage: Any = None, rows: int | None = None) -> dict[str, Any]:
        settlement = values.get("settlement_id") or panel.city.settlements[0].id
        filled = len(values.get("addresses", []))
        count = max(ROWS_MIN, filled + 1, rows or 0)
        addresses = list(values.get("addresses", [])) + [{"street": "", "houses": ""}] * (count - filled)
        directory = panel.city.street_directory(settlement) if panel.city.settlement(settlement) else None
        return {"values": {**values, "settlement_id": settlement}, "addresses": addresses, "errors": errors,
                "mode": mode, "outage": outage, "kinds": [k.value for k in OutageKind],
                "utilities": [u.value for u in Utility], "settlements": _settlements(panel),
                "streets": list(directory.streets) if directory else [],
                "general": [m for p, m in errors.items() if p in ("body", "addresses") or p.startswith("query")],
                "idem": values.get("idem") or secrets.token_urlsafe(16)}

    @page(Role.editor)
    async def outage_new(ctx: Ctx) -> web.StreamResponse:
        return panel.render(ctx, "outage_form.html", form_context(ctx, {**_form_values(None), "kind": "planned"}, {},
                                                                    mode="create"))

    @page(Role.editor)
    async def outage_create(ctx: Ctx) -> web.StreamResponse:
        values = _form_values(ctx.multi)
        action = ctx.form.get("action", "preview")
        if action == "add_row":
            return panel.render(ctx, "outage_form.html", form_context(
                ctx, values, {}, mode="create", rows=int(ctx.form.get("rows", ROWS_MIN)) + 1))
        body = _outage_body(values, create=True)
        if action == "publish":
            try:
                outage = await panel.api(ctx, "POST", "/outages", body=body,
                                         headers={"Idempotency-Key": values["idem"]})
            except ApiError as exc:
                return _invalid(ctx, exc, values, "create")
            return _redirect(f"{PREFIX}/outages/{outage.id}?ok=published")
        try:  # "preview" (also what a form submitted with Enter does)
            draft = panel.draft(body)
        except ApiError as exc:
            return _invalid(ctx, exc, values, "create")
        audience = await panel.audience(draft)
        return panel.render(ctx, "outage_preview.html", {
            "values": values, "draft": draft, "audience": audience, "idem": values["idem"],
            "price": panel.settings.admin_message_price_uah,
            "settlement": panel.city.settlement(draft["settlement_id"]),
            "starts": datetime.fromisoformat(draft["starts_at"]), "ends": datetime.fromisoformat(draft["ends_at"])})

    def _invalid(ctx: Ctx, exc: ApiError, values: dict[str, Any], mode: str, outage: Any = None) -> web.Response:
        if exc.status != 422:
            return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message}, status=exc.status)
        errors: dict[str, str] = {}
        for f in exc.fields:
            errors.setdefault(f.path, _uk_message(f.message))
        return panel.render(ctx, "outage_form.html", form_context(ctx, values, errors, mode=mode, outage=outage),
                            status=422)

    async def _outage(ctx: Ctx) -> Any:
        return await panel.api(ctx, "GET", "/outages/{id}", params={"id": ctx.request.match_info["id"]})

    @page(Role.viewer)
    async def outage_view(ctx: Ctx) -> web.StreamResponse:
        try:
            outage = await _outage(ctx)
        except ApiError as exc:
            return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message}, status=exc.status)
        delivery = await panel.api(ctx, "GET", "/outages/{id}/delivery", params={"id": outage.id})
        mailings = await panel.api(ctx, "GET", "/outages/{id}/mailings", params={"id": outage.id})
        return panel.render(ctx, "outage.html", {
            "o": outage, "d": delivery, "mailings": mailings, "settlement": panel.city.settlement(outage.settlement_id),
            "ok": OK_MESSAGES.get(ctx.request.query.get("ok", ""))})

    @page(Role.viewer)
    async def outage_progress(ctx: Ctx) -> web.StreamResponse:
        outage_id = ctx.request.match_info["id"]
        try:
            delivery = await panel.api(ctx, "GET", "/outages/{id}/delivery", params={"id": outage_id})
        except ApiError as exc:
            return web.Response(status=exc.status, text=exc.message)
        return panel.render(ctx, "progress.html", {"d": delivery, "outage_id": outage_id})

    @page(Role.editor)
    async def outage_edit(ctx: Ctx) -> web.StreamResponse:
        try:
            outage = await _outage(ctx)
        except ApiError as exc:
            return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message}, status=exc.status)
        if outage.read_only:
            return panel.render(ctx, "error.html", {"status": 409, "message": "Це відключення не можна змінити."},
                                status=409)
        values = {"kind": outage.kind.value, "utility": outage.utility.value, "settlement_id": outage.settlement_id,
                  "city_wide": outage.city_wide, "starts_at": kyiv(outage.starts_at, "%Y-%m-%dT%H:%M"),
                  "ends_at": kyiv(outage.ends_at, "%Y-%m-%dT%H:%M"), "description": outage.description,
                  "contact_phone": outage.contact_phone or "", "revision": str(outage.revision),
                  "addresses": [{"street": a.street_name, "houses": a.spec} for a in outage.addresses]}
        return panel.render(ctx, "outage_form.html", form_context(ctx, values, {}, mode="edit", outage=outage))

    @page(Role.editor)
    async def outage_update(ctx: Ctx) -> web.StreamResponse:
        try:
            outage = await _outage(ctx)
        except ApiError as exc:
            return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message}, status=exc.status)
        values = _form_values(ctx.multi)
        values.update(utility=outage.utility.value, settlement_id=outage.settlement_id)
        if ctx.form.get("action") == "add_row":
            return panel.render(ctx, "outage_form.html", form_context(
                ctx, values, {}, mode="edit", outage=outage, rows=int(ctx.form.get("rows", ROWS_MIN)) + 1))
        body = _outage_body(values, create=False)
        try:
            changed = await panel.api(ctx, "PATCH", "/outages/{id}", body=body, params={"id": outage.id})
        except ApiError as exc:
            return _invalid(ctx, exc, values, "edit", outage)
        ok = "updated" if changed.revision != outage.revision else "unchanged"
        return _redirect(f"{PREFIX}/outages/{outage.id}?ok={ok}")

    def final(what: str) -> Any:
        @page(Role.editor)
        async def confirm(ctx: Ctx) -> web.StreamResponse:
            try:
                outage = await _outage(ctx)
            except ApiError as exc:
                return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message},
                                    status=exc.status)
            return panel.render(ctx, "confirm.html", {"o": outage, "what": what})

        @page(Role.editor)
        async def do(ctx: Ctx) -> web.StreamResponse:
            outage_id = ctx.request.match_info["id"]
            try:
                await panel.api(ctx, "POST", f"/outages/{{id}}/{what}", params={"id": outage_id})
            except ApiError as exc:
                return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message},
                                    status=exc.status)
            return _redirect(f"{PREFIX}/outages/{outage_id}?ok={what}d" if what == "resolve"
                             else f"{PREFIX}/outages/{outage_id}?ok=cancelled")

        return confirm, do

    # ------------------------------------------------------------------ pickers (htmx fragments)

    @page(Role.viewer)
    async def streets(ctx: Ctx) -> web.StreamResponse:
        q = ctx.request.query
        settlement = q.get("settlement_id", "")
        typed = next((v for k, v in q.items() if k.endswith(".street")), q.get("q", ""))
        found: list[Any] = []
        if settlement:
            try:
                found = await panel.api(ctx, "GET", "/directory/streets",
                                        query={"settlement": settlement, **({"q": typed} if typed else {})})
            except ApiError:
                found = []
        return panel.render(ctx, "streets.html", {"streets": found[:50], "list_id": q.get("list", "streets")})

    @page(Role.viewer)
    async def house_preview(ctx: Ctx) -> web.StreamResponse:
        q = ctx.request.query
        row = q.get("row", "0")
        spec = q.get(f"addresses[{row}].houses", q.get("spec", ""))
        street = q.get(f"addresses[{row}].street", "").strip() or None
        if not street and not spec.strip():  # an unused row: nothing to say
            return panel.render(ctx, "house_preview.html", {"summary": None, "error": None, "row": row,
                                                            "whole": False})
        try:
            preview = await panel.api(ctx, "POST", "/house-spec/preview", body={"spec": spec, "street": street})
            return panel.render(ctx, "house_preview.html", {"summary": preview.summary, "error": None, "row": row,
                                                            "whole": preview.whole_street})
        except ApiError as exc:
            return panel.render(ctx, "house_preview.html", {"summary": None, "error": exc.message, "row": row,
                                                            "whole": False})

    # ------------------------------------------------------------------ staff and audit

    @page(Role.admin)
    async def staff_list(ctx: Ctx) -> web.StreamResponse:
        return await _staff_page(ctx, ok=OK_MESSAGES.get(ctx.request.query.get("ok", "")))

    @page(Role.admin)
    async def staff_create(ctx: Ctx) -> web.StreamResponse:
        values = {k: ctx.form.get(k, "") for k in ("email", "name", "role")}
        try:
            await panel.api(ctx, "POST", "/staff", body={**values, "password": ctx.form.get("password", "")})
        except ApiError as exc:
            errors = {f.path: _uk_message(f.message) for f in exc.fields}
            return await _staff_page(ctx, errors=errors, values=values, status=exc.status,
                                     failure=None if errors else exc.message)
        return _redirect(f"{PREFIX}/staff?ok=created")

    async def _staff_page(ctx: Ctx, **kw: Any) -> web.StreamResponse:
        accounts = await panel.api(ctx, "GET", "/staff")
        return panel.render(ctx, "staff.html", {
            "accounts": accounts, "errors": kw.get("errors") or {}, "values": kw.get("values") or {"role": "viewer"},
            "roles": [r.value for r in Role], "ok": kw.get("ok"), "failure": kw.get("failure"),
            "row_errors": kw.get("row_errors") or {}}, status=kw.get("status", 200))

    @page(Role.admin)
    async def staff_change(ctx: Ctx) -> web.StreamResponse:
        staff_id = ctx.request.match_info["id"]
        action = ctx.form.get("action", "")
        try:
            if action == "role":
                await panel.api(ctx, "PATCH", "/staff/{id}", body={"role": ctx.form.get("role", "")},
                                params={"id": staff_id})
            elif action in ("deactivated", "reactivated"):
                await panel.api(ctx, "PATCH", "/staff/{id}", body={"active": action == "reactivated"},
                                params={"id": staff_id})
            elif action == "password":
                await panel.api(ctx, "POST", "/staff/{id}/password", body={"password": ctx.form.get("password", "")},
                                params={"id": staff_id})
            else:
                return panel.render(ctx, "error.html", {"status": 400, "message": "Невідома дія"}, status=400)
        except ApiError as exc:
            message = "; ".join(_uk_message(f.message) for f in exc.fields) or exc.message
            return await _staff_page(ctx, status=exc.status, row_errors={staff_id: message})
        return _redirect(f"{PREFIX}/staff?ok={action}")

    @page(Role.admin)
    async def audit_page(ctx: Ctx) -> web.StreamResponse:
        q = ctx.request.query
        filters = {k: q[k] for k in ("entity", "entity_id", "actor_id", "before") if q.get(k)}
        try:
            records = await panel.api(ctx, "GET", "/audit", query={**filters, "limit": str(PAGE + 1)})
        except ApiError as exc:
            records, filters["error"] = [], exc.message
        more = len(records) > PAGE
        records = records[:PAGE]
        accounts = await panel.api(ctx, "GET", "/staff")
        next_query = None
        if more:
            next_query = {k: v for k, v in filters.items() if k != "error"} | {"before": records[-1].at.isoformat()}
        return panel.render(ctx, "audit.html", {"records": records, "filters": filters, "accounts": accounts,
                                                "next_query": next_query})

    # ------------------------------------------------------------------ useful information (C11, C7)

    async def _info_page(ctx: Ctx, *, status: int = 200, failure: str | None = None,
                         link_errors: dict[str, dict[str, str]] | None = None,
                         link_values: dict[str, dict[str, str]] | None = None) -> web.Response:
        content = await panel.api(ctx, "GET", "/info")
        sections = [s.model_dump() for s in content.sections]
        return panel.render(ctx, "info.html", {
            "content": content, "sections": [(s, info_depth(sections, s)) for s in sections],
            "ok": OK_MESSAGES.get(ctx.request.query.get("ok", "")), "failure": failure,
            "link_errors": link_errors or {}, "link_values": link_values or {}}, status=status)

    @page(Role.viewer)
    async def info_view(ctx: Ctx) -> web.StreamResponse:
        return await _info_page(ctx)

    async def _section_form(ctx: Ctx, section: dict[str, Any] | None, values: dict[str, Any],
                            errors: dict[str, str], status: int = 200) -> web.Response:
        content = await panel.api(ctx, "GET", "/info")
        sections = [s.model_dump() for s in content.sections]
        excluded = {section["id"], *info_descendants(sections, section["id"])} if section else set()
        parents = [(s, info_depth(sections, s)) for s in sections if s["id"] not in excluded]
        return panel.render(ctx, "info_section.html", {
            "section": section, "values": values, "errors": errors, "parents": parents,
            "revision": values.get("revision", content.revision), "max_text": MAX_TEXT}, status=status)

    @page(Role.editor)
    async def info_section_new(ctx: Ctx) -> web.StreamResponse:
        return await _section_form(ctx, None, {"id": "", "title": "", "text": "",
                                               "parent_id": ctx.request.query.get("parent", "")}, {})

    @page(Role.editor)
    async def info_section_edit(ctx: Ctx) -> web.StreamResponse:
        content = await panel.api(ctx, "GET", "/info")
        found = next((s.model_dump() for s in content.sections if s.id == ctx.request.match_info["id"]), None)
        if found is None:
            return panel.render(ctx, "error.html", {"status": 404, "message": "Розділ не знайдено"}, status=404)
        return await _section_form(ctx, found, {**found, "parent_id": found["parent_id"] or ""}, {})

    @page(Role.editor)
    async def info_section_save(ctx: Ctx) -> web.StreamResponse:
        section_id = ctx.request.match_info.get("id") or ctx.form.get("id", "").strip()
        values = {"id": section_id, "title": ctx.form.get("title", ""), "text": ctx.form.get("text", ""),
                  "parent_id": ctx.form.get("parent_id", ""), "revision": ctx.form.get("revision", "")}
        body: dict[str, Any] = {"title": values["title"], "text": values["text"],
                                "parent_id": values["parent_id"] or None}
        if values["revision"].isdigit():
            body["revision"] = int(values["revision"])
        try:
            await panel.api(ctx, "PUT", "/info/sections/{id}", body=body, params={"id": section_id})
        except ApiError as exc:
            if exc.status not in (409, 422):
                return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message},
                                    status=exc.status)
            errors = {f.path: _uk_message(f.message) for f in exc.fields} or {"form": exc.message}
            existing = None if "id" not in ctx.request.match_info else {"id": section_id}
            return await _section_form(ctx, existing, values, errors, status=exc.status)
        return _redirect(f"{PREFIX}/info?ok=info_saved")

    @page(Role.editor)
    async def info_section_delete_confirm(ctx: Ctx) -> web.StreamResponse:
        content = await panel.api(ctx, "GET", "/info")
        found = next((s for s in content.sections if s.id == ctx.request.match_info["id"]), None)
        if found is None:
            return panel.render(ctx, "error.html", {"status": 404, "message": "Розділ не знайдено"}, status=404)
        return panel.render(ctx, "info_delete.html", {"section": found, "revision": content.revision})

    @page(Role.editor)
    async def info_section_delete(ctx: Ctx) -> web.StreamResponse:
        try:
            await panel.api(ctx, "DELETE", "/info/sections/{id}", params={"id": ctx.request.match_info["id"]},
                            query=_revision_query(ctx))
        except ApiError as exc:
            return await _info_page(ctx, status=exc.status, failure=exc.message)
        return _redirect(f"{PREFIX}/info?ok=info_deleted")

    @page(Role.editor)
    async def info_section_move(ctx: Ctx) -> web.StreamResponse:
        body: dict[str, Any] = {"direction": ctx.form.get("direction", "")}
        if ctx.form.get("revision", "").isdigit():
            body["revision"] = int(ctx.form["revision"])
        try:
            await panel.api(ctx, "POST", "/info/sections/{id}/move", body=body,
                            params={"id": ctx.request.match_info["id"]})
        except ApiError as exc:
            return await _info_page(ctx, status=exc.status, failure=exc.message)
        return _redirect(f"{PREFIX}/info?ok=info_saved")

    @page(Role.editor)
    async def info_link_save(ctx: Ctx) -> web.StreamResponse:
        link_id = ctx.request.match_info.get("id") or ctx.form.get("id", "").strip()
        key = ctx.request.match_info.get("id") or "new"
        try:
            if ctx.form.get("action") == "delete":
                await panel.api(ctx, "DELETE", "/info/links/{id}", params={"id": link_id}, query=_revision_query(ctx))
                return _redirect(f"{PREFIX}/info?ok=info_deleted")
            body: dict[str, Any] = {"label": ctx.form.get("label", ""), "url": ctx.form.get("url", "")}
            if ctx.form.get("revision", "").isdigit():
                body["revision"] = int(ctx.form["revision"])
            await panel.api(ctx, "PUT", "/info/links/{id}", body=body, params={"id": link_id})
        except ApiError as exc:
            errors = {f.path: _uk_message(f.message) for f in exc.fields}
            values = {k: ctx.form.get(k, "") for k in ("id", "label", "url")}
            return await _info_page(ctx, status=exc.status, failure=None if errors else exc.message,
                                    link_errors={key: errors}, link_values={key: values})
        return _redirect(f"{PREFIX}/info?ok=info_saved")

    r.add_get(f"{PREFIX}/info", info_view)
    r.add_get(f"{PREFIX}/info/sections/new", info_section_new)
    r.add_post(f"{PREFIX}/info/sections/new", info_section_save)
    r.add_get(f"{PREFIX}/info/sections/{{id}}", info_section_edit)
    r.add_post(f"{PREFIX}/info/sections/{{id}}", info_section_save)
    r.add_get(f"{PREFIX}/info/sections/{{id}}/delete", info_section_delete_confirm)
    r.add_post(f"{PREFIX}/info/sections/{{id}}/delete", info_section_delete)
    r.add_post(f"{PREFIX}/info/sections/{{id}}/move", info_section_move)
    r.add_post(f"{PREFIX}/info/links", info_link_save)
    r.add_post(f"{PREFIX}/info/links/{{id}}", info_link_save)

    r.add_post(f"{PREFIX}/logout", logout)
    r.add_get(f"{PREFIX}/", home)
    r.add_get(f"{PREFIX}/outages", outages_list)
    r.add_get(f"{PREFIX}/outages/new", outage_new)
    r.add_post(f"{PREFIX}/outages/new", outage_create)
    r.add_get(f"{PREFIX}/outages/{{id}}", outage_view)
    r.add_get(f"{PREFIX}/outages/{{id}}/progress", outage_progress)
    r.add_get(f"{PREFIX}/outages/{{id}}/edit", outage_edit)
    r.add_post(f"{PREFIX}/outages/{{id}}/edit", outage_update)
    for what in ("resolve", "cancel"):
        confirm, do = final(what)
        r.add_get(f"{PREFIX}/outages/{{id}}/{what}", confirm)
        r.add_post(f"{PREFIX}/outages/{{id}}/{what}", do)
    r.add_get(f"{PREFIX}/fragments/streets", streets)
    r.add_get(f"{PREFIX}/fragments/house-preview", house_preview)
    r.add_get(f"{PREFIX}/staff", staff_list)
    r.add_post(f"{PREFIX}/staff", staff_create)
    r.add_post(f"{PREFIX}/staff/{{id}}", staff_change)
    r.add_get(f"{PREFIX}/audit", audit_page)


def _revision_query(ctx: Ctx) -> dict[str, str]:
    revision = ctx.form.get("revision", "")
    return {"revision": revision} if revision.isdigit() else {}


def _settlements(panel: Panel) -> list[Any]:
    return list(panel.city.settlements)


def _uk_message(message: str) -> str:
    from .panel import _uk

    return _uk(message)


def _form_values(multi: MultiDictProxy[Any] | None) -> dict[str, Any]:
    """The outage form as entered (kept to re-render it with the errors)."""
    form = multi or {}
    values: dict[str, Any] = {k: str(form.get(k, "")) for k in (
        "kind", "utility", "settlement_id", "starts_at", "ends_at", "description", "contact_phone", "idem",
        "revision")}
    values["city_wide"] = form.get("city_wide") in ("on", "true", "1")
    addresses = []
    n = 0
    while f"addresses[{n}].street" in form or f"addresses[{n}].houses" in form:
        street = str(form.get(f"addresses[{n}].street", "")).strip()
        houses = str(form.get(f"addresses[{n}].houses", "")).strip()
        if street or houses:
            addresses.append({"street": street, "houses": houses})
        n += 1
    values["addresses"] = addresses
    values["idem"] = values["idem"] or secrets.token_urlsafe(16)
    return values


def _outage_body(values: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """The form → the JSON body of POST /api/v1/outages (create) or its PATCH."""
    body: dict[str, Any] = {
        "kind": values["kind"] or None, "city_wide": values["city_wide"],
        "addresses": [] if values["city_wide"] else values["addresses"],
        "description": values["description"], "contact_phone": values["contact_phone"] or None,
    }
    for key in ("starts_at", "ends_at"):
        if values[key]:
            body[key] = parse_local(values[key])
        elif not create:
            body[key] = None
    if create:
        body.update(utility=values["utility"] or None, settlement_id=values["settlement_id"])
    else:
        body = {k: v for k, v in body.items() if v is not None or k == "contact_phone"}
        if values.get("revision", "").isdigit():
            body["revision"] = int(values["revision"])
    return body
