"""The operator chat page (``/chat``, Ukrainian, no JavaScript needed) and the chat's
control API (``/control/chat/...``) for tests.

Page: ``/chat`` lists the conversations (open first); ``/chat/{id}`` shows one: the
transcript (the bridge's private note first), a reply form (public answer), a private-note
form and «Завершити розмову» (resolve). Forms POST and are answered 303 back to the
conversation; an empty text re-renders the page with 400 and an ``#error`` box, changing
nothing. Stable ids (``id`` = ``data-testid``): ``chat-list``, ``chat-row-{id}``,
``chat-open-{id}``, ``chat-status``, ``transcript``, ``msg-{id}`` (class ``incoming``,
``outgoing``, ``private``), ``reply-form``/``reply-text``/``reply-send``,
``note-form``/``note-text``/``note-send``, ``resolve-form``/``resolve-send``, ``error``.

Control API (JSON; bad input → 400 ``{"error"}``, unknown conversation → 404):
``GET /control/chat`` (settings), ``POST /control/chat`` (``down``, ``duplicate_webhooks``,
``webhook_url``, ``webhook_secret``), ``GET /control/chat/conversations`` (each with its
messages and contact), ``POST /control/chat/conversations/{id}/reply`` ``{"content",
"operator"?}``, ``…/note`` ``{"content"}``, ``…/resolve``, ``GET /control/chat/webhooks``
(every delivery and its answer).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .chat import CHAT, ChatError, ChatSim, Conversation
from .operator import CSS, e, tid
from .timeutil import kyiv_text

routes = web.RouteTableDef()


def _chat(request: web.Request) -> ChatSim:
    return request.app[CHAT]


def _j(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False, default=str),
                        content_type="application/json", charset="utf-8")


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ValueError("тіло запиту має бути JSON") from None
    if not isinstance(body, dict):
        raise ValueError("очікується JSON-об'єкт")
    return body


def _content(body: dict[str, Any]) -> str:
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise ValueError("content: потрібен непорожній текст")
    return content


def _conversation_json(chat: ChatSim, conv: Conversation) -> dict[str, Any]:
    view = chat.conversation_view(conv)
    view["contact"] = chat.contact_view(chat.contacts[conv.contact_id])
    view["messages"] = [chat.message_api_view(m) | {"message_type": m["message_type"]} for m in conv.messages]
    return view


async def _control(request: web.Request, action: Any) -> web.Response:
    try:
        return _j(await action())
    except ChatError as exc:
        return _j({"error": exc.message}, exc.status)
    except ValueError as exc:
        return _j({"error": str(exc)}, 400)


@routes.get("/control/chat")
async def get_settings(request: web.Request) -> web.Response:
    return _j(_chat(request).settings_view())


@routes.post("/control/chat")
async def set_settings(request: web.Request) -> web.Response:
    async def action() -> Any:
        chat = _chat(request)
        chat.update(await _body(request))
        return chat.settings_view()
    return await _control(request, action)


@routes.get("/control/chat/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    chat = _chat(request)
    return _j([_conversation_json(chat, c) for c in chat.conversations.values()])


@routes.get("/control/chat/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    return _j(_chat(request).deliveries)


@routes.post("/control/chat/conversations/{conversation_id}/{action}")
async def conversation_action(request: web.Request) -> web.Response:
    chat = _chat(request)
    conversation_id, verb = request.match_info["conversation_id"], request.match_info["action"]

    async def action() -> Any:
        conv = chat.conversation(conversation_id)
        if verb == "resolve":
            chat.resolve(conv.id)
            return _conversation_json(chat, conv)
        if verb not in ("reply", "note"):
            raise ChatError(404, f"невідома дія {verb}")
        body = await _body(request)
        operator = body.get("operator")
        message = chat.operator_reply(conv.id, _content(body), private=verb == "note",
                                      operator=operator if isinstance(operator, str) else None)
        return chat.message_api_view(message)
    return await _control(request, action)


# ------------------------------------------------------------------ page

STATUS_LABELS = {"open": "Відкрита", "pending": "Очікує", "resolved": "Завершена", "snoozed": "Відкладена"}
CHAT_CSS = """
.msg{border:1px solid #d5d9e0;border-radius:6px;padding:.4rem .6rem;margin:.3rem 0;max-width:46rem;white-space:pre-wrap}
.incoming{background:#fff}.outgoing{background:#e6f0ff;margin-left:3rem}.private{background:#fff7d6;margin-left:3rem}
.who{font-size:.8rem;color:#5a6472}
"""


def _layout(title: str, body: str, status: int = 200) -> web.Response:
    html = (f'<!doctype html><html lang="uk"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"<style>{CSS}{CHAT_CSS}</style></head><body><header><a href=\"/\">Звернення</a>"
            f'<a href="/chat" {tid("nav-chat")}>Чат з мешканцями</a></header><main>{body}</main></body></html>')
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)


@routes.get("/chat")
async def page_list(request: web.Request) -> web.Response:
    chat = _chat(request)
    convs = sorted(chat.conversations.values(), key=lambda c: (c.status == "resolved", -c.id))
    rows = []
    for conv in convs:
        contact = chat.contacts.get(conv.contact_id, {})
        last = conv.messages[-1]["content"] if conv.messages else ""
        rows.append(f'<tr {tid(f"chat-row-{conv.id}")}><td><a href="/chat/{conv.id}" {tid(f"chat-open-{conv.id}")}>'
                    f"№{conv.id}</a></td><td>{e(contact.get('name'))}</td><td>{e(STATUS_LABELS.get(conv.status))}</td>"
                    f"<td>{len(conv.messages)}</td><td>{e(last[:80])}</td></tr>")
    table = ("<table><thead><tr><th>Розмова</th><th>Мешканець</th><th>Стан</th><th>Повідомлень</th>"
             f"<th>Останнє</th></tr></thead><tbody {tid('chat-list')}>{''.join(rows)}</tbody></table>")
    empty = '<p id="chat-empty" data-testid="chat-empty">Розмов поки немає.</p>' if not rows else ""
    return _layout("Чат з мешканцями", f"<h1>Чат з мешканцями</h1>{empty}{table}")


def _conversation_page(chat: ChatSim, conv: Conversation, error: str | None = None, status: int = 200) -> web.Response:
    contact = chat.contacts.get(conv.contact_id, {})
    items = []
    for m in conv.messages:
        kind = "private" if m["private"] else m["message_type"]
        who = ("Приватна нотатка · " if m["private"] else "") + str(m["sender"].get("name") or "")
        files = "".join(f'<div><a href="{e(a["data_url"])}">📎 {e(a.get("name") or a["extension"])}</a></div>'
                        for a in m["attachments"])
        mid = tid(f"msg-{m['id']}")
        items.append(f'<div class="msg {kind}" {mid}><div class="who">{e(who)} · '
                     f'{e(kyiv_text(m["created_at"]))}</div>{e(m["content"])}{files}</div>')
    err = f'<div class="error" {tid("error")}>{e(error)}</div>' if error else ""
    forms = ""
    if conv.status != "resolved":
        forms = (f'<section><form method="post" action="/chat/{conv.id}/reply" {tid("reply-form")}>'
                 f'<label for="reply-text">Відповідь мешканцю</label><textarea name="content" {tid("reply-text")}></textarea>'
                 f'<button type="submit" {tid("reply-send")}>Надіслати</button></form>'
                 f'<form method="post" action="/chat/{conv.id}/note" {tid("note-form")}>'
                 f'<label for="note-text">Приватна нотатка (мешканець її не бачить)</label>'
                 f'<textarea name="content" {tid("note-text")}></textarea>'
                 f'<button type="submit" {tid("note-send")}>Зберегти нотатку</button></form>'
                 f'<form method="post" action="/chat/{conv.id}/resolve" {tid("resolve-form")}>'
                 f'<button type="submit" {tid("resolve-send")}>Завершити розмову</button></form></section>')
    body = (f"<h1>Розмова №{conv.id}: {e(contact.get('name'))}</h1>{err}"
            f"<p>Стан: <b {tid('chat-status')}>{e(STATUS_LABELS.get(conv.status))}</b> · "
            f"<a href=\"/chat/{conv.id}\" {tid('refresh')}>Оновити</a> · <a href=\"/chat\" {tid('back')}>Усі розмови</a></p>"
            f"<section {tid('transcript')}>{''.join(items)}</section>{forms}")
    return _layout(f"Розмова №{conv.id}", body, status)


def _find(request: web.Request) -> tuple[ChatSim, Conversation]:
    chat = _chat(request)
    try:
        return chat, chat.conversation(request.match_info["conversation_id"])
    except ChatError:
        raise web.HTTPNotFound(text="Розмову не знайдено", content_type="text/plain") from None


@routes.get("/chat/{conversation_id}")
async def page_conversation(request: web.Request) -> web.Response:
    chat, conv = _find(request)
    return _conversation_page(chat, conv)


@routes.post("/chat/{conversation_id}/{action}")
async def page_action(request: web.Request) -> web.Response:
    chat, conv = _find(request)
    verb = request.match_info["action"]
    if verb == "resolve":
        chat.resolve(conv.id)
    elif verb in ("reply", "note"):
        form = await request.post()
        content = str(form.get("content") or "")
        if not content.strip():
            return _conversation_page(chat, conv, "Напишіть текст повідомлення.", 400)
        chat.operator_reply(conv.id, content, private=verb == "note")
    else:
        raise web.HTTPNotFound()
    raise web.HTTPSeeOther(f"/chat/{conv.id}")
