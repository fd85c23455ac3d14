"""The panel's knowledge-base pages (C3): «Питання та відповіді» (list with search and
topic filter, the entry form with a live character counter, delete after confirming)
and «Питання мешканців» (unanswered and 👎 questions with counts, «Створити відповідь»
prefilled from the question, «Опрацьовано»). Each action runs a documented API route
through :meth:`Panel.api` — the same validation, outbox and audit as the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from chatbot_common.events import utcnow

from .errors import ApiError
from .faq import MAX_ANSWER
from .panel import PREFIX, Ctx, Panel, _redirect, _uk
from .staff import Role

LINK_ROWS = 3
PERIODS = {"7": "7 днів", "30": "30 днів", "90": "90 днів", "all": "увесь час"}
VERDICT_LABELS = {"unanswered": "без відповіді", "not_helpful": "👎 не допомогло", "helpful": "👍 допомогло"}
FAQ_OK = {
    "faq_saved": "Збережено: бот відповідатиме по-новому за кілька секунд.",
    "faq_deleted": "Видалено: бот перестане давати цю відповідь за кілька секунд.",
    "handled": "Позначено як опрацьоване.",
    "faq_created_from_question": "Відповідь створено, питання позначено як опрацьоване.",
}


def answer_length(text: str) -> int:
    """What the API counts: line breaks as one character, trimmed."""
    return len(text.replace("\r\n", "\n").strip())


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.replace("\r\n", "\n").split("\n") if line.strip()]


def _values(form: dict[str, str]) -> dict[str, Any]:
    """The entry form as typed (kept to re-render it with the errors)."""
    values: dict[str, Any] = {k: form.get(k, "") for k in (
        "id", "topic", "question", "phrasings", "answer", "phones", "keywords", "settlement", "revision", "from")}
    values["links"] = [{"label": form.get(f"links[{n}].label", ""), "url": form.get(f"links[{n}].url", "")}
                       for n in range(LINK_ROWS)]
    return values


def _body(values: dict[str, Any], *, create: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "topic": values["topic"], "question": values["question"], "phrasings": _lines(values["phrasings"]),
        "answer": values["answer"], "phones": _lines(values["phones"]), "keywords": _lines(values["keywords"]),
        "links": [link for link in values["links"] if link["label"].strip() or link["url"].strip()],
        "settlement": values["settlement"] or None,
    }
    if create:
        body["id"] = values["id"]
    elif str(values.get("revision", "")).isdigit():
        body["revision"] = int(values["revision"])
    return body


def _from_item(item: Any) -> dict[str, Any]:
    links = [{"label": link.label, "url": link.url} for link in item.links]
    links += [{"label": "", "url": ""}] * (LINK_ROWS - len(links))
    return {"id": item.id, "topic": item.topic, "question": item.question, "phrasings": "\n".join(item.phrasings),
            "answer": item.answer, "phones": "\n".join(item.phones), "keywords": "\n".join(item.keywords),
            "settlement": item.settlement or "", "revision": str(item.revision), "links": links, "from": ""}


def register(panel: Panel, app: web.Application) -> None:
    r = app.router
    page = panel.page

    # ------------------------------------------------------------------ the list

    @page(Role.viewer)
    async def faq_list(ctx: Ctx) -> web.StreamResponse:
        q = ctx.request.query.get("q", "").strip()
        topic = ctx.request.query.get("topic", "").strip()
        query = {k: v for k, v in (("q", q), ("topic", topic)) if v}
        entries = await panel.api(ctx, "GET", "/faq", query={**query, "limit": "1000"})
        everything = entries if not query else await panel.api(ctx, "GET", "/faq", query={"limit": "1000"})
        return panel.render(ctx, "faq.html", {
            "entries": entries, "q": q, "topic": topic, "topics": sorted({e.topic for e in everything}),
            "total": len(everything), "ok": FAQ_OK.get(ctx.request.query.get("ok", ""))})

    # ------------------------------------------------------------------ the form

    async def _form(ctx: Ctx, values: dict[str, Any], errors: dict[str, str], *, entry: Any = None,
                    status: int = 200) -> web.Response:
        topics = sorted({e.topic for e in await panel.api(ctx, "GET", "/faq", query={"limit": "1000"})})
        return panel.render(ctx, "faq_form.html", {
            "values": values, "errors": errors, "entry": entry, "topics": topics,
            "settlements": list(panel.city.settlements), "max_answer": MAX_ANSWER,
            "answer_length": answer_length(values["answer"]),
            "general": [m for p, m in errors.items() if p in ("form", "body")]}, status=status)

    def _errors(exc: ApiError) -> dict[str, str]:
        errors: dict[str, str] = {}
        for f in exc.fields:
            path = f.path
            if path.startswith(("phrasings[", "phones[", "keywords[")):
                path = path.split("[", 1)[0]
            errors.setdefault(path, _uk(f.message))
        return errors or {"form": exc.message}

    @page(Role.editor)
    async def faq_new(ctx: Ctx) -> web.StreamResponse:
        blank = _values({})
        question = " ".join(ctx.request.query.get("question", "").split())[:200]
        blank.update(question=question, phrasings=question, **{"from": ctx.request.query.get("from", "")})
        return await _form(ctx, blank, {})

    @page(Role.editor)
    async def faq_create(ctx: Ctx) -> web.StreamResponse:
        values = _values(ctx.form)
        try:
            await panel.api(ctx, "POST", "/faq", body=_body(values, create=True))
        except ApiError as exc:
            if exc.status not in (409, 422):
                return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message},
                                    status=exc.status)
            return await _form(ctx, values, _errors(exc), status=exc.status)
        handled = [i for i in values["from"].split(",") if i.strip()]
        for question_id in handled:
            try:
                await panel.api(ctx, "POST", "/faq/questions/{id}/handled", body={}, params={"id": question_id})
            except ApiError:
                pass  # the answer exists; a question that vanished needs no mark
        if handled:
            return _redirect(f"{PREFIX}/questions?ok=faq_created_from_question")
        return _redirect(f"{PREFIX}/faq?ok=faq_saved")

    async def _entry(ctx: Ctx) -> Any:
        try:
            return await panel.api(ctx, "GET", "/faq/{id}", params={"id": ctx.request.match_info["id"]})
        except ApiError:
            return None

    def _missing(ctx: Ctx) -> web.Response:
        return panel.render(ctx, "error.html", {"status": 404, "message": "Запис бази знань не знайдено"},
                            status=404)

    @page(Role.editor)
    async def faq_edit(ctx: Ctx) -> web.StreamResponse:
        entry = await _entry(ctx)
        if entry is None:
            return _missing(ctx)
        return await _form(ctx, _from_item(entry), {}, entry=entry)

    @page(Role.editor)
    async def faq_update(ctx: Ctx) -> web.StreamResponse:
        entry_id = ctx.request.match_info["id"]
        values = {**_values(ctx.form), "id": entry_id}
        try:
            await panel.api(ctx, "PUT", "/faq/{id}", body=_body(values, create=False), params={"id": entry_id})
        except ApiError as exc:
            if exc.status not in (409, 422):
                return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message},
                                    status=exc.status)
            return await _form(ctx, values, _errors(exc), entry={"id": entry_id}, status=exc.status)
        return _redirect(f"{PREFIX}/faq?ok=faq_saved")

    @page(Role.editor)
    async def faq_delete_confirm(ctx: Ctx) -> web.StreamResponse:
        entry = await _entry(ctx)
        if entry is None:
            return _missing(ctx)
        return panel.render(ctx, "faq_delete.html", {"entry": entry})

    @page(Role.editor)
    async def faq_delete(ctx: Ctx) -> web.StreamResponse:
        revision = ctx.form.get("revision", "")
        try:
            await panel.api(ctx, "DELETE", "/faq/{id}", params={"id": ctx.request.match_info["id"]},
                            query={"revision": revision} if revision.isdigit() else {})
        except ApiError as exc:
            return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message}, status=exc.status)
        return _redirect(f"{PREFIX}/faq?ok=faq_deleted")

    # ------------------------------------------------------------------ residents' questions

    @page(Role.viewer)
    async def questions(ctx: Ctx) -> web.StreamResponse:
        period = ctx.request.query.get("period", "30")
        period = period if period in PERIODS else "30"
        show = ctx.request.query.get("show", "todo")
        verdict = ctx.request.query.get("verdict", "")
        verdicts = verdict if verdict in VERDICT_LABELS else "unanswered,not_helpful"
        query = {"verdict": verdicts, "limit": "500"}
        if period != "all":
            query["since"] = (utcnow() - timedelta(days=int(period))).isoformat()
        if show != "all":
            query["handled"] = "false"
        found = await panel.api(ctx, "GET", "/faq/questions", query=query)
        handled = {q.id for q in found.questions if q.handled}
        groups = [(g, all(i in handled for i in g.ids)) for g in found.groups]
        return panel.render(ctx, "faq_questions.html", {
            "found": found, "groups": groups, "period": period, "periods": PERIODS, "show": show,
            "verdict": verdict, "verdicts": VERDICT_LABELS, "ok": FAQ_OK.get(ctx.request.query.get("ok", "")),
            "new_link": lambda g: f"{PREFIX}/faq/new?" + urlencode({"question": g.question, "from": ",".join(g.ids)}),
            "back": ctx.request.rel_url.query_string})

    @page(Role.editor)
    async def questions_handled(ctx: Ctx) -> web.StreamResponse:
        ids = [i for i in ctx.form.get("ids", "").split(",") if i.strip()]
        handled = ctx.form.get("handled", "true") != "false"
        for question_id in ids:
            try:
                await panel.api(ctx, "POST", "/faq/questions/{id}/handled", body={"handled": handled},
                                params={"id": question_id})
            except ApiError as exc:
                return panel.render(ctx, "error.html", {"status": exc.status, "message": exc.message},
                                    status=exc.status)
        back = ctx.form.get("back", "")
        back = "&".join(p for p in back.split("&") if p and not p.startswith("ok="))
        return _redirect(f"{PREFIX}/questions?{back + '&' if back else ''}ok=handled")

    r.add_get(f"{PREFIX}/faq", faq_list)
    r.add_get(f"{PREFIX}/faq/new", faq_new)
    r.add_post(f"{PREFIX}/faq/new", faq_create)
    r.add_get(f"{PREFIX}/faq/{{id}}", faq_edit)
    r.add_post(f"{PREFIX}/faq/{{id}}", faq_update)
    r.add_get(f"{PREFIX}/faq/{{id}}/delete", faq_delete_confirm)
    r.add_post(f"{PREFIX}/faq/{{id}}/delete", faq_delete)
    r.add_get(f"{PREFIX}/questions", questions)
    r.add_post(f"{PREFIX}/questions/handled", questions_handled)
