"""In-memory state of the simulated contact center, with no HTTP in it.

:class:`Simulator` holds the service list, every POST received (form fields and headers),
the service requests, their status updates, tokens, ratings and the outage feed, plus
the :class:`Faults` switches. The HTTP layers (``open311``, ``control``, ``operator``)
only translate to and from it, so tests may drive it directly from Python.

Everything runs on one event loop and no method awaits, so each call is atomic.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

from . import statuses
from .timeutil import iso, parse_iso, utcnow

DESCRIPTION_MAX = 4000
STRING_MAX = 255
COMMENT_MAX = 2000
REFUSABLE = (400, 403, 404)


class Open311Error(Exception):
    """A refusal the Open311 API answers as HTTP ``status`` with ``[{code, description}]``."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description

    def body(self) -> list[dict[str, Any]]:
        return [{"code": self.status, "description": self.description}]


class NotFound(LookupError):
    """No request, token or outage with that identifier (control API: 404)."""


class Conflict(ValueError):
    """The operation doesn't fit the object's state, e.g. a status for a token without a number (409)."""


@dataclass
class Faults:
    """Fault switches; set them directly (``sim.faults.down = True``) or through :meth:`update`.

    - ``down``: every Open311 path answers 503 (control API and operator page keep working).
    - ``slow_seconds``: every Open311 answer is delayed this long.
    - ``answer_with``: ``"id"`` (a number at once) or ``"token"`` (resolve later).
    - ``token_delay_seconds``: a token gets its number this long after the POST (checked
      lazily on every read); ``None`` = only when the operator assigns one.
    - ``refuse``: 400, 403 or 404 — POST ``requests.json`` is refused with that code;
      ``refuse_count`` = for the next N POSTs only (``None`` = until cleared).
    """

    down: bool = False
    slow_seconds: float = 0.0
    answer_with: str = "id"
    token_delay_seconds: float | None = 2.0
    refuse: int | None = None
    refuse_count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial change after checking every field (nothing changes on error)."""
        if not isinstance(changes, dict):
            raise ValueError("очікується JSON-об'єкт")
        unknown = set(changes) - set(self.to_dict())
        if unknown:
            raise ValueError(f"невідомі поля: {', '.join(sorted(unknown))}")
        new = Faults(**(self.to_dict() | changes))
        if not isinstance(new.down, bool):
            raise ValueError("down: очікується true або false")
        if isinstance(new.slow_seconds, bool) or not isinstance(new.slow_seconds, (int, float)) \
                or not 0 <= new.slow_seconds <= 600:
            raise ValueError("slow_seconds: число від 0 до 600")
        if new.answer_with not in ("id", "token"):
            raise ValueError('answer_with: "id" або "token"')
        if new.token_delay_seconds is not None and (
                isinstance(new.token_delay_seconds, bool) or not isinstance(new.token_delay_seconds, (int, float))
                or new.token_delay_seconds < 0):
            raise ValueError("token_delay_seconds: невід'ємне число або null")
        if new.refuse is not None and (isinstance(new.refuse, bool) or new.refuse not in REFUSABLE):
            raise ValueError("refuse: 400, 403, 404 або null")
        if new.refuse_count is not None and (
                isinstance(new.refuse_count, bool) or not isinstance(new.refuse_count, int) or new.refuse_count < 1):
            raise ValueError("refuse_count: ціле число від 1 або null")
        for name, value in new.to_dict().items():
            setattr(self, name, value)


@dataclass
class Update:
    """One entry of ``servicerequestupdates.json``."""

    update_id: str
    service_request_id: str
    status: str
    at: datetime
    description: str
    media_url: str | None = None
    external_status_code: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "update_id": self.update_id,
            "service_request_id": self.service_request_id,
            "status": self.status,
            "updated_datetime": iso(self.at),
            "description": self.description,
            "media_url": self.media_url,
            "external_status_code": self.external_status_code,
        }


@dataclass
class Received:
    """One POST to ``requests.json`` exactly as it arrived, and what we answered."""

    seq: int
    at: datetime
    form: list[tuple[str, str]]
    headers: dict[str, str]
    answer_status: int = 0
    answer: Any = None
    request_key: str | None = None
    replayed: bool = False

    def view(self) -> dict[str, Any]:
        return {"seq": self.seq, "received_datetime": iso(self.at), "form": [list(p) for p in self.form],
                "headers": self.headers, "answer_status": self.answer_status, "answer": self.answer,
                "request_key": self.request_key, "replayed": self.replayed}


@dataclass
class ServiceRequest:
    """A request the contact center accepted (with or without a number yet)."""

    key: str
    seq: int
    service: dict[str, Any]
    form: list[tuple[str, str]]
    headers: dict[str, str]
    fields: dict[str, str]
    attributes: dict[str, Any]
    requested_at: datetime
    updated_at: datetime
    expected_at: datetime | None
    lat: float | None
    long: float | None
    account_id: str | None
    idempotency_key: str | None
    service_request_id: str | None = None
    token: str | None = None
    token_issued_at: datetime | None = None
    status: str = "open"
    detail_status: str = "open"
    status_notes: str | None = None
    updates: list[Update] = field(default_factory=list)

    @property
    def service_code(self) -> str:
        return str(self.service["service_code"])

    def get(self, name: str) -> str | None:
        value = self.fields.get(name)
        return value if value not in (None, "") else None

    def record(self) -> dict[str, Any]:
        """The Open311 request record (``requests.json`` item)."""
        return {
            "service_request_id": self.service_request_id,
            "status": self.status,
            "status_notes": self.status_notes,
            "service_name": self.service["service_name"],
            "service_code": self.service_code,
            "description": self.get("description"),
            "agency_responsible": self.service.get("agency_responsible"),
            "service_notice": self.service.get("service_notice"),
            "requested_datetime": iso(self.requested_at),
            "updated_datetime": iso(self.updated_at),
            "expected_datetime": iso(self.expected_at),
            "address": self.get("address_string"),
            "address_id": self.get("address_id"),
            "zipcode": self.get("zipcode"),
            "lat": self.lat,
            "long": self.long,
            "media_url": self.get("media_url"),
        }

    def view(self) -> dict[str, Any]:
        """Everything the control API shows about it (form fields, headers, number, status, deadline)."""
        return {
            "key": self.key,
            "service_request_id": self.service_request_id,
            "token": self.token,
            "service_code": self.service_code,
            "service_name": self.service["service_name"],
            "form": [list(p) for p in self.form],
            "fields": self.fields,
            "attributes": self.attributes,
            "headers": self.headers,
            "idempotency_key": self.idempotency_key,
            "account_id": self.account_id,
            "status": self.status,
            "detail_status": self.detail_status,
            "status_notes": self.status_notes,
            "requested_datetime": iso(self.requested_at),
            "updated_datetime": iso(self.updated_at),
            "expected_datetime": iso(self.expected_at),
            "updates": [u.record() for u in self.updates],
        }


@dataclass
class Rating:
    service_request_id: str
    rating: int
    comment: str | None
    at: datetime
    times: int = 1

    def view(self) -> dict[str, Any]:
        return {"service_request_id": self.service_request_id, "rating": self.rating, "comment": self.comment,
                "rated_datetime": iso(self.at), "times": self.times}


def load_services() -> list[dict[str, Any]]:
    """The packaged Ukrainian service list (``ccsim/data/services.json``)."""
    text = resources.files("ccsim").joinpath("data/services.json").read_text(encoding="utf-8")
    return list(json.loads(text)["services"])


OUTAGE_KINDS = ("planned", "emergency")
OUTAGE_UTILITIES = ("cold_water", "hot_water", "heating", "electricity", "gas", "sewerage", "other")
OUTAGE_STATUSES = ("active", "resolved", "cancelled")
OUTAGE_FIELDS = ("outage_id", "kind", "utility", "settlement", "city_wide", "addresses", "starts_at", "ends_at",
                 "description", "contact_phone", "status")


class Simulator:
    """The contact center's whole state. ``clock`` returns an aware UTC ``datetime``."""

    def __init__(self, services: list[dict[str, Any]] | None = None, *, api_key: str | None = None,
                 jurisdiction_id: str | None = None, settlement: str = "Хмельницький",
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.services = services if services is not None else load_services()
        self.api_key = api_key
        self.jurisdiction_id = jurisdiction_id
        self.settlement = settlement
        self.clock = clock
        self.started_at = clock()
        self.reset()

    # ----- lifecycle -------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything received and restore default faults (services and settings stay)."""
        self.faults = Faults()
        self.posts: list[Received] = []
        self.requests: dict[str, ServiceRequest] = {}
        self.by_id: dict[str, ServiceRequest] = {}
        self.by_token: dict[str, ServiceRequest] = {}
        self.idempotency: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self.updates: list[Update] = []
        self.ratings: dict[str, Rating] = {}
        self.outages: dict[str, dict[str, Any]] = {}
        self._outage_at: dict[str, tuple[datetime, int]] = {}
        self._seq = 0
        self._number = 0
        self._update_no = 0

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    # ----- services ----------------------------------------------------------------------
    def service(self, code: str) -> dict[str, Any] | None:
        return next((s for s in self.services if s["service_code"] == code), None)

    def service_list(self) -> list[dict[str, Any]]:
        return [{"service_code": s["service_code"], "service_name": s["service_name"],
                 "description": s.get("description"), "metadata": bool(s.get("attributes")),
                 "type": s.get("type", "realtime"), "keywords": s.get("keywords"), "group": s.get("group")}
                for s in self.services]

    def service_definition(self, code: str) -> dict[str, Any]:
        service = self.service(code)
        if service is None:
            raise Open311Error(404, f"Послугу з кодом «{code}» не знайдено")
        return {"service_code": code, "attributes": copy.deepcopy(service.get("attributes") or [])}

    # ----- access checks ----------------------------------------------------------------
    def check_key(self, given: str | None) -> None:
        if self.api_key is not None and given != self.api_key:
            raise Open311Error(403, "Невірний або відсутній api_key")

    def check_jurisdiction(self, given: str | None) -> None:
        if self.jurisdiction_id is not None and given not in (None, "", self.jurisdiction_id):
            raise Open311Error(404, f"jurisdiction_id «{given}» не обслуговується")

    # ----- POST requests.json -------------------------------------------------------------
    def submit(self, form: Iterable[tuple[str, str]], headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """File a request from a form; returns the Open311 answer or raises :class:`Open311Error`.

        Every POST is recorded in :attr:`posts` with its answer, refused ones included.
        Order of checks: api_key (403) → jurisdiction (404) → a repeat ``Idempotency-Key``
        returns the first answer → the ``refuse`` fault → the form's own rules (400/404).
        """
        pairs = [(str(k), str(v)) for k, v in form]
        headers = dict(headers or {})
        entry = Received(self._next(), self.clock(), pairs, headers)
        self.posts.append(entry)
        try:
            answer = self._submit(entry)
        except Open311Error as exc:
            entry.answer_status, entry.answer = exc.status, exc.body()
            raise
        entry.answer_status, entry.answer = 200, answer
        return copy.deepcopy(answer)

    def _submit(self, entry: Received) -> list[dict[str, Any]]:
        fields: dict[str, str] = {}
        for name, value in entry.form:
            fields.setdefault(name, value)
        self.check_key(fields.get("api_key"))
        self.check_jurisdiction(fields.get("jurisdiction_id"))
        key = _header(entry.headers, "Idempotency-Key")
        if key:
            seen = self.idempotency.get(key)
            if seen is not None:
                entry.request_key, entry.replayed = seen[0], True
                return copy.deepcopy(seen[1])
        if self.faults.refuse is not None:
            code = self.faults.refuse
            if self.faults.refuse_count is not None:
                self.faults.refuse_count -= 1
                if self.faults.refuse_count <= 0:
                    self.faults.refuse = self.faults.refuse_count = None
            raise Open311Error(code, _REFUSALS[code])
        service, lat, long, attributes = self._check_form(entry.form, fields)
        now = self.clock()
        sla = service.get("sla_hours")
        request = ServiceRequest(
            key=f"r{entry.seq}", seq=entry.seq, service=service, form=entry.form, headers=entry.headers,
            fields={k: v for k, v in fields.items() if k != "api_key"}, attributes=attributes,
            requested_at=now, updated_at=now, expected_at=now + timedelta(hours=sla) if sla else None,
            lat=lat, long=long, account_id=_account_id(fields), idempotency_key=key or None,
        )
        self.requests[request.key] = request
        entry.request_key = request.key
        notice = service.get("service_notice") or "Звернення зареєстровано."
        if self.faults.answer_with == "token":
            request.token = "tk-" + secrets.token_hex(8)
            request.token_issued_at = now
            self.by_token[request.token] = request
            answer: list[dict[str, Any]] = [{"token": request.token, "service_notice": notice}]
        else:
            self._give_number(request)
            answer = [{"service_request_id": request.service_request_id, "service_notice": notice}]
            if request.account_id is not None:
                answer[0]["account_id"] = request.account_id
        if key:
            self.idempotency[key] = (request.key, copy.deepcopy(answer))
        return answer

    def _check_form(self, pairs: list[tuple[str, str]], fields: dict[str, str]
                    ) -> tuple[dict[str, Any], float | None, float | None, dict[str, Any]]:
        code = (fields.get("service_code") or "").strip()
        if not code:
            raise Open311Error(400, "Не вказано service_code (категорію звернення)")
        service = self.service(code)
        if service is None:
            raise Open311Error(404, f"Послугу з кодом «{code}» не знайдено")
        lat = long = None
        lat_text, long_text = (fields.get("lat") or "").strip(), (fields.get("long") or "").strip()
        if lat_text or long_text:
            try:
                lat, long = float(lat_text), float(long_text)
            except ValueError:
                raise Open311Error(400, "lat і long мають бути числами (WGS-84), обидва разом")
            if not (-90 <= lat <= 90 and -180 <= long <= 180):
                raise Open311Error(400, "lat або long поза допустимими межами")
        if lat is None and not (fields.get("address_string") or "").strip() \
                and not (fields.get("address_id") or "").strip():
            raise Open311Error(400, "Не вказано місце: потрібні lat і long, address_string або address_id")
        if len(fields.get("description") or "") > DESCRIPTION_MAX:
            raise Open311Error(400, f"Опис довший за {DESCRIPTION_MAX} символів")
        media = (fields.get("media_url") or "").strip()
        if media:
            parts = urlsplit(media)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise Open311Error(400, "media_url має бути адресою http(s)")
        return service, lat, long, _check_attributes(service, pairs)

    def _give_number(self, request: ServiceRequest, number: str | None = None) -> None:
        if number is None:
            self._number += 1
            number = f"{request.requested_at.year}-{self._number:05d}"
            while number in self.by_id:
                self._number += 1
                number = f"{request.requested_at.year}-{self._number:05d}"
        elif number in self.by_id:
            raise Conflict(f"номер {number} уже зайнятий")
        request.service_request_id = number
        request.updated_at = self.clock()
        self.by_id[number] = request

    # ----- tokens --------------------------------------------------------------------------
    def _tick(self) -> None:
        """Give due tokens their numbers (``token_delay_seconds`` after the POST)."""
        delay = self.faults.token_delay_seconds
        if delay is None:
            return
        now = self.clock()
        for request in self.by_token.values():
            if request.service_request_id is None and request.token_issued_at is not None \
                    and now - request.token_issued_at >= timedelta(seconds=delay):
                self._give_number(request)

    def token(self, token: str) -> list[dict[str, Any]]:
        """``tokens/{token}.json``: the number once given, else just the token (pending)."""
        self._tick()
        request = self.by_token.get(token)
        if request is None:
            raise Open311Error(404, f"Токен «{token}» не знайдено")
        item: dict[str, Any] = {"token": token}
        if request.service_request_id is not None:
            item["service_request_id"] = request.service_request_id
        return [item]

    def assign(self, token: str, number: str | None = None) -> ServiceRequest:
        """The operator gives a token its number (``number`` or the next one)."""
        request = self.by_token.get(token)
        if request is None:
            raise NotFound(f"токен {token} не знайдено")
        if request.service_request_id is None:
            self._give_number(request, number)
        elif number is not None and number != request.service_request_id:
            raise Conflict(f"токен уже має номер {request.service_request_id}")
        return request

    # ----- lookups ---------------------------------------------------------------------------
    def find(self, ident: str) -> ServiceRequest:
        """A request by its number, token or internal key."""
        self._tick()
        request = self.by_id.get(ident) or self.by_token.get(ident) or self.requests.get(ident)
        if request is None:
            raise NotFound(f"звернення {ident} не знайдено")
        return request

    def numbered(self) -> list[ServiceRequest]:
        self._tick()
        return [r for r in self.requests.values() if r.service_request_id is not None]

    def newest_first(self) -> list[ServiceRequest]:
        self._tick()
        return sorted(self.requests.values(), key=lambda r: r.seq, reverse=True)

    def query(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """``GET requests.json`` with the standard filters, updated_after/before and paging."""
        ids = (params.get("service_request_id") or "").strip()
        if ids:
            wanted = [i.strip() for i in ids.split(",") if i.strip()]
            self._tick()
            found = [self.by_id[i] for i in dict.fromkeys(wanted) if i in self.by_id]
            return [r.record() for r in found]
        items = self.numbered()
        codes = {c.strip() for c in (params.get("service_code") or "").split(",") if c.strip()}
        if codes:
            items = [r for r in items if r.service_code in codes]
        wanted_status = {s.strip() for s in (params.get("status") or "").split(",") if s.strip()}
        if wanted_status - {"open", "closed"}:
            raise Open311Error(400, "status: допустимі значення open, closed")
        if wanted_status:
            items = [r for r in items if r.status in wanted_status]
        bounds = {name: _date_param(params, name) for name in ("start_date", "end_date", "updated_after",
                                                                 "updated_before")}
        if bounds["start_date"]:
            items = [r for r in items if r.requested_at >= bounds["start_date"]]
        if bounds["end_date"]:
            items = [r for r in items if r.requested_at <= bounds["end_date"]]
        if bounds["updated_after"]:
            items = [r for r in items if r.updated_at > bounds["updated_after"]]
        if bounds["updated_before"]:
            items = [r for r in items if r.updated_at < bounds["updated_before"]]
        page = _int_param(params, "page", 1, 1, 1_000_000)
        size = _int_param(params, "page_size", 1000, 1, 1000)
        items.sort(key=lambda r: r.seq)
        return [r.record() for r in items[(page - 1) * size: page * size]]

    def request_record(self, number: str) -> list[dict[str, Any]]:
        self._tick()
        request = self.by_id.get(number)
        if request is None:
            raise Open311Error(404, f"Звернення {number} не знайдено")
        return [request.record()]

    def update_feed(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """``servicerequestupdates.json``: updates with start_date <= updated_datetime <= end_date."""
        start, end = _date_param(params, "start_date"), _date_param(params, "end_date")
        items = [u for u in self.updates if (start is None or u.at >= start) and (end is None or u.at <= end)]
        return [u.record() for u in items]

    # ----- operator actions ------------------------------------------------------------
    def _add_update(self, request: ServiceRequest, status: str, description: str,
                    external_status_code: str | None = None, media_url: str | None = None) -> Update:
        assert request.service_request_id is not None
        self._update_no += 1
        update = Update(str(self._update_no), request.service_request_id, status, self.clock(), description,
                        media_url, external_status_code)
        request.updates.append(update)
        self.updates.append(update)
        return update

    def set_status(self, ident: str, status: str, notes: str | None = None, *,
                   external_status_code: str | None = None, media_url: str | None = None) -> Update:
        """Move a numbered request to ``status`` (closing ones close it) and publish an update."""
        status = (status or "").strip()
        if not statuses.valid_status(status):
            raise ValueError("статус: латинські малі літери, цифри та _, наприклад in_progress")
        notes = (notes or "").strip() or None
        if notes is not None and len(notes) > DESCRIPTION_MAX:
            raise ValueError(f"коментар довший за {DESCRIPTION_MAX} символів")
        request = self.find(ident)
        if request.service_request_id is None:
            raise Conflict("звернення ще не має номера: спершу присвойте номер")
        request.detail_status = status
        request.status = "closed" if statuses.is_closing(status) else "open"
        request.status_notes = notes
        request.updated_at = self.clock()
        return self._add_update(request, status, notes or "", external_status_code, media_url)

    def set_deadline(self, ident: str, expected: datetime | None) -> ServiceRequest:
        """Set, move or clear the deadline (``expected_datetime``); bumps ``updated_datetime``."""
        request = self.find(ident)
        request.expected_at = expected
        request.updated_at = self.clock()
        return request

    # ----- extensions ----------------------------------------------------------------------
    def rate(self, number: str, form: dict[str, str]) -> list[dict[str, Any]]:
        self.check_key(form.get("api_key"))
        request = self.by_id.get(number)
        if request is None:
            raise Open311Error(404, f"Звернення {number} не знайдено")
        text = (form.get("rating") or "").strip()
        if not text.isdigit() or not 1 <= int(text) <= 5:
            raise Open311Error(400, "rating: ціле число від 1 до 5")
        comment = (form.get("comment") or "").strip() or None
        if comment is not None and len(comment) > COMMENT_MAX:
            raise Open311Error(400, f"Коментар довший за {COMMENT_MAX} символів")
        before = self.ratings.get(number)
        self.ratings[number] = Rating(number, int(text), comment, self.clock(), before.times + 1 if before else 1)
        return [{"service_request_id": number, "rating": int(text)}]

    def reopen(self, number: str, form: dict[str, str]) -> list[dict[str, Any]]:
        self.check_key(form.get("api_key"))
        request = self.by_id.get(number)
        if request is None:
            raise Open311Error(404, f"Звернення {number} не знайдено")
        reason = (form.get("reason") or "").strip() or None
        if reason is not None and len(reason) > DESCRIPTION_MAX:
            raise Open311Error(400, f"Причина довша за {DESCRIPTION_MAX} символів")
        if request.detail_status != "reopen":  # a repeat of the same reopen adds nothing
            self.set_status(number, "reopen", reason or "Заявник повторно відкрив звернення")
        return [{"service_request_id": number, "status": "open"}]

    # ----- outages -------------------------------------------------------------------------
    def add_outage(self, data: dict[str, Any]) -> dict[str, Any]:
        """Publish an outage in the feed; missing fields get defaults. Raises ``ValueError``."""
        if not isinstance(data, dict):
            raise ValueError("очікується JSON-об'єкт")
        unknown = set(data) - set(OUTAGE_FIELDS)
        if unknown:
            raise ValueError(f"невідомі поля: {', '.join(sorted(unknown))}")
        outage_id = str(data.get("outage_id") or f"out-{len(self.outages) + 1}")
        if outage_id in self.outages:
            raise Conflict(f"відключення {outage_id} уже існує")
        now = self.clock()
        base = {"outage_id": outage_id, "kind": "planned", "utility": "cold_water", "settlement": self.settlement,
                "city_wide": False, "addresses": [], "starts_at": iso(now), "ends_at": None, "description": "",
                "contact_phone": "", "status": "active"}
        outage = _check_outage(base | {k: v for k, v in data.items() if k != "outage_id"})
        self.outages[outage_id] = outage
        self._touch_outage(outage_id)
        return self.outage(outage_id)

    def update_outage(self, outage_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change an outage (e.g. ``{"status": "resolved"}`` or a new ``ends_at``); bumps updated_datetime."""
        if outage_id not in self.outages:
            raise NotFound(f"відключення {outage_id} не знайдено")
        if not isinstance(changes, dict):
            raise ValueError("очікується JSON-об'єкт")
        unknown = set(changes) - set(OUTAGE_FIELDS) - {"outage_id"}
        if unknown or changes.get("outage_id", outage_id) != outage_id:
            raise ValueError(f"невідомі або незмінні поля: {', '.join(sorted(unknown or {'outage_id'}))}")
        self.outages[outage_id] = _check_outage(self.outages[outage_id] | changes)
        self._touch_outage(outage_id)
        return self.outage(outage_id)

    def _touch_outage(self, outage_id: str) -> None:
        self._outage_at[outage_id] = (self.clock(), self._next())

    def outage(self, outage_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.outages[outage_id]) | {"updated_datetime": iso(self._outage_at[outage_id][0])}

    def outage_feed(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """Outages changed strictly after ``updated_after`` (all without it), oldest change first."""
        after = _date_param(params, "updated_after")
        ids = sorted(self.outages, key=lambda i: self._outage_at[i][1])
        return [self.outage(i) for i in ids if after is None or self._outage_at[i][0] > after]


# ----- helpers ---------------------------------------------------------------------------------
_REFUSALS = {
    400: "Звернення не прийнято: некоректні дані (режим відмови симулятора)",
    403: "Доступ заборонено: ключ API не прийнято (режим відмови симулятора)",
    404: "Послугу не знайдено (режим відмови симулятора)",
}


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _account_id(fields: dict[str, str]) -> str | None:
    """The submitter's account: the one they sent, else a stable id from phone/email/device_id."""
    given = (fields.get("account_id") or "").strip()
    if given:
        return given
    ident = "|".join((fields.get(n) or "").strip() for n in ("phone", "email", "device_id"))
    if ident.strip("|"):
        return "acc-" + hashlib.sha256(ident.encode()).hexdigest()[:12]
    return None


def _date_param(params: dict[str, str], name: str) -> datetime | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        return parse_iso(text)
    except ValueError:
        raise Open311Error(400, f"{name}: очікується дата ISO-8601, наприклад 2026-11-29T08:00:00+02:00")


def _int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise Open311Error(400, f"{name}: ціле число від {low} до {high}")
    return int(text)


def _check_attributes(service: dict[str, Any], pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Collect ``attribute[code]`` / ``attribute[code][]`` values and check them against the definition."""
    given: dict[str, list[str]] = {}
    for name, value in pairs:
        if name.startswith("attribute[") and name.endswith("]"):
            code = name[len("attribute["):-3] if name.endswith("][]") else name[len("attribute["):-1]
            if value.strip():
                given.setdefault(code, []).append(value.strip())
    result: dict[str, Any] = {}
    defined = {a["code"]: a for a in service.get("attributes") or []}
    for code, values in given.items():
        result[code] = values if len(values) > 1 or defined.get(code, {}).get("datatype") == "multivaluelist" \
            else values[0]
    for code, attr in defined.items():
        if not attr.get("variable", True):
            continue
        values = given.get(code, [])
        label = attr.get("description") or code
        if not values:
            if attr.get("required"):
                raise Open311Error(400, f"Не заповнено обов'язкове поле attribute[{code}] («{label}»)")
            continue
        kind = attr["datatype"]
        keys = {v["key"] for v in attr.get("values") or []}
        if kind != "multivaluelist" and len(values) > 1:
            raise Open311Error(400, f"attribute[{code}]: очікується одне значення")
        for value in values:
            if kind == "number":
                try:
                    float(value.replace(",", "."))
                except ValueError:
                    raise Open311Error(400, f"attribute[{code}] («{label}»): очікується число")
            elif kind == "datetime":
                try:
                    parse_iso(value)
                except ValueError:
                    raise Open311Error(400, f"attribute[{code}] («{label}»): очікується дата ISO-8601")
            elif kind in ("singlevaluelist", "multivaluelist"):
                if value not in keys:
                    raise Open311Error(400, f"attribute[{code}] («{label}»): невідоме значення «{value}»")
            elif kind == "string" and len(value) > STRING_MAX:
                raise Open311Error(400, f"attribute[{code}] («{label}»): довше за {STRING_MAX} символів")
            elif kind == "text" and len(value) > DESCRIPTION_MAX:
                raise Open311Error(400, f"attribute[{code}] («{label}»): довше за {DESCRIPTION_MAX} символів")
    return result


def _check_outage(outage: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise an outage (dates re-rendered as Kyiv ISO-8601). Raises ``ValueError``."""
    if outage["kind"] not in OUTAGE_KINDS:
        raise ValueError(f"kind: {' або '.join(OUTAGE_KINDS)}")
    if outage["utility"] not in OUTAGE_UTILITIES:
        raise ValueError(f"utility: одне з {', '.join(OUTAGE_UTILITIES)}")
    if outage["status"] not in OUTAGE_STATUSES:
        raise ValueError(f"status: одне з {', '.join(OUTAGE_STATUSES)}")
    if not isinstance(outage["city_wide"], bool):
        raise ValueError("city_wide: true або false")
    for name in ("settlement", "description", "contact_phone"):
        if not isinstance(outage[name], str):
            raise ValueError(f"{name}: очікується рядок")
    if not outage["settlement"].strip():
        raise ValueError("settlement: вкажіть населений пункт")
    addresses = outage["addresses"]
    if not isinstance(addresses, list) or not all(
            isinstance(a, dict) and set(a) <= {"street", "houses"} and isinstance(a.get("street"), str)
            and a["street"].strip() and isinstance(a.get("houses", ""), str) for a in addresses):
        raise ValueError('addresses: список об\'єктів {"street": "...", "houses": "..."}')
    if not addresses and not outage["city_wide"]:
        raise ValueError("вкажіть адреси або city_wide: true")
    result = dict(outage)
    result["addresses"] = [{"street": a["street"].strip(), "houses": a.get("houses", "").strip()} for a in addresses]
    for name in ("starts_at", "ends_at"):
        value = result[name]
        if value is None and name == "ends_at":
            continue
        if not isinstance(value, str):
            raise ValueError(f"{name}: дата ISO-8601")
        try:
            result[name] = iso(parse_iso(value))
        except ValueError:
            raise ValueError(f"{name}: дата ISO-8601")
    if result["ends_at"] is not None and parse_iso(result["ends_at"]) < parse_iso(result["starts_at"]):
        raise ValueError("ends_at раніше за starts_at")
    return result
