"""The staff's web panel (issue 9): server-rendered pages (aiohttp-jinja2) with htmx
(vendored in ``static/vendor``) on top of the REST API.

- **Every action is an API call**: a page calls the handler of the documented route
  (``Api.routes``, the same table that feeds the OpenAPI document) with a ``Call`` built
  from the form — same validation, same repository code, same audit and outbox — not HTTP
  to itself. :meth:`Panel.api` refuses a route that is not in the table.
- **Sessions** live in the service's database (collection ``sessions``: the SHA-256 of
  the cookie's random id, the account, the CSRF token, the expiry; a TTL index removes
  them). The cookie is HttpOnly, SameSite=Lax, Secure when ``ADMIN_COOKIE_SECURE``. Every
  request re-reads the account, so a deactivation, a role change or a password reset
  takes effect at once (``StaffRepository.end_sessions`` deletes the sessions).
- **CSRF**: every POST carries the session's token (a hidden ``csrf`` field, or the
  ``X-CSRF-Token`` header htmx sends from ``hx-headers``); without it → 403 and nothing
  happens. The login form uses a double-submit cookie (no session exists yet).
- **Roles** are checked on every page and action: viewer reads, editor publishes and
  changes outages, admin manages accounts and reads the audit log.
- Pages work without JavaScript (plain forms, a ``<datalist>`` of streets, a «Перевірити»
  button instead of the live preview); htmx only adds the live bits.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import aiohttp_jinja2
import jinja2
import structlog
from aiohttp import web
from multidict import CIMultiDict
from pydantic import BaseModel, ValidationError
from yarl import URL

from chatbot_common.directory import CityData
from chatbot_common.directory.house_spec import describe
from chatbot_common.events import OutageState, utcnow
from chatbot_common.store import Store
from chatbot_common.texts import catalog

from .errors import ApiError
from .http import Api, Call, from_validation_error
from .outages import OutageCreate, Validator
from .settings import AdminSettings
from .staff import Role, Staff, StaffRepository

log = structlog.get_logger("admin.panel")

KYIV = ZoneInfo("Europe/Kyiv")
PREFIX = "/panel"
SESSION_COOKIE = "admin_session"
LOGIN_CSRF_COOKIE = "admin_login_csrf"
SESSIONS = "sessions"
ROWS_MIN = 3
STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"
ROLE_LABELS = {"admin": "адміністратор", "editor": "редактор", "operator": "оператор", "viewer": "переглядач"}
STATE_LABELS = {"active": "діє", "resolved": "відновлено", "cancelled": "скасовано"}
OK_MESSAGES = {
    "created": "Обліковий запис створено.", "role": "Роль змінено.", "deactivated": "Обліковий запис вимкнено.",
    "reactivated": "Обліковий запис увімкнено.", "password": "Пароль змінено; сеанси цього працівника завершено.",
    "resolved": "Відключення позначено як відновлене; мешканців буде повідомлено.",
    "cancelled": "Відключення скасовано; мешканців буде повідомлено.",
    "published": "Відключення опубліковано; розсилка почалася.", "updated": "Зміни збережено й опубліковано.",
    "unchanged": "Нічого не змінилося.",
    "info_saved": "Збережено: бот покаже зміни мешканцям за кілька секунд.",
    "info_deleted": "Видалено: бот перестане це показувати за кілька секунд.",
}
_PYDANTIC_UK = (("Field required", "обов'язкове поле"), ("Input should be a valid datetime", "вкажіть дату й час"),
                ("Input should be", "некоректне значення"), ("String should have at least", "занадто коротко"),
                ("String should have at most", "занадто довго"), ("List should have at most", "забагато рядків"))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _uk(message: str) -> str:
    for prefix, text in _PYDANTIC_UK:
        if message.startswith(prefix):
            return text
    return message


def field_id(path: str) -> str:
    """``addresses[1].street`` → ``f-addresses-1-street`` (an HTML id)."""
    return "f-" + "".join(c if c.isalnum() else "-" for c in path).strip("-").replace("--", "-")


def kyiv(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
    return value.astimezone(KYIV).strftime(fmt) if value else ""


def parse_local(raw: str) -> str:
    """A ``datetime-local`` value (Europe/Kyiv wall time) → ISO-8601 with its offset; an
    unreadable value is passed on unchanged so the API names the field."""
    raw = raw.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    if value.tzinfo is None:
        value = value.replace(tzinfo=KYIV)
    return value.isoformat()


@dataclass
class Ctx:
    """What a page handler gets: the request, the signed-in account, its session, the form."""

    request: web.Request
    staff: Staff
    session: dict[str, Any]
    form: dict[str, str] = field(default_factory=dict)
    multi: Any = None


@dataclass
class InProcessRequest:
    """What an API handler reads of its request (``query``, ``headers``, ``app``) when
    the panel runs it in-process: the panel's own request has its form body read
    already and must not be mistaken for the API call's."""

    rel_url: URL
    headers: CIMultiDict[str]
    app: web.Application

    @property
    def query(self) -> Any:
        return self.rel_url.query


PageHandler = Callable[[Ctx], Awaitable[web.StreamResponse]]


class Panel:
    def __init__(self, *, settings: AdminSettings, api: Api, staff: StaffRepository, city: CityData,
                 store: Store) -> None:
        self.settings = settings
        self.api_table = {(r.method, r.path): r for r in api.routes}
        self.staff = staff
        self.city = city
        self.validator = Validator(city)
        self.sessions = store[SESSIONS]
        self.t = catalog()

    async def setup(self) -> None:
        await self.sessions.create_index("expires_at", expireAfterSeconds=0)
        await self.sessions.create_index("staff_id")

    # ------------------------------------------------------------------ mounting

    def mount(self, app: web.Application) -> None:
        env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                                   autoescape=jinja2.select_autoescape(default=True),
                                   undefined=jinja2.StrictUndefined)
        env.filters["kyiv"] = kyiv
        env.globals.update(field_id=field_id, ROLE_LABELS=ROLE_LABELS, STATE_LABELS=STATE_LABELS, P=PREFIX,
                           utility=lambda u: self.t(f"utility.{u}"), kind=lambda k: self.t(f"outage_kind.{k}"),
                           describe=describe)
        app.router.add_static(f"{PREFIX}/static/", STATIC, append_version=True)
        app.router.add_get("/", _to_panel)
        app.router.add_get(PREFIX, _to_panel)
        app.router.add_get(f"{PREFIX}/login", self.login_form)
        app.router.add_post(f"{PREFIX}/login", self.login)
        from . import panel_pages  # the pages themselves

        panel_pages.register(self, app)
        from . import faq_pages  # the knowledge base and residents' questions (C3)

        faq_pages.register(self, app)
        from . import mailings_pages  # staff mailings to segments and greetings (S7, C9)

        mailings_pages.register(self, app)
        from . import surveys_pages  # surveys: the builder, publishing, results (C8)

        surveys_pages.register(self, app)

    def page(self, role: Role) -> Callable[[PageHandler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
        """Session, CSRF (on POST) and role checks around a page handler."""

        def wrap(handler: PageHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
            async def endpoint(request: web.Request) -> web.StreamResponse:
                found = await self.current(request)
                if found is None:
                    target = f"{PREFIX}/login?next={request.rel_url.path}" if request.method == "GET" \
                        else f"{PREFIX}/login"
                    if request.headers.get("HX-Request"):
                        return web.Response(status=401, headers={"HX-Redirect": target})
                    return _redirect(target)
                staff, session = found
                form: dict[str, str] = {}
                multi = None
                if request.method == "POST":
                    multi = await request.post()
                    form = {k: v for k, v in multi.items() if isinstance(v, str)}
                    token = form.get("csrf") or request.headers.get("X-CSRF-Token") or ""
                    if not hmac.compare_digest(token.encode(), session["csrf"].encode()):
                        log.info("panel.csrf_refused", staff_id=staff.id, path=request.rel_url.path)
                        return self.error(request, staff, session, 403,
                                          "Форму відхилено: немає або неправильний ключ захисту (CSRF). "
                                          "Відкрийте сторінку знову й повторіть.")
                if not staff.role.at_least(role):
                    return self.error(request, staff, session, 403,
                                      f"Недостатньо прав: потрібна роль «{ROLE_LABELS[role.value]}» або вища.")
                return await handler(Ctx(request, staff, session, form, multi))

            endpoint.__name__ = handler.__name__
            return endpoint

        return wrap

    # ------------------------------------------------------------------ sessions

    async def current(self, request: web.Request) -> tuple[Staff, dict[str, Any]] | None:
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        session = await self.sessions.find_one({"_id": _digest(sid)})
        if session is None or session["expires_at"] <= utcnow():
            return None
        staff = await self.staff.get(session["staff_id"])
        if staff is None or not staff.active:
            return None
        return staff, session

    async def login_form(self, request: web.Request, *, error: str | None = None, status: int = 200,
                         email: str = "") -> web.Response:
        if await self.current(request) is not None and error is None:
            return _redirect(f"{PREFIX}/")
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
        response = aiohttp_jinja2.render_template("login.html", request, {
            "csrf": token, "error": error, "email": email, "next": _safe_next(request.query.get("next")),
            "staff": None}, status=status)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Lax", path=PREFIX,
                            secure=self.settings.admin_cookie_secure)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        given = str(form.get("csrf", ""))
        if not cookie or not hmac.compare_digest(cookie.encode(), given.encode()):
            return await self.login_form(request, error="Форму відхилено (CSRF): відкрийте сторінку входу знову.",
                                         status=403)
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        try:
            account = await self.staff.check_credentials(email, password)
        except ApiError as exc:
            return await self.login_form(request, error=exc.message, status=exc.status, email=email)
        sid = secrets.token_urlsafe(32)
        now = utcnow()
        await self.sessions.insert_one({
            "_id": _digest(sid), "staff_id": account["_id"], "csrf": secrets.token_urlsafe(32), "created_at": now,
            "expires_at": now + timedelta(seconds=self.settings.admin_session_ttl_seconds)})
        log.info("panel.login", staff_id=account["_id"])
        response = _redirect(_safe_next(str(form.get("next", ""))))
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Lax", path="/",
                            secure=self.settings.admin_cookie_secure,
                            max_age=self.settings.admin_session_ttl_seconds)
        response.del_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
        return response

    async def logout(self, ctx: Ctx) -> web.StreamResponse:
        await self.sessions.delete_one({"_id": ctx.session["_id"]})
        response = _redirect(f"{PREFIX}/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    # ------------------------------------------------------------------ rendering

    def render(self, ctx: Ctx, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
        return aiohttp_jinja2.render_template(template, ctx.request, {
            "staff": ctx.staff, "csrf": ctx.session["csrf"], "path": ctx.request.rel_url.path, **context},
            status=status)

    def error(self, request: web.Request, staff: Staff, session: dict[str, Any], status: int,
              message: str) -> web.Response:
        return self.render(Ctx(request, staff, session), "error.html", {"status": status, "message": message},
                           status=status)

    # ------------------------------------------------------------------ the API, in-process

    async def api(self, ctx: Ctx, method: str, path: str, *, body: dict[str, Any] | None = None,
                  params: dict[str, str] | None = None, query: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None) -> Any:
        """Run the documented route ``method path`` (as in the OpenAPI document) for the
        signed-in account: its role check, body model, handler and repository code.
        Raises :class:`ApiError` (422 with field paths, 403, 404, 409 …)."""
        route = self.api_table[(method, path)]  # KeyError: not a documented route — a bug
        if route.role is not None and not ctx.staff.role.at_least(route.role):
            raise ApiError(403, "forbidden", "Недостатньо прав")
        parsed: BaseModel | None = None
        if route.body is not None:
            try:
                parsed = route.body.model_validate(body or {})
            except ValidationError as exc:
                raise from_validation_error(exc) from None
        request = InProcessRequest(URL(route.full_path.format(**(params or {}))).with_query(query or {}),
                                   CIMultiDict(headers or {}), ctx.request.app)
        try:
            result = await route.handler(Call(request, ctx.staff, parsed, dict(params or {})))  # type: ignore[arg-type]
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        if isinstance(result, web.Response) and route.response is not None and isinstance(route.response, type):
            return route.response.model_validate_json(result.text or "{}")
        return result

    # ------------------------------------------------------------------ outage drafts

    def draft(self, body: dict[str, Any]) -> dict[str, Any]:
        """What POST /api/v1/outages would publish, checked the same way (shape with the
        API's model, then the community data with the API's validator), with streets
        resolved to ids and houses expanded — the notifier's audience-preview input."""
        try:
            model = OutageCreate.model_validate(body)
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        addresses, phone = self.validator.check(
            settlement_id=model.settlement_id, city_wide=model.city_wide, addresses=model.addresses,
            starts_at=model.starts_at, ends_at=model.ends_at, contact_phone=model.contact_phone)
        data = model.model_dump(mode="json", exclude={"addresses"})
        data.update(addresses=[a.model_dump() for a in addresses], contact_phone=phone)
        return data

    async def audience(self, draft: dict[str, Any]) -> dict[str, Any] | None:
        """``{"residents", "messages", "cost"}`` from the notifier's
        ``POST {ADMIN_NOTIFIER_URL}/api/audience/preview``; ``None`` (shown «невідомо»)
        when it is not configured or does not answer properly — publishing stays allowed."""
        base = self.settings.admin_notifier_url
        if not base:
            return None
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.post(base.rstrip("/") + "/api/audience/preview", json=draft) as resp:
                if resp.status != 200:
                    log.warning("panel.audience_refused", status=resp.status)
                    return None
                data = await resp.json()
            residents, messages = int(data["residents"]), int(data["messages"])
        except Exception as exc:  # noqa: BLE001 - any failure: the preview says «невідомо»
            log.warning("panel.audience_failed", error=type(exc).__name__)
            return None
        price = self.settings.admin_message_price_uah
        return {"residents": residents, "messages": messages, "cost": f"{messages * price:,.2f}".replace(",", " ")}


async def _to_panel(_request: web.Request) -> web.Response:
    return _redirect(f"{PREFIX}/")


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _safe_next(value: str | None) -> str:
    """Only a path inside the panel (no open redirect)."""
    if value and value.startswith(f"{PREFIX}/") and "//" not in value and "\\" not in value:
        return value
    return f"{PREFIX}/"


def closed(state: str) -> bool:
    return state != OutageState.active.value
