"""The routes of ``/api/v1/faq`` (C3): the knowledge base (viewer reads, editor+ changes)
and residents' questions for staff. Registered by :func:`admin.api.build_api` into the
same route table that builds the OpenAPI document."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .errors import ApiError, FieldError
from .faq import FaqEntryCreate, FaqEntryUpdate, FaqItem, FaqQuestion, FaqQuestions, FaqRepository
from .http import Api, Call, QueryParam
from .staff import Role

VERDICTS = ("unanswered", "helpful", "not_helpful")


class FaqHandled(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handled: bool = Field(default=True, description="false: back to the list of questions to handle")


def _date(call: Call, name: str) -> datetime | None:
    raw = call.query(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "validation_failed", f"{name}: дата ISO-8601 (2026-03-01 або 2026-03-01T00:00:00+02:00)",
                       [FieldError(path=f"query.{name}", message="дата ISO-8601")]) from None
    if value.tzinfo is None:
        from zoneinfo import ZoneInfo

        value = value.replace(tzinfo=ZoneInfo("Europe/Kyiv"))
    return value


def register(api: Api, faq: FaqRepository) -> None:
    from .api import LIMIT, _bool, _int

    route = api.route
    revision_param = QueryParam("revision", {"type": "integer", "minimum": 0},
                                "the entry's current revision (else 409)")

    # residents' questions first: /faq/questions must not be taken for an entry id

    @route("GET", "/faq/questions", summary="Residents' questions (unanswered, 👍, 👎) with counts per entry",
           tag="faq", role=Role.viewer, response=FaqQuestions, query=(
               QueryParam("verdict", {"type": "string", "enum": list(VERDICTS)},
                          "unanswered, not_helpful or helpful; repeat or comma-separate for several"),
               QueryParam("since", {"type": "string", "format": "date-time"},
                          "from (ISO-8601; a date without an offset is Kyiv time)"),
               QueryParam("until", {"type": "string", "format": "date-time"}, "before"),
               QueryParam("handled", {"type": "boolean"}, "false: only those not yet handled"),
               LIMIT))
    async def list_faq_questions(call: Call) -> FaqQuestions:
        verdicts = [v.strip() for raw in call.request.query.getall("verdict", []) for v in raw.split(",")
                    if v.strip()]
        bad = [v for v in verdicts if v not in VERDICTS]
        if bad:
            raise ApiError(422, "validation_failed", f"verdict: одне з {', '.join(VERDICTS)}",
                           [FieldError(path="query.verdict", message=f"невідоме значення «{bad[0]}»")])
        return await faq.feedback(verdicts=verdicts or None, since=_date(call, "since"), until=_date(call, "until"),
                                  handled=_bool(call, "handled"), limit=_int(call, "limit", 100, 1, 500))

    @route("POST", "/faq/questions/{id}/handled", summary="Mark a resident's question handled (or not)",
           tag="faq", role=Role.editor, body=FaqHandled, response=FaqQuestion, errors=(404,))
    async def handle_faq_question(call: Call) -> FaqQuestion:
        return await faq.mark_handled(call.actor, call.params["id"], call.body.handled)

    # the knowledge base

    @route("GET", "/faq", summary="Knowledge-base entries, by topic and id", tag="faq", role=Role.viewer,
           response=list[FaqItem], query=(
               QueryParam("topic", {"type": "string"}, "a topic code"),
               QueryParam("q", {"type": "string"}, "words found in the question, phrasings, answer, keywords or id"),
               QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 500}, "page size"),
               QueryParam("offset", {"type": "integer", "minimum": 0, "default": 0}, "skip this many")))
    async def list_faq(call: Call) -> list[FaqItem]:
        return await faq.list(topic=call.query("topic"), q=call.query("q"), limit=_int(call, "limit", 500, 1, 1000),
                              offset=_int(call, "offset", 0, 0, 10**6))

    @route("POST", "/faq", summary="Create an entry: faq.changed (revision 1)", tag="faq", role=Role.editor,
           body=FaqEntryCreate, response=FaqItem, status=201, errors=(409,))
    async def create_faq(call: Call) -> FaqItem:
        return await faq.create(call.actor, call.body)

    @route("GET", "/faq/{id}", summary="One entry", tag="faq", role=Role.viewer, response=FaqItem, errors=(404,))
    async def get_faq(call: Call) -> FaqItem:
        found = await faq.get(call.params["id"])
        if found is None:
            raise ApiError(404, "not_found", "Запис бази знань не знайдено")
        return found

    @route("PUT", "/faq/{id}", summary="Change an entry (the whole entry): faq.changed, revision + 1", tag="faq",
           role=Role.editor, body=FaqEntryUpdate, response=FaqItem, errors=(404, 409))
    async def update_faq(call: Call) -> FaqItem:
        return await faq.update(call.actor, call.params["id"], call.body)

    @route("DELETE", "/faq/{id}", summary="Delete an entry: faq.changed without an entry", tag="faq",
           role=Role.editor, status=204, errors=(404, 409), query=(revision_param,))
    async def delete_faq(call: Call) -> None:
        revision = _int(call, "revision", -1, -1, 10**9)
        await faq.delete(call.actor, call.params["id"], None if revision < 0 else revision)
