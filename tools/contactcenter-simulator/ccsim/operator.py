"""The operator's web page (Ukrainian, server-rendered, works without JavaScript).

Every form POSTs and is answered with a 303 redirect back to the page it came from
(post/redirect/get); a form with bad input re-renders the page with status 400 and an
``#error`` box, changing nothing. Every value is HTML-escaped. Element ids are stable
(``id`` and ``data-testid`` carry the same value) and listed in
docs/contactcenter-simulator.md for headless-browser tests.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from aiohttp import web

from . import statuses
from .keys import SIM
from .state import OUTAGE_UTILITIES, Conflict, NotFound, ServiceRequest, Simulator
from .timeutil import KYIV, kyiv_text, parse_iso

routes = web.RouteTableDef()

UTILITY_LABELS = {"cold_water": "Холодна вода", "hot_water": "Гаряча вода", "heating": "Опалення",
                  "electricity": "Електроенергія", "gas": "Газ", "sewerage": "Водовідведення", "other": "Інше"}
KIND_LABELS = {"planned": "Планове", "emergency": "Аварійне"}
OUTAGE_STATUS_LABELS = {"active": "Триває", "resolved": "Відновлено", "cancelled": "Скасовано"}
REFRESH_SECONDS = 10

CSS = """
body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2430}
header{background:#1f4e8c;color:#fff;padding:.6rem 1rem;display:flex;gap:1.2rem;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:1rem;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d5d9e0;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.92rem}
th{background:#eef1f5}
section{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:.8rem 1rem;margin:0 0 1rem}
form{margin:.3rem 0}
label{display:block;margin:.35rem 0 .1rem;font-weight:600}
textarea{width:100%;min-height:4rem}
.error{background:#fde8e8;border:1px solid #e0a0a0;padding:.6rem;margin-bottom:1rem}
.pending{color:#a05a00;font-weight:600}
dl{display:grid;grid-template-columns:14rem 1fr;gap:.25rem .8rem}
dt{font-weight:600}
dd{margin:0;white-space:pre-wrap}
"""


def e(value: Any) -> str:
    """HTML-escape anything (``None`` → empty)."""
    return "" if value is None else escape(str(value), quote=True)


def tid(name: str) -> str:
    """``id`` and ``data-testid`` with the same (escaped) value."""
    return f'id="{e(name)}" data-testid="{e(name)}"'


def layout(title: str, body: str, *, refresh: bool = False, status: int = 200, error: str | None = None
           ) -> web.Response:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    box = f'<div class="error" {tid("error")} role="alert">{e(error)}</div>' if error else ""
    html = f"""<!doctype html>
<html lang="uk"><head><meta charset="utf-8"><title>{e(title)} — симулятор контакт-центру</title>{meta}
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body><header><span>Контакт-центр (симулятор)</span>
<a href="/" {tid("nav-requests")}>Звернення</a><a href="/faults" {tid("nav-faults")}>Збої</a>
<a href="/outages" {tid("nav-outages")}>Відключення</a></header>
<main><h1>{e(title)}</h1>{box}{body}</main></body></html>"""
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


def _sim(request: web.Request) -> Simulator:
    return request.app[SIM]


def _not_found(what: str) -> web.HTTPNotFound:
    page = layout(what, '<p><a href="/">← До списку</a></p>')
    return web.HTTPNotFound(text=page.text, content_type="text/html", headers={"Cache-Control": "no-store"})


def _see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


def _number(r: ServiceRequest) -> str:
    if r.service_request_id is None:
        return '<span class="pending">очікує номера</span>'
    return e(r.service_request_id)


def _excerpt(text: str | None, limit: int = 80) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----- list ---------------------------------------------------------------------------------------
@routes.get("/")
async def index(request: web.Request) -> web.Response:
    rows = []
    for r in _sim(request).newest_first():
        rows.append(
            f'<tr data-testid="request-row" data-key="{e(r.key)}" data-number="{e(r.service_request_id)}">'
            f'<td><a href="/requests/{e(r.key)}" {tid("open-" + r.key)}>{_number(r)}</a></td>'
            f"<td>{e(r.service['service_name'])}</td><td>{e(r.get('address_string') or _place(r))}</td>"
            f"<td>{e(_excerpt(r.get('description')))}</td>"
            f'<td data-testid="row-status" data-status="{e(r.detail_status)}">{e(statuses.label(r.detail_status))}</td>'
            f'<td data-testid="row-deadline">{e(kyiv_text(r.expected_at))}</td>'
            f"<td>{e(kyiv_text(r.requested_at))}</td></tr>")
    table = (f'<table {tid("requests")}><thead><tr><th>Номер</th><th>Категорія</th><th>Адреса</th><th>Опис</th>'
             f"<th>Статус</th><th>Термін</th><th>Надійшло</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
             if rows else f'<p {tid("no-requests")}>Звернень поки немає.</p>')
    faults = _sim(request).faults
    warn = []
    if faults.down:
        warn.append("Open311 «лежить» (503)")
    if faults.slow_seconds:
        warn.append(f"повільні відповіді: {faults.slow_seconds} с")
    if faults.answer_with == "token":
        warn.append("відповідь токенами")
    if faults.refuse:
        warn.append(f"відмова {faults.refuse}")
    note = (f'<p {tid("faults-summary")}>Увімкнені збої: {e(", ".join(warn))}. <a href="/faults">Змінити</a></p>'
            if warn else "")
    return layout("Вхідні звернення", f"<p>Нові — вгорі; список оновлюється кожні {REFRESH_SECONDS} с.</p>"
                  + note + table, refresh=True)


def _place(r: ServiceRequest) -> str:
    if r.lat is not None:
        return f"{r.lat:.5f}, {r.long:.5f}"
    return r.get("address_id") or ""


# ----- one request -------------------------------------------------------------------------------
def _find(request: web.Request) -> ServiceRequest:
    try:
        return _sim(request).find(request.match_info["key"])
    except NotFound:
        raise _not_found("Звернення не знайдено")


def _attribute_rows(r: ServiceRequest) -> str:
    defined = {a["code"]: a for a in r.service.get("attributes") or []}
    rows = []
    for code, value in r.attributes.items():
        attr = defined.get(code, {})
        names = {v["key"]: v["name"] for v in attr.get("values") or []}
        values = value if isinstance(value, list) else [value]
        shown = ", ".join(names.get(v, v) for v in values)
        rows.append(f'<dt>{e(attr.get("description") or code)}</dt><dd data-testid="attr-{e(code)}">{e(shown)}</dd>')
    return "".join(rows) or "<dt>—</dt><dd>немає</dd>"


def _options(choices: Any, selected: str | None = None) -> str:
    return "".join(f'<option value="{e(v)}"{" selected" if v == selected else ""}>{e(label)}</option>'
                   for v, label in choices)


def render_request(sim: Simulator, r: ServiceRequest, *, error: str | None = None, status: int = 200
                   ) -> web.Response:
    name = " ".join(x for x in (r.get("first_name"), r.get("last_name")) if x) or "—"
    media = r.get("media_url")
    media_html = f'<a href="{e(media)}" rel="noreferrer noopener" target="_blank">{e(media)}</a>' if media else "—"
    facts = [
        ("Номер", _number(r), "number"), ("Токен", e(r.token or "—"), "token"),
        ("Категорія", e(f"{r.service['service_name']} ({r.service_code})"), "category"),
        ("Група", e(r.service.get("group")), "group"),
        ("Статус", e(f"{statuses.label(r.detail_status)} ({r.detail_status}; Open311: {r.status})"), "status"),
        ("Коментар до статусу", e(r.status_notes or "—"), "status-notes-shown"),
        ("Термін виконання", e(kyiv_text(r.expected_at)), "deadline"),
        ("Надійшло", e(kyiv_text(r.requested_at)), "requested"), ("Оновлено", e(kyiv_text(r.updated_at)), "updated"),
        ("Адреса", e(r.get("address_string") or "—"), "address"), ("address_id", e(r.get("address_id") or "—"), "address-id"),
        ("Координати", e(f"{r.lat}, {r.long}" if r.lat is not None else "—"), "coordinates"),
        ("Опис", e(r.get("description") or "—"), "description"), ("Фото", media_html, "media"),
        ("Заявник", e(name), "resident-name"), ("Телефон", e(r.get("phone") or "—"), "resident-phone"),
        ("Email", e(r.get("email") or "—"), "resident-email"), ("account_id", e(r.account_id or "—"), "account-id"),
        ("device_id", e(r.get("device_id") or "—"), "device-id"),
        ("Idempotency-Key", e(r.idempotency_key or "—"), "idempotency-key"),
    ]
    dl = "".join(f'<dt>{label}</dt><dd data-testid="fact-{k}">{v}</dd>' for label, v, k in facts)
    base = f"/requests/{e(r.key)}"
    if r.service_request_id is None:
        actions = f"""<section><h2>Присвоїти номер</h2>
<form method="post" action="{base}/assign" {tid("assign-form")}>
<label for="assign-number">Номер (порожньо — наступний за порядком)</label>
<input name="service_request_id" {tid("assign-number")} maxlength="64">
<button type="submit" {tid("assign-submit")}>Присвоїти номер</button></form>
<p>Статус і результат можна змінити після присвоєння номера.</p></section>"""
    else:
        move = _options(((s, statuses.label(s)) for s in statuses.MOVE_CHOICES), r.detail_status)
        close = _options((s, statuses.label(s)) for s in statuses.CLOSE_CHOICES)
        actions = f"""<section><h2>Змінити статус</h2>
<form method="post" action="{base}/status" {tid("status-form")}>
<label for="status-select">Новий статус</label><select name="status" {tid("status-select")}>{move}</select>
<label for="status-notes">Коментар для заявника</label><textarea name="notes" {tid("status-notes")} maxlength="4000"></textarea>
<button type="submit" {tid("status-submit")}>Змінити статус</button></form></section>
<section><h2>Результат і закриття</h2>
<form method="post" action="{base}/close" {tid("close-form")}>
<label for="close-status">Підсумок</label><select name="status" {tid("close-status")}>{close}</select>
<label for="close-outcome">Що зроблено (побачить заявник)</label>
<textarea name="notes" {tid("close-outcome")} maxlength="4000" required></textarea>
<button type="submit" {tid("close-submit")}>Закрити звернення</button></form></section>"""
    local = r.expected_at.astimezone(KYIV) if r.expected_at else None
    deadline = f"""<section><h2>Термін виконання (Київ)</h2>
<form method="post" action="{base}/deadline" {tid("deadline-form")}>
<label for="deadline-date">Дата</label><input type="date" name="date" {tid("deadline-date")} value="{e(local.strftime("%Y-%m-%d") if local else "")}">
<label for="deadline-time">Час</label><input type="time" name="time" {tid("deadline-time")} value="{e(local.strftime("%H:%M") if local else "18:00")}">
<button type="submit" {tid("deadline-submit")}>Встановити термін</button>
<button type="submit" name="clear" value="1" {tid("deadline-clear")}>Прибрати термін</button></form></section>"""
    history_rows = "".join(
        f'<tr data-testid="history-row"><td>{e(u.update_id)}</td><td>{e(kyiv_text(u.at))}</td>'
        f"<td>{e(statuses.label(u.status))} ({e(u.status)})</td><td>{e(u.description)}</td></tr>" for u in r.updates)
    history = (f'<table {tid("history")}><thead><tr><th>update_id</th><th>Час</th><th>Статус</th><th>Коментар</th>'
               f"</tr></thead><tbody>{history_rows}</tbody></table>" if history_rows else "<p>Змін статусу ще не було.</p>")
    rating = sim.ratings.get(r.service_request_id or "")
    rating_html = (f'<p {tid("rating")} data-rating="{rating.rating}">Оцінка: {rating.rating} з 5'
                   f'{" — " + e(rating.comment) if rating.comment else ""}</p>'
                   if rating else f'<p {tid("rating")} data-rating="">Оцінки ще немає.</p>')
    form_rows = "".join(f"<tr><td>{e(k)}</td><td>{e('•••' if k == 'api_key' else v)}</td></tr>" for k, v in r.form)
    header_rows = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in r.headers.items())
    body = f"""<p><a href="/" {tid("back")}>← До списку</a></p>
<section><h2>Дані звернення</h2><dl {tid("facts")}>{dl}</dl>
<h3>Додаткові поля категорії</h3><dl {tid("attributes")}>{_attribute_rows(r)}</dl></section>
{actions}{deadline}
<section><h2>Історія статусів</h2>{history}</section>
<section><h2>Оцінка заявника</h2>{rating_html}</section>
<section><h2>Отримані поля форми</h2><table {tid("form-fields")}><tbody>{form_rows}</tbody></table>
<h3>Заголовки запиту</h3><table {tid("headers")}><tbody>{header_rows}</tbody></table></section>"""
    title = f"Звернення {r.service_request_id}" if r.service_request_id else "Звернення (очікує номера)"
    return layout(title, body, error=error, status=status)


@routes.get("/requests/{key}")
async def show_request(request: web.Request) -> web.Response:
    return render_request(_sim(request), _find(request))


async def _act(request: web.Request, action: Any) -> web.Response:
    """Run ``action(sim, r, form)``; redirect on success, re-render with the error on bad input."""
    sim, r = _sim(request), _find(request)
    form = await request.post()
    fields = {k: str(form.getone(k)) for k in form}
    try:
        action(sim, r, fields)
    except (ValueError, Conflict) as exc:
        return render_request(sim, r, error=str(exc), status=400)
    raise _see_other(f"/requests/{r.key}")


@routes.post("/requests/{key}/assign")
async def assign(request: web.Request) -> web.Response:
    def act(sim: Simulator, r: ServiceRequest, f: dict[str, str]) -> None:
        if r.token is None:
            raise Conflict("це звернення вже має номер")
        sim.assign(r.token, f.get("service_request_id", "").strip() or None)
    return await _act(request, act)


@routes.post("/requests/{key}/status")
async def move_status(request: web.Request) -> web.Response:
    def act(sim: Simulator, r: ServiceRequest, f: dict[str, str]) -> None:
        if f.get("status") not in statuses.MOVE_CHOICES:
            raise ValueError("оберіть статус зі списку")
        sim.set_status(r.key, f["status"], f.get("notes"))
    return await _act(request, act)


@routes.post("/requests/{key}/close")
async def close(request: web.Request) -> web.Response:
    def act(sim: Simulator, r: ServiceRequest, f: dict[str, str]) -> None:
        if f.get("status") not in statuses.CLOSE_CHOICES:
            raise ValueError("оберіть підсумок зі списку")
        if not f.get("notes", "").strip():
            raise ValueError("опишіть, що зроблено — це побачить заявник")
        sim.set_status(r.key, f["status"], f["notes"])
    return await _act(request, act)


def _kyiv_datetime(date: str, time: str, what: str) -> datetime:
    try:
        return parse_iso(f"{date.strip()}T{(time.strip() or '18:00')}")
    except ValueError:
        raise ValueError(f"{what}: вкажіть дату (рррр-мм-дд) і час (ГГ:ХХ)")


@routes.post("/requests/{key}/deadline")
async def deadline(request: web.Request) -> web.Response:
    def act(sim: Simulator, r: ServiceRequest, f: dict[str, str]) -> None:
        if f.get("clear"):
            sim.set_deadline(r.key, None)
        else:
            sim.set_deadline(r.key, _kyiv_datetime(f.get("date", ""), f.get("time", ""), "Термін"))
    return await _act(request, act)


# ----- faults ---------------------------------------------------------------------------------------
def render_faults(sim: Simulator, *, error: str | None = None, status: int = 200) -> web.Response:
    f = sim.faults
    answer = _options([("id", "Одразу номер (service_request_id)"), ("token", "Токен, номер пізніше")], f.answer_with)
    refuse = _options([("", "Не відмовляти"), ("400", "400 — некоректні дані"), ("403", "403 — доступ заборонено"),
                       ("404", "404 — послугу не знайдено")], str(f.refuse or ""))
    body = f"""<section><h2>Поточний стан</h2><pre {tid("faults-state")}>{e(f.to_dict())}</pre></section>
<section><form method="post" action="/faults" {tid("faults-form")}>
<label><input type="checkbox" name="down" value="1" {tid("fault-down")}{" checked" if f.down else ""}> Контакт-центр недоступний (503 на всіх адресах Open311)</label>
<label for="fault-slow">Затримка відповіді, с</label><input type="number" name="slow_seconds" min="0" max="600" step="0.1" {tid("fault-slow")} value="{e(f.slow_seconds)}">
<label for="fault-answer-with">Відповідь на нове звернення</label><select name="answer_with" {tid("fault-answer-with")}>{answer}</select>
<label for="fault-token-delay">Токен отримує номер через, с (порожньо — лише коли оператор присвоїть)</label>
<input type="number" name="token_delay_seconds" min="0" step="0.1" {tid("fault-token-delay")} value="{e(f.token_delay_seconds)}">
<label for="fault-refuse">Відмова на POST requests.json</label><select name="refuse" {tid("fault-refuse")}>{refuse}</select>
<label for="fault-refuse-count">Скільки наступних звернень відхилити (порожньо — усі, доки не вимкнете)</label>
<input type="number" name="refuse_count" min="1" step="1" {tid("fault-refuse-count")} value="{e(f.refuse_count)}">
<p><button type="submit" {tid("faults-submit")}>Застосувати</button></p></form></section>"""
    return layout("Збої контакт-центру", body, error=error, status=status)


@routes.get("/faults")
async def faults_page(request: web.Request) -> web.Response:
    return render_faults(_sim(request))


def _number_field(f: dict[str, str], name: str, kind: type, label: str) -> Any:
    text = f.get(name, "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{label}: очікується число")


@routes.post("/faults")
async def set_faults(request: web.Request) -> web.Response:
    sim = _sim(request)
    form = await request.post()
    f = {k: str(form.getone(k)) for k in form}
    try:
        slow = _number_field(f, "slow_seconds", float, "Затримка")
        refuse = _number_field(f, "refuse", int, "Відмова")
        sim.faults.update({
            "down": bool(f.get("down")), "slow_seconds": slow or 0.0, "answer_with": f.get("answer_with", "id"),
            "token_delay_seconds": _number_field(f, "token_delay_seconds", float, "Затримка токена"),
            "refuse": refuse, "refuse_count": _number_field(f, "refuse_count", int, "Кількість") if refuse else None,
        })
    except ValueError as exc:
        return render_faults(sim, error=str(exc), status=400)
    raise _see_other("/faults")


# ----- outages ---------------------------------------------------------------------------------------
def render_outages(sim: Simulator, *, error: str | None = None, status: int = 200) -> web.Response:
    rows = []
    for outage_id in reversed(list(sim.outages)):
        o = sim.outage(outage_id)
        oid = o["outage_id"]
        where = "усе місто" if o["city_wide"] else "; ".join(
            f"{a['street']} {a['houses']}".strip() for a in o["addresses"])
        ends = parse_iso(o["ends_at"]) if o["ends_at"] else None
        actions = ""
        if o["status"] == "active":
            actions = f"""<form method="post" action="/outages/{e(oid)}/status">
<button name="status" value="resolved" {tid("resolve-" + oid)}>Відновлено</button>
<button name="status" value="cancelled" {tid("cancel-" + oid)}>Скасувати</button></form>
<form method="post" action="/outages/{e(oid)}/ends">
<input type="date" name="date" {tid("ends-date-" + oid)}><input type="time" name="time" {tid("ends-time-" + oid)}>
<button type="submit" {tid("move-" + oid)}>Змінити завершення</button></form>"""
        rows.append(
            f'<tr data-testid="outage-row" data-outage-id="{e(oid)}" data-status="{e(o["status"])}">'
            f"<td>{e(oid)}</td><td>{e(KIND_LABELS[o['kind']])}</td><td>{e(UTILITY_LABELS[o['utility']])}</td>"
            f"<td>{e(o['settlement'])}: {e(where)}</td><td>{e(kyiv_text(parse_iso(o['starts_at'])))}</td>"
            f"<td>{e(kyiv_text(ends))}</td><td>{e(OUTAGE_STATUS_LABELS[o['status']])}</td>"
            f"<td>{e(o['description'])}</td><td>{actions}</td></tr>")
    table = (f'<table {tid("outages")}><thead><tr><th>id</th><th>Вид</th><th>Послуга</th><th>Де</th><th>Початок</th>'
             f"<th>Завершення</th><th>Стан</th><th>Опис</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
             if rows else f'<p {tid("no-outages")}>Відключень немає.</p>')
    kinds = _options(KIND_LABELS.items())
    utilities = _options((u, UTILITY_LABELS[u]) for u in OUTAGE_UTILITIES)
    body = f"""<section><h2>Нове відключення</h2><form method="post" action="/outages" {tid("outage-form")}>
<label for="outage-kind">Вид</label><select name="kind" {tid("outage-kind")}>{kinds}</select>
<label for="outage-utility">Послуга</label><select name="utility" {tid("outage-utility")}>{utilities}</select>
<label for="outage-settlement">Населений пункт</label><input name="settlement" {tid("outage-settlement")} value="{e(sim.settlement)}">
<label><input type="checkbox" name="city_wide" value="1" {tid("outage-city-wide")}> Усе місто</label>
<label for="outage-addresses">Адреси: рядок на вулицю, «вулиця | будинки» (будинки: 1-15, 2-20 парні, 12а; порожньо — уся вулиця)</label>
<textarea name="addresses" {tid("outage-addresses")}></textarea>
<label for="outage-starts-date">Початок (Київ)</label><input type="date" name="starts_date" {tid("outage-starts-date")}>
<input type="time" name="starts_time" {tid("outage-starts-time")}>
<label for="outage-ends-date">Орієнтовне завершення (Київ)</label><input type="date" name="ends_date" {tid("outage-ends-date")}>
<input type="time" name="ends_time" {tid("outage-ends-time")}>
<label for="outage-description">Опис</label><textarea name="description" {tid("outage-description")}></textarea>
<label for="outage-phone">Телефон для довідок</label><input name="contact_phone" {tid("outage-phone")}>
<p><button type="submit" {tid("outage-submit")}>Опублікувати</button></p></form></section>
<section><h2>Стрічка відключень</h2>{table}</section>"""
    return layout("Відключення (стрічка для розсилок)", body, error=error, status=status)


@routes.get("/outages")
async def outages_page(request: web.Request) -> web.Response:
    return render_outages(_sim(request))


def _addresses(text: str) -> list[dict[str, str]]:
    result = []
    for line in text.splitlines():
        if not line.strip():
            continue
        street, _, houses = line.partition("|")
        result.append({"street": street.strip(), "houses": houses.strip()})
    return result


@routes.post("/outages")
async def add_outage(request: web.Request) -> web.Response:
    sim = _sim(request)
    form = await request.post()
    f = {k: str(form.getone(k)) for k in form}
    try:
        data: dict[str, Any] = {
            "kind": f.get("kind", ""), "utility": f.get("utility", ""), "settlement": f.get("settlement", "").strip(),
            "city_wide": bool(f.get("city_wide")), "addresses": _addresses(f.get("addresses", "")),
            "description": f.get("description", "").strip(), "contact_phone": f.get("contact_phone", "").strip(),
        }
        if f.get("starts_date", "").strip():
            data["starts_at"] = _kyiv_datetime(f["starts_date"], f.get("starts_time", ""), "Початок").isoformat()
        if f.get("ends_date", "").strip():
            data["ends_at"] = _kyiv_datetime(f["ends_date"], f.get("ends_time", ""), "Завершення").isoformat()
        sim.add_outage(data)
    except ValueError as exc:
        return render_outages(sim, error=str(exc), status=400)
    raise _see_other("/outages")


@routes.post("/outages/{id}/status")
async def outage_status(request: web.Request) -> web.Response:
    sim = _sim(request)
    form = await request.post()
    try:
        if form.get("status") not in ("resolved", "cancelled"):
            raise ValueError("невідомий стан відключення")
        sim.update_outage(request.match_info["id"], {"status": str(form["status"])})
    except NotFound:
        raise _not_found("Відключення не знайдено")
    except ValueError as exc:
        return render_outages(sim, error=str(exc), status=400)
    raise _see_other("/outages")


@routes.post("/outages/{id}/ends")
async def outage_ends(request: web.Request) -> web.Response:
    sim = _sim(request)
    form = await request.post()
    f = {k: str(form.getone(k)) for k in form}
    try:
        ends = _kyiv_datetime(f.get("date", ""), f.get("time", ""), "Завершення")
        sim.update_outage(request.match_info["id"], {"ends_at": ends.isoformat()})
    except NotFound:
        raise _not_found("Відключення не знайдено")
    except ValueError as exc:
        return render_outages(sim, error=str(exc), status=400)
    raise _see_other("/outages")
