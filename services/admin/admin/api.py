"""The routes of ``/api/v1`` (issue 8), each with the role it needs. The panel (issue 9)
is built on these same calls: the directory look-ups and the house-spec preview exist
for its street picker and preview."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chatbot_common.directory import CityData
from chatbot_common.directory.text import fold
from chatbot_common.directory.house_spec import HouseSpecError, describe, parse_house_spec
from chatbot_common.events import OutageState, Utility

from .audit import ENTITIES, AuditLog, AuditRecord
from .errors import ApiError, FieldError, dumps
from .http import Api, Call, QueryParam
from .faq import FaqRepository
from .info import InfoContent, InfoLinkIn, InfoMove, InfoRepository, InfoSectionIn
from .outages import Delivery, Outage, OutageCreate, OutagePatch, OutageRepository, Validator, to_outage
from .staff import PasswordReset, Role, Staff, StaffCreate, StaffPatch, StaffRepository, TokenRequest, TokenResponse


class Settlement(BaseModel):
    id: str
    name: str
    label: str


class StreetOut(BaseModel):
    model_config = ConfigDict(title="Street")
    id: str
    name: str
    label: str


class HouseSpecPreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: str = Field(default="", max_length=2000)
    street: str | None = Field(default=None, max_length=100, description="a label to put in front of the summary")


class HouseSpecPreview(BaseModel):
    houses: list[str]
    count: int
    whole_street: bool
    summary: str


def _int(call: Call, name: str, default: int, low: int, high: int) -> int:
    raw = call.query(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "validation_failed", f"{name}: очікується ціле число",
                       [FieldError(path=f"query.{name}", message="очікується ціле число")]) from None
    if not low <= value <= high:
        raise ApiError(422, "validation_failed", f"{name}: від {low} до {high}",
                       [FieldError(path=f"query.{name}", message=f"від {low} до {high}")])
    return value


def _bool(call: Call, name: str) -> bool | None:
    raw = call.query(name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise ApiError(422, "validation_failed", f"{name}: true або false",
                   [FieldError(path=f"query.{name}", message="true або false")])


#: filters of the outage list
UTILITIES = [u.value for u in Utility]
SOURCES = ("admin", "contactcenter")


def _choice(call: Call, name: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """A query parameter that must be one of ``choices`` when given (422 otherwise)."""
    raw = call.query(name)
    if raw is not None and raw not in choices:
        raise ApiError(422, "validation_failed", f"{name}: одне з {', '.join(choices)}",
                       [FieldError(path=f"query.{name}", message=f"одне з {', '.join(choices)}")])
    return raw


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


#: at most this many streets answer a partial name
STREET_SUGGESTIONS = 20
LIMIT = QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, "page size")


def build_api(*, staff: StaffRepository, outages: OutageRepository, audit_log: AuditLog, city: CityData,
              openapi: Any, info: InfoRepository | None = None, faq: FaqRepository | None = None,
              mailings: Any = None, greetings: Any = None, notifier_url: str | None = None,
              price_uah: float = 0.80, surveys: Any = None) -> Api:
    api = Api()
    validator = Validator(city)
    route = api.route

    # ------------------------------------------------------------------ auth

    @route("POST", "/auth/token", summary="Log in: an access token for the e-mail and password", tag="auth",
           role=None, body=TokenRequest, response=TokenResponse, errors=(401, 429))
    async def issue_token(call: Call) -> TokenResponse:
        return await staff.login(call.body.email, call.body.password)

    @route("POST", "/auth/logout", summary="Revoke the token of this call", tag="auth", role=Role.viewer,
           status=204)
    async def revoke_token(call: Call) -> None:
        token = bearer_token(call.request)
        if token:
            await staff.logout(token)

    @route("GET", "/me", summary="The staff account of the token", tag="auth", role=Role.viewer, response=Staff)
    async def who_am_i(call: Call) -> Staff:
        return call.actor

    # ------------------------------------------------------------------ staff

    @route("GET", "/staff", summary="Staff accounts", tag="staff", role=Role.admin, response=list[Staff])
    async def list_staff(call: Call) -> list[Staff]:
        return await staff.list()

    @route("POST", "/staff", summary="Create a staff account", tag="staff", role=Role.admin, body=StaffCreate,
           response=Staff, status=201, errors=(409,))
    async def create_staff(call: Call) -> Staff:
        return await staff.create(call.actor, call.body)

    @route("GET", "/staff/{id}", summary="One staff account", tag="staff", role=Role.admin, response=Staff,
           errors=(404,))
    async def get_staff(call: Call) -> Staff:
        found = await staff.get(call.params["id"])
        if found is None:
            raise ApiError(404, "not_found", "Обліковий запис не знайдено")
        return found

    @route("PATCH", "/staff/{id}", summary="Change role or name, deactivate (active: false) or reactivate",
           tag="staff", role=Role.admin, body=StaffPatch, response=Staff, errors=(404, 409))
    async def update_staff(call: Call) -> Staff:
        return await staff.update(call.actor, call.params["id"], call.body)

    @route("POST", "/staff/{id}/password", summary="Set a new password (ends the account's sessions)",
           tag="staff", role=Role.admin, body=PasswordReset, response=Staff, errors=(404,))
    async def reset_password(call: Call) -> Staff:
        return await staff.reset_password(call.actor, call.params["id"], call.body.password)

    @route("GET", "/audit", summary="The audit log, newest first", tag="audit", role=Role.admin,
           response=list[AuditRecord], query=(
               QueryParam("entity", {"type": "string", "enum": list(ENTITIES)}, "what was changed"),
               QueryParam("entity_id", {"type": "string"}, "the outage or account id"),
               QueryParam("actor_id", {"type": "string"}, "who changed it"),
               QueryParam("before", {"type": "string", "format": "date-time"}, "older than (paging)"),
               LIMIT))
    async def list_audit(call: Call) -> list[AuditRecord]:
        before = None
        if call.query("before"):
            try:
                before = datetime.fromisoformat(call.query("before") or "")
            except ValueError:
                raise ApiError(422, "validation_failed", "before: дата ISO-8601",
                               [FieldError(path="query.before", message="дата ISO-8601")]) from None
        return await audit_log.list(entity=_choice(call, "entity", ENTITIES), entity_id=call.query("entity_id"),
                                    actor_id=call.query("actor_id"), limit=_int(call, "limit", 100, 1, 500),
                                    before=before)

    # ------------------------------------------------------------------ outages

    @route("GET", "/outages", summary="Outages (also those imported from the contact center), latest start first",
           tag="outages", role=Role.viewer, response=list[Outage], query=(
               QueryParam("active", {"type": "boolean"}, "true: published and not resolved/cancelled; false: past"),
               QueryParam("settlement", {"type": "string"}, "settlement id"),
               QueryParam("utility", {"type": "string", "enum": UTILITIES}, "what is off"),
               QueryParam("source", {"type": "string", "enum": list(SOURCES)}, "who published it"),
               LIMIT,
               QueryParam("offset", {"type": "integer", "minimum": 0, "default": 0}, "skip this many")))
    async def list_outages(call: Call) -> list[Outage]:
        docs = await outages.list(active=_bool(call, "active"), settlement_id=call.query("settlement"),
                                  utility=_choice(call, "utility", UTILITIES), source=_choice(call, "source", SOURCES),
                                  limit=_int(call, "limit", 100, 1, 500), offset=_int(call, "offset", 0, 0, 10**6))
        return [to_outage(d) for d in docs]

    @route("POST", "/outages", summary="Publish an outage (residents at its addresses are notified)",
           tag="outages", role=Role.editor, body=OutageCreate, response=Outage, status=201, query=(
               QueryParam("Idempotency-Key", {"type": "string", "maxLength": 200},
                          "retrying with the same key returns the outage the first call created (200) "
                          "instead of publishing it twice", location="header"),))
    async def create_outage(call: Call) -> Any:
        body: OutageCreate = call.body
        key = call.request.headers.get("Idempotency-Key", "").strip()[:200] or None
        addresses, phone = validator.check(settlement_id=body.settlement_id, city_wide=body.city_wide,
                                           addresses=body.addresses, starts_at=body.starts_at, ends_at=body.ends_at,
                                           contact_phone=body.contact_phone)
        doc, created = await outages.create(call.actor, body, addresses, phone, idempotency_key=key)
        outage = to_outage(doc)
        if created:
            return outage
        return web.json_response(outage.model_dump(mode="json"), status=200, dumps=dumps)

    @route("GET", "/outages/{id}", summary="One outage", tag="outages", role=Role.viewer, response=Outage,
           errors=(404,))
    async def get_outage(call: Call) -> Outage:
        doc = await outages.get(call.params["id"])
        if doc is None:
            raise ApiError(404, "not_found", "Відключення не знайдено")
        return to_outage(doc)

    @route("PATCH", "/outages/{id}", summary="Change an active outage (end moved, description…): outage.updated",
           tag="outages", role=Role.editor, body=OutagePatch, response=Outage, errors=(404, 409))
    async def update_outage(call: Call) -> Outage:
        patch: OutagePatch = call.body
        given = patch.model_dump(exclude_unset=True, exclude={"revision"})

        def prepare(doc: dict[str, Any]) -> dict[str, Any]:
            city_wide = given.get("city_wide", doc["city_wide"])
            addresses_in = patch.addresses if "addresses" in given else None
            if city_wide and not doc["city_wide"] and addresses_in is None:
                addresses_in = []  # becoming city-wide drops the streets
            addresses, phone = validator.check(
                settlement_id=doc["settlement_id"], city_wide=city_wide, addresses=addresses_in,
                starts_at=given.get("starts_at") or doc["starts_at"], ends_at=given.get("ends_at") or doc["ends_at"],
                contact_phone=given["contact_phone"] if "contact_phone" in given else doc.get("contact_phone"),
                current=None if city_wide else [_address(a) for a in doc["addresses"]])
            new: dict[str, Any] = {k: v for k, v in given.items() if k in ("kind", "starts_at", "ends_at")}
            if "kind" in new and new["kind"] is not None:
                new["kind"] = new["kind"].value if hasattr(new["kind"], "value") else new["kind"]
            new = {k: v for k, v in new.items() if v is not None}
            if "description" in given:
                new["description"] = (given["description"] or "").strip()
            if "contact_phone" in given:
                new["contact_phone"] = phone
            new["city_wide"] = city_wide
            new["addresses"] = [] if city_wide else [a.model_dump() for a in addresses]
            return new

        doc, _ = await outages.change(call.actor, call.params["id"], "updated", expected_revision=patch.revision,
                                      prepare=prepare)
        return to_outage(doc)

    @route("POST", "/outages/{id}/resolve", summary="The supply is restored: outage.resolved", tag="outages",
           role=Role.editor, response=Outage, errors=(404, 409))
    async def resolve_outage(call: Call) -> Outage:
        doc, _ = await outages.change(call.actor, call.params["id"], "resolved",
                                      {"state": OutageState.resolved.value})
        return to_outage(doc)

    @route("POST", "/outages/{id}/cancel", summary="The works will not happen: outage.cancelled", tag="outages",
           role=Role.editor, response=Outage, errors=(404, 409))
    async def cancel_outage(call: Call) -> Outage:
        doc, _ = await outages.change(call.actor, call.params["id"], "cancelled",
                                      {"state": OutageState.cancelled.value})
        return to_outage(doc)

    @route("GET", "/outages/{id}/delivery", summary="Figures of the outage's latest mailing", tag="outages",
           role=Role.viewer, response=Delivery, errors=(404,))
    async def outage_delivery(call: Call) -> Delivery:
        if await outages.get(call.params["id"]) is None:
            raise ApiError(404, "not_found", "Відключення не знайдено")
        return await outages.delivery(call.params["id"])

    @route("GET", "/outages/{id}/mailings", summary="Figures of each of the outage's mailings, latest first",
           tag="outages", role=Role.viewer, response=list[Delivery], errors=(404,))
    async def outage_mailings(call: Call) -> list[Delivery]:
        if await outages.get(call.params["id"]) is None:
            raise ApiError(404, "not_found", "Відключення не знайдено")
        return await outages.mailings(call.params["id"])

    # ------------------------------------------------------------------ directory (the panel's pickers)

    @route("GET", "/directory/settlements", summary="Settlements of the community", tag="directory",
           role=Role.viewer, response=list[Settlement])
    async def list_settlements(call: Call) -> list[Settlement]:
        return [Settlement(id=s.id, name=s.name, label=s.label) for s in city.settlements]

    @route("GET", "/directory/streets", summary="Streets of a settlement; with q: those matching it (also by a part of the name, at most 20)",
           tag="directory", role=Role.viewer, response=list[StreetOut], errors=(422,), query=(
               QueryParam("settlement", {"type": "string"}, "settlement id (required)"),
               QueryParam("q", {"type": "string"}, "a street name as residents write it")))
    async def list_streets(call: Call) -> list[StreetOut]:
        settlement = call.query("settlement")
        if not settlement or city.settlement(settlement) is None:
            raise ApiError(422, "validation_failed", "settlement: невідомий населений пункт",
                           [FieldError(path="query.settlement", message="невідомий населений пункт")])
        directory = city.street_directory(settlement)
        q = call.query("q")
        if q:
            match = directory.match(q)
            streets = [match.street] if match.street else list(match.suggestions)
            # typing in the panel's picker: also the streets whose name or former name
            # contains what was typed so far («Прос» → Проскурівська …)
            folded = fold(q)
            if folded:
                for street in directory.streets:
                    if len(streets) >= STREET_SUGGESTIONS:
                        break
                    if street not in streets and any(folded in fold(n) for n in (street.name, *street.aliases)):
                        streets.append(street)
        else:
            streets = list(directory.streets)
        return [StreetOut(id=s.id, name=s.name, label=s.label) for s in streets]

    @route("POST", "/house-spec/preview", summary="What a house spec covers («1, 3, 5 … 31 — 16 будинків»)",
           tag="directory", role=Role.viewer, body=HouseSpecPreviewRequest, response=HouseSpecPreview)
    async def preview_house_spec(call: Call) -> HouseSpecPreview:
        try:
            houses = parse_house_spec(call.body.spec)
        except HouseSpecError as exc:
            raise ApiError(422, "validation_failed", str(exc), [FieldError(path="spec", message=str(exc))]) from None
        return HouseSpecPreview(houses=houses, count=len(houses), whole_street=not houses,
                                summary=describe(houses, call.body.street))

    # ------------------------------------------------------------------ useful information (C11, C7)

    if info is not None:
        revision_param = QueryParam("revision", {"type": "integer", "minimum": 0},
                                    "the content's current revision (else 409)")

        @route("GET", "/info", summary="Useful information sections and links, as residents see them", tag="info",
               role=Role.viewer, response=InfoContent)
        async def get_info(call: Call) -> InfoContent:
            return await info.get()

        @route("PUT", "/info/sections/{id}", summary="Create or change a section: info.changed", tag="info",
               role=Role.editor, body=InfoSectionIn, response=InfoContent, errors=(409,))
        async def put_info_section(call: Call) -> InfoContent:
            return await info.put_section(call.actor, call.params["id"], call.body)

        @route("DELETE", "/info/sections/{id}", summary="Delete a section without subsections: info.changed",
               tag="info", role=Role.editor, response=InfoContent, errors=(404, 409), query=(revision_param,))
        async def delete_info_section(call: Call) -> InfoContent:
            revision = _int(call, "revision", -1, -1, 10**9)
            return await info.delete_section(call.actor, call.params["id"], None if revision < 0 else revision)

        @route("POST", "/info/sections/{id}/move", summary="Move a section up or down among its siblings",
               tag="info", role=Role.editor, body=InfoMove, response=InfoContent, errors=(404, 409))
        async def move_info_section(call: Call) -> InfoContent:
            return await info.move_section(call.actor, call.params["id"], call.body)

        @route("PUT", "/info/links/{id}", summary="Create or change a link button: info.changed", tag="info",
               role=Role.editor, body=InfoLinkIn, response=InfoContent, errors=(409,))
        async def put_info_link(call: Call) -> InfoContent:
            return await info.put_link(call.actor, call.params["id"], call.body)

        @route("DELETE", "/info/links/{id}", summary="Delete a link button: info.changed", tag="info",
               role=Role.editor, response=InfoContent, errors=(404, 409), query=(revision_param,))
        async def delete_info_link(call: Call) -> InfoContent:
            revision = _int(call, "revision", -1, -1, 10**9)
            return await info.delete_link(call.actor, call.params["id"], None if revision < 0 else revision)

    # ------------------------------------------------------------------ knowledge base (C3)

    if faq is not None:
        from . import faq_api

        faq_api.register(api, faq)

    # ------------------------------------------------------------------ mailings and greetings (S7, C9)

    if mailings is not None and greetings is not None:
        from . import mailings_api

        mailings_api.register(api, mailings, greetings, notifier_url=notifier_url, price_uah=price_uah)

    # ------------------------------------------------------------------ surveys (C8)

    if surveys is not None:
        from . import surveys_api

        surveys_api.register(api, surveys)

    @route("GET", "/openapi.json", summary="This document (OpenAPI 3.1)", tag="meta", role=None,
           response=dict[str, Any])
    async def openapi_document(call: Call) -> web.Response:
        return web.json_response(openapi(), dumps=dumps)

    return api


def _address(raw: dict[str, Any]) -> Any:
    from chatbot_common.events import OutageAddress

    return OutageAddress(**raw)
