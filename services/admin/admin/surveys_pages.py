"""The panel's «Опитування» (issue 9, C8): the list, the builder (questions added,
removed and reordered with plain submit buttons, so it works without JavaScript; the
segment picker and its live count shared with the mailings), publish / close / cancel
after a confirmation page, the results with server-rendered SVG bars, the free-text
answers, the CSV and the invitation's progress. Every action runs a documented API
route through :meth:`Panel.api`."""

from __future__ import annotations

import re
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from .errors import ApiError
from .mailings import describe_segment
from .mailings_pages import published_surveys, segment_body, segment_from, segment_picker, segment_values
from .panel import PREFIX, Ctx, Panel, _redirect, _uk, kyiv, parse_local
from .staff import Role
from .surveys import MAX_INTRO, MAX_QUESTIONS, MAX_TITLE

SURVEY_STATES = {"draft": "чернетка", "scheduled": "заплановане", "active": "триває", "closed": "завершене",
                 "cancelled": "скасоване"}
KINDS = {"single": "один варіант", "multiple": "кілька варіантів", "scale": "оцінка 1–5", "text": "вільна відповідь"}
OK = {"saved": "Чернетку збережено.", "changed": "Зміни збережено й опубліковано.",
      "published": "Опитування опубліковано: мешканці отримають запрошення, коли воно почнеться.",
      "closed": "Опитування завершено: відповіді більше не приймаються.", "cancelled": "Опитування скасовано.",
      "unchanged": "Нічого не змінилося."}
_OPTION_PATH = re.compile(r"^questions\[(\d+)\]\.options(?:\[(\d+)\])?")


def _empty_question() -> dict[str, Any]:
    return {"id": "", "kind": "single", "text": "", "required": True, "options": ""}


def builder_values(ctx: Ctx) -> dict[str, Any]:
    """The builder as entered (kept to re-render it with the errors)."""
    form = ctx.multi or {}
    questions = []
    count = int(form.get("qcount", "0")) if str(form.get("qcount", "0")).isdigit() else 0
    for n in range(min(count, MAX_QUESTIONS + 5)):
        questions.append({"id": str(form.get(f"q[{n}].id", "")), "kind": str(form.get(f"q[{n}].kind", "single")),
                          "text": str(form.get(f"q[{n}].text", "")),
                          "required": form.get(f"q[{n}].required") in ("on", "true", "1"),
                          "options": str(form.get(f"q[{n}].options", ""))})
    return {k: str(form.get(k, "")) for k in ("survey_id", "title", "intro", "starts_at", "ends_at", "version")} | {
        "questions": questions, "segment": segment_values(form)}


def values_of(s: Any, panel: Panel) -> dict[str, Any]:
    """A stored survey → the builder's values."""
    return {"survey_id": s.id, "title": s.title, "intro": s.intro, "version": str(s.version),
            "starts_at": kyiv(s.starts_at, "%Y-%m-%dT%H:%M"), "ends_at": kyiv(s.ends_at, "%Y-%m-%dT%H:%M"),
            "questions": [{"id": q.question_id, "kind": q.kind.value, "text": q.text, "required": q.required,
                           "options": "\n".join(o.label for o in q.options)} for q in s.questions],
            "segment": segment_from(s.segment, panel)}


def builder_body(values: dict[str, Any], locked: Any = None) -> dict[str, Any]:
    """The builder → the API's ``SurveyInput``; options one per line (keys kept by the API
    for an unchanged label). ``locked``: the stored questions, sent as they are."""
    if locked is not None:
        questions = [q.model_dump(mode="json") for q in locked]
    else:
        questions = [{"question_id": q["id"] or None, "kind": q["kind"], "text": q["text"], "required": q["required"],
                      "options": [{"label": line} for line in q["options"].splitlines() if line.strip()]
                      if q["kind"] in ("single", "multiple") else []} for q in values["questions"]]
    body: dict[str, Any] = {"title": values["title"], "intro": values["intro"], "questions": questions,
                            "segment": segment_body(values["segment"]),
                            "starts_at": parse_local(values["starts_at"]) if values["starts_at"].strip() else None,
                            "ends_at": parse_local(values["ends_at"]) if values["ends_at"].strip() else None}
    if values.get("survey_id"):
        body["survey_id"] = values["survey_id"].strip()
    if values.get("version", "").isdigit():
        body["version"] = int(values["version"])
    return body


def form_errors(exc: ApiError, values: dict[str, Any]) -> dict[str, str]:
    """The API's field paths → the builder's fields: an option's problem goes under its
    question's options box, naming the line."""
    errors: dict[str, str] = {}
    for f in exc.fields:
        path, message = f.path, _uk(f.message)
        found = _OPTION_PATH.match(path)
        if found:
            n, m = int(found.group(1)), found.group(2)
            key = f"questions[{n}].options"
            if m is not None:
                lines = [line for line in values["questions"][n]["options"].splitlines() if line.strip()] \
                    if n < len(values["questions"]) else []
                label = lines[int(m)].strip() if int(m) < len(lines) else ""
                message = f"рядок {int(m) + 1}{' «' + label[:50] + '»' if label else ''}: {message}"
            errors[key] = (errors[key] + "; " + message) if key in errors else message
        else:
            errors.setdefault(path, message)
    return errors


def register(panel: Panel, app: web.Application) -> None:
    r = app.router
    page = panel.page
    env = aiohttp_jinja2.get_env(app)
    env.globals.update(SURVEY_STATES=SURVEY_STATES, KINDS=KINDS)

    def fail(ctx: Ctx, exc: ApiError) -> web.Response:
        return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message}, status=exc.status)

    async def load(ctx: Ctx) -> Any:
        return await panel.api(ctx, "GET", "/surveys/{id}", params={"id": ctx.request.match_info["id"]})

    async def builder(ctx: Ctx, values: dict[str, Any], errors: dict[str, str], *, survey: Any = None,
                status: int = 200, rows: int | None = None, focus: str | None = None) -> web.Response:
        chosen = segment_picker(panel, values["segment"], rows)
        general = [m for p, m in errors.items()
                   if p in ("body", "segment", "form", "questions") or p.startswith("query")
                   or p.endswith("question_id") or p.endswith(".kind")]
        return panel.render(ctx, "survey_form.html", {
            "values": {**values, "segment": chosen["segment"]}, "streets": chosen["streets"],
            "settlements": chosen["settlements"], "errors": errors, "general": general, "survey": survey,
            "surveys": await published_surveys(panel, ctx, exclude=survey.id if survey else None),
            "audience": None, "max_title": MAX_TITLE, "max_intro": MAX_INTRO, "max_questions": MAX_QUESTIONS,
            "focus": focus}, status=status)

    def rearranged(ctx: Ctx, values: dict[str, Any]) -> tuple[dict[str, Any], str | None] | None:
        """Add / remove / move a question (a submit button each): the values changed, or
        ``None`` when the action is not one of those."""
        action = ctx.form.get("action", "")
        questions = values["questions"]
        if action == "add_question":
            if len(questions) < MAX_QUESTIONS:
                questions.append(_empty_question())
            return values, f"q-{len(questions) - 1}-text"
        kind, _, raw = action.partition(":")
        if kind not in ("remove", "up", "down") or not raw.isdigit() or int(raw) >= len(questions):
            return None
        n = int(raw)
        if kind == "remove":
            questions.pop(n)
            return values, None
        other = n - 1 if kind == "up" else n + 1
        if 0 <= other < len(questions):
            questions[n], questions[other] = questions[other], questions[n]
            return values, f"q-{other}-{kind}"
        return values, None

    # ------------------------------------------------------------------ list

    @page(Role.viewer)
    async def surveys_list(ctx: Ctx) -> web.StreamResponse:
        found = await panel.api(ctx, "GET", "/surveys", query={"limit": "500"})
        groups: dict[str, list[Any]] = {state: [] for state in SURVEY_STATES}
        for s in found:
            groups[s.state].append(s)
        return panel.render(ctx, "surveys.html", {"groups": groups, "ok": OK.get(ctx.request.query.get("ok", ""))})

    # ------------------------------------------------------------------ the builder

    @page(Role.editor)
    async def survey_new(ctx: Ctx) -> web.StreamResponse:
        values = {"survey_id": "", "title": "", "intro": "", "starts_at": "", "ends_at": "", "version": "",
                  "questions": [_empty_question()], "segment": segment_values(None)}
        return await builder(ctx, values, {})

    async def submit(ctx: Ctx, survey: Any) -> web.StreamResponse:
        values = builder_values(ctx)
        if survey is not None:
            values["survey_id"] = ""  # not changeable
        action = ctx.form.get("action", "preview")
        if action == "add_row":
            raw = ctx.form.get("rows", "")
            return await builder(ctx, values, {}, survey=survey, rows=int(raw) + 1 if raw.isdigit() else None)
        moved = rearranged(ctx, values)
        if moved is not None:
            return await builder(ctx, moved[0], {}, survey=survey, focus=moved[1])
        if action != "save":  # "preview" (Enter in a field): the count, without saving
            return await builder(ctx, values, {}, survey=survey)
        locked = survey.questions if survey is not None and survey.questions_locked else None
        body = builder_body(values, locked)
        try:
            if survey is None:
                saved = await panel.api(ctx, "POST", "/surveys", body=body)
            else:
                saved = await panel.api(ctx, "PUT", "/surveys/{id}", body=body, params={"id": survey.id})
        except ApiError as exc:
            if exc.status not in (409, 422):
                return fail(ctx, exc)
            errors = form_errors(exc, values) or {"form": exc.message}
            return await builder(ctx, values, errors, survey=survey, status=exc.status)
        if survey is None:
            ok = "saved"
        elif saved.version == survey.version:
            ok = "unchanged"
        else:
            ok = "saved" if saved.state == "draft" else "changed"
        return _redirect(f"{PREFIX}/surveys/{saved.id}?ok={ok}")

    @page(Role.editor)
    async def survey_create(ctx: Ctx) -> web.StreamResponse:
        return await submit(ctx, None)

    @page(Role.editor)
    async def survey_edit(ctx: Ctx) -> web.StreamResponse:
        try:
            s = await load(ctx)
        except ApiError as exc:
            return fail(ctx, exc)
        if s.state in ("closed", "cancelled"):
            return panel.render(ctx, "error.html", {"status": 409, "message": "Завершене чи скасоване опитування "
                                                                              "змінити не можна."}, status=409)
        return await builder(ctx, values_of(s, panel), {}, survey=s)

    @page(Role.editor)
    async def survey_update(ctx: Ctx) -> web.StreamResponse:
        try:
            s = await load(ctx)
        except ApiError as exc:
            return fail(ctx, exc)
        return await submit(ctx, s)

    # ------------------------------------------------------------------ one survey

    @page(Role.viewer)
    async def survey_view(ctx: Ctx) -> web.StreamResponse:
        try:
            s = await load(ctx)
        except ApiError as exc:
            return fail(ctx, exc)
        return panel.render(ctx, "survey.html", {"s": s, "ok": OK.get(ctx.request.query.get("ok", "")),
                                                 "segment_words": describe_segment(s.segment, panel.city)})

    def confirm(what: str) -> Any:
        @page(Role.editor)
        async def show(ctx: Ctx) -> web.StreamResponse:
            try:
                s = await load(ctx)
            except ApiError as exc:
                return fail(ctx, exc)
            audience = None
            if what == "publish":
                try:
                    preview = await panel.api(ctx, "POST", "/segments/preview",
                                              body={"segment": _segment_input(s.segment)})
                    audience = preview.model_dump()
                except ApiError as exc:
                    audience = {"error": exc.message}
            return panel.render(ctx, "survey_confirm.html", {"s": s, "what": what, "audience": audience,
                                                             "segment_words": describe_segment(s.segment, panel.city)})

        return show

    def act(what: str, ok: str) -> Any:
        @page(Role.editor)
        async def run(ctx: Ctx) -> web.StreamResponse:
            survey_id = ctx.request.match_info["id"]
            version = ctx.form.get("version", "")
            try:
                await panel.api(ctx, "POST", f"/surveys/{{id}}/{what}", params={"id": survey_id},
                                body={"version": int(version)} if version.isdigit() else {})
            except ApiError as exc:
                if exc.status == 422:
                    message = exc.message + ": " + "; ".join(f"{_uk(f.message)}" for f in exc.fields)
                    return panel.render(ctx, "error.html", {"status": 422, "message": message}, status=422)
                return fail(ctx, exc)
            return _redirect(f"{PREFIX}/surveys/{survey_id}?ok={ok}")

        return run

    # ------------------------------------------------------------------ results

    @page(Role.viewer)
    async def survey_results(ctx: Ctx) -> web.StreamResponse:
        try:
            s = await load(ctx)
            results = await panel.api(ctx, "GET", "/surveys/{id}/results", params={"id": s.id})
        except ApiError as exc:
            return fail(ctx, exc)
        return panel.render(ctx, "survey_results.html", {"s": s, "res": results})

    @page(Role.viewer)
    async def survey_csv(ctx: Ctx) -> web.StreamResponse:
        separator = ctx.request.query.get("separator", "")
        try:
            return await panel.api(ctx, "GET", "/surveys/{id}/results.csv", params={"id": ctx.request.match_info["id"]},
                                   query={"separator": separator} if separator else {})
        except ApiError as exc:
            return fail(ctx, exc)

    @page(Role.viewer)
    async def survey_progress(ctx: Ctx) -> web.StreamResponse:
        try:
            s = await load(ctx)
            results = await panel.api(ctx, "GET", "/surveys/{id}/results", params={"id": s.id})
        except ApiError as exc:
            return web.Response(status=exc.status, text=exc.message)
        return panel.render(ctx, "survey_progress.html", {"s": s, "res": results})

    r.add_get(f"{PREFIX}/surveys", surveys_list)
    r.add_get(f"{PREFIX}/surveys/new", survey_new)
    r.add_post(f"{PREFIX}/surveys/new", survey_create)
    r.add_get(f"{PREFIX}/surveys/{{id}}", survey_view)
    r.add_get(f"{PREFIX}/surveys/{{id}}/edit", survey_edit)
    r.add_post(f"{PREFIX}/surveys/{{id}}/edit", survey_update)
    for what, ok in (("publish", "published"), ("close", "closed"), ("cancel", "cancelled")):
        r.add_get(f"{PREFIX}/surveys/{{id}}/{what}", confirm(what))
        r.add_post(f"{PREFIX}/surveys/{{id}}/{what}", act(what, ok))
    r.add_get(f"{PREFIX}/surveys/{{id}}/results", survey_results)
    r.add_get(f"{PREFIX}/surveys/{{id}}/results.csv", survey_csv)
    r.add_get(f"{PREFIX}/surveys/{{id}}/progress", survey_progress)


def _segment_input(segment: Any) -> dict[str, Any]:
    """A stored (resolved) Segment → the ``SegmentInput`` of the preview: streets by id,
    houses as a comma-separated spec."""
    data = segment.model_dump(mode="json")
    data["streets"] = [{"settlement_id": s.settlement_id, "street": s.street_id, "houses": ", ".join(s.houses)}
                       for s in segment.streets]
    return data
