"""The routes of ``/api/v1/surveys`` (issue 9, C8): editor and admin build, publish,
close and cancel; viewer (and up) read surveys and their results. Registered by
:func:`admin.api.build_api` into the route table that also builds the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from .errors import ApiError, FieldError
from .http import Api, Call, QueryParam
from .staff import Role
from .surveys import STATES, Survey, SurveyAction, SurveyIn, SurveyRepository, SurveyResults

SEPARATORS = {"comma": ",", "semicolon": ";"}


def register(api: Api, surveys: SurveyRepository) -> None:
    from .api import LIMIT, _choice, _int

    route = api.route

    @route("GET", "/surveys", summary="Surveys, newest first", tag="surveys", role=Role.viewer,
           response=list[Survey], query=(
               QueryParam("state", {"type": "string", "enum": list(STATES)},
                          "draft, scheduled, active, closed or cancelled"),
               LIMIT, QueryParam("offset", {"type": "integer", "minimum": 0, "default": 0}, "skip this many")))
    async def list_surveys(call: Call) -> list[Survey]:
        return await surveys.list(state=_choice(call, "state", STATES), limit=_int(call, "limit", 100, 1, 500),
                                  offset=_int(call, "offset", 0, 0, 10**6))

    @route("POST", "/surveys", summary="Create a draft survey (the builder's data); nothing is published",
           tag="surveys", role=Role.editor, body=SurveyIn, response=Survey, status=201, errors=(409,))
    async def create_survey(call: Call) -> Survey:
        return await surveys.create(call.actor, call.body)

    @route("GET", "/surveys/{id}", summary="One survey", tag="surveys", role=Role.viewer, response=Survey,
           errors=(404,))
    async def get_survey(call: Call) -> Survey:
        found = await surveys.get(call.params["id"])
        if found is None:
            raise ApiError(404, "not_found", "Опитування не знайдено")
        return found

    @route("PUT", "/surveys/{id}", summary="Change a survey: a draft freely; a published one publishes a new "
                                           "revision (questions locked once answered: 409)",
           tag="surveys", role=Role.editor, body=SurveyIn, response=Survey, errors=(404, 409))
    async def put_survey(call: Call) -> Survey:
        return await surveys.update(call.actor, call.params["id"], call.body)

    @route("POST", "/surveys/{id}/publish", summary="Publish a draft: survey.published (scheduled, or active "
                                                    "when it starts now)",
           tag="surveys", role=Role.editor, body=SurveyAction, response=Survey, errors=(404, 409))
    async def publish_survey(call: Call) -> Survey:
        return await surveys.publish(call.actor, call.params["id"], call.body.version)

    @route("POST", "/surveys/{id}/close", summary="Close a published survey early: survey.published closed",
           tag="surveys", role=Role.editor, body=SurveyAction, response=Survey, errors=(404, 409))
    async def close_survey(call: Call) -> Survey:
        return await surveys.close(call.actor, call.params["id"], call.body.version)

    @route("POST", "/surveys/{id}/cancel", summary="Cancel a survey: survey.published cancelled (a draft: "
                                                   "nothing published)",
           tag="surveys", role=Role.editor, body=SurveyAction, response=Survey, errors=(404, 409))
    async def cancel_survey(call: Call) -> Survey:
        return await surveys.cancel(call.actor, call.params["id"], call.body.version)

    @route("GET", "/surveys/{id}/results", summary="Results: counts per option, the 1–5 distribution and "
                                                   "average, free-text answers, respondents, invitations",
           tag="surveys", role=Role.viewer, response=SurveyResults, errors=(404,))
    async def survey_results(call: Call) -> SurveyResults:
        return await surveys.results(call.params["id"])

    @route("GET", "/surveys/{id}/results.csv", summary="The answers as CSV: one row per respondent, anonymous "
                                                       "(UTF-8 with BOM)",
           tag="surveys", role=Role.viewer, errors=(404,), media="text/csv", query=(
               QueryParam("separator", {"type": "string", "enum": list(SEPARATORS), "default": "comma"},
                          "semicolon: for a spreadsheet whose list separator is «;» (Ukrainian Excel)"),))
    async def survey_results_csv(call: Call) -> web.Response:
        separator = call.query("separator") or "comma"
        if separator not in SEPARATORS:
            raise ApiError(422, "validation_failed", "separator: comma або semicolon",
                           [FieldError(path="query.separator", message="comma або semicolon")])
        survey_id = call.params["id"]
        body = await surveys.csv(survey_id, SEPARATORS[separator])
        return web.Response(body=body, content_type="text/csv", charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="survey-{survey_id}.csv"'})
