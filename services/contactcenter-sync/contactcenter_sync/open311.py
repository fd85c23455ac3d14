"""An Open311 GeoReport v2 JSON client (aiohttp), with the FixMyStreet updates extension
and our own ``x-chatbot`` extensions (docs/contactcenter.md).

What the caller gets:

- parsed, lenient models: ids and codes become strings whatever JSON type the server
  used (the spec's own examples use numbers), empty dates become ``None``, keywords may
  be a comma-separated string or a list, XML-shaped wrappers (``{"attribute": …}``,
  ``{"value": …}``) are unwrapped — so the spec's own example documents parse;
- two kinds of failure: :class:`Open311Error` — the contact center *answered* 400, 403
  or 404 (``has_body`` tells whether it sent the Open311 error body
  ``[{"code", "description"}]``); :class:`Unavailable` — it did not answer usefully
  (connection refused, timeout, 5xx, any other status, a body that is not JSON).
  Callers treat the first as a refusal (or "not offered", for an extension) and the
  second as "try again later".

GETs are retried a few times at once (tenacity, exponential backoff); POSTs are not
retried here: the caller decides, and repeats a request POST with the same
``Idempotency-Key``. The API key is sent in POST bodies only, never in a URL (URLs end up
in logs), and no personal data is ever logged here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import aiohttp
import structlog
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from chatbot_common.events import (
    ServiceAttribute,
    ServiceInfo,
    ServiceValue,
    TicketStatus,
    TicketSubmitted,
)

log = structlog.get_logger("contactcenter.open311")

#: Open311 / FixMyStreet status → resident-facing status group (events.TicketStatus).
STATUS_MAP: dict[str, TicketStatus] = {
    "open": TicketStatus.open,
    "in_progress": TicketStatus.in_progress,
    "action_scheduled": TicketStatus.action_scheduled,
    "investigating": TicketStatus.investigating,
    "fixed": TicketStatus.fixed,
    "closed": TicketStatus.closed,
    "duplicate": TicketStatus.duplicate,
    "not_councils_responsibility": TicketStatus.not_responsible,
    "no_further_action": TicketStatus.no_further_action,
    "cancelled": TicketStatus.cancelled,
    "reopen": TicketStatus.reopened,
}


def map_status(raw: str | None) -> TicketStatus:
    """A contact center's status as one of ours; anything unknown is ``unknown`` (the
    caller keeps the raw value). Case and spaces do not matter (``In progress``)."""
    key = (raw or "").strip().lower().replace(" ", "_").replace("-", "_")
    return STATUS_MAP.get(key, TicketStatus.unknown)


class Open311Error(Exception):
    """The contact center answered 400/403/404."""

    def __init__(self, http_status: int, code: str | None = None, description: str | None = None,
                 *, has_body: bool = False) -> None:
        super().__init__(f"HTTP {http_status} {code or ''}".strip())
        self.http_status = http_status
        self.code = code
        self.description = description
        self.has_body = has_body


class Unavailable(Exception):
    """The contact center did not answer usefully: try again later."""


# --------------------------------------------------------------------------- models


def _empty_none(value: Any) -> Any:
    return None if value == "" else value


def _listed(value: Any, wrapper: str) -> Any:
    """``[…]`` stays; ``{"attribute": x}`` (the XML-shaped examples) → ``[x]`` or ``x``
    when it is a list; a bare object → ``[object]``; ``None`` → ``[]``."""
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        inner = value.get(wrapper, value)
        return inner if isinstance(inner, list) else [inner]
    return value


def _keywords(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [k.strip() for k in value.split(",") if k.strip()]
    return value


OptDatetime = Annotated[datetime | None, BeforeValidator(_empty_none)]
OptFloat = Annotated[float | None, BeforeValidator(_empty_none)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, frozen=True)


class Service(_Lenient):
    service_code: str
    service_name: str
    description: str | None = None
    metadata: bool = False
    type: str = "realtime"
    keywords: Annotated[list[str], BeforeValidator(_keywords)] = Field(default_factory=list)
    group: str | None = None


class AttributeValue(_Lenient):
    key: str
    name: str


class Attribute(_Lenient):
    variable: bool = True
    code: str
    datatype: str
    required: bool = False
    datatype_description: str | None = None
    order: int = 0
    description: str = ""
    values: Annotated[list[AttributeValue], BeforeValidator(lambda v: _listed(v, "value"))] = Field(default_factory=list)


class ServiceDefinition(_Lenient):
    service_code: str
    attributes: Annotated[list[Attribute], BeforeValidator(lambda v: _listed(v, "attribute"))] = Field(default_factory=list)


class PostAnswer(_Lenient):
    """The answer to ``POST requests``: a number at once, or a token to resolve later."""

    service_request_id: str | None = None
    token: str | None = None
    service_notice: str | None = None
    account_id: str | None = None


class RequestRecord(_Lenient):
    service_request_id: str
    status: str = "open"
    status_notes: str | None = None
    service_name: str | None = None
    service_code: str | None = None
    description: str | None = None
    agency_responsible: str | None = None
    service_notice: str | None = None
    requested_datetime: OptDatetime = None
    updated_datetime: OptDatetime = None
    expected_datetime: OptDatetime = None
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: OptFloat = None
    long: OptFloat = None
    media_url: str | None = None


class StatusUpdate(_Lenient):
    """One FixMyStreet-style ``servicerequestupdates`` entry."""

    update_id: str
    service_request_id: str
    status: str
    updated_datetime: datetime
    description: str | None = None
    media_url: str | None = None
    external_status_code: str | None = None


class TokenAnswer(_Lenient):
    token: str | None = None
    service_request_id: str | None = None


class Rated(_Lenient):
    service_request_id: str
    rating: int | None = None


class OutageAddressEntry(_Lenient):
    street: str
    houses: str = ""


class OutageEntry(_Lenient):
    """One entry of the S3 outage feed (``x-chatbot/v1/outages.json``)."""

    outage_id: str
    kind: str = "planned"
    utility: str = "other"
    settlement: str
    city_wide: bool = False
    addresses: list[OutageAddressEntry] = Field(default_factory=list)
    starts_at: datetime
    ends_at: OptDatetime = None
    description: str = ""
    contact_phone: str | None = None
    status: str = "active"
    updated_datetime: datetime


def service_info(service: Service, definition: ServiceDefinition | None) -> ServiceInfo:
    """Our catalog's view of a service and its definition (contactcenter.services).
    An attribute whose datatype Open311 does not define is passed as ``string`` (the
    resident can still answer it as text)."""
    known = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
    attributes = []
    for a in (definition.attributes if definition else []):
        attributes.append(ServiceAttribute(
            code=a.code, variable=a.variable, datatype=a.datatype if a.datatype in known else "string",
            required=a.required, datatype_description=a.datatype_description, order=a.order,
            description=a.description or a.code,
            values=[ServiceValue(key=v.key, name=v.name) for v in a.values],
        ))
    attributes.sort(key=lambda a: a.order)
    return ServiceInfo(service_code=service.service_code, service_name=service.service_name,
                       description=service.description, group=service.group, keywords=service.keywords,
                       type=service.type, attributes=attributes)


def request_form(ticket: TicketSubmitted, *, api_key: str, jurisdiction_id: str | None) -> list[tuple[str, str]]:
    """The form fields of ``POST requests.json`` for one of our tickets: every location
    form we have (``lat``+``long``, ``address_string``, ``address_id``), the
    description, the first photo as ``media_url``, ``attribute[code]`` (repeated for a
    multivaluelist) and the resident's name and phone (S6)."""
    form: list[tuple[str, str]] = [("api_key", api_key)]
    if jurisdiction_id:
        form.append(("jurisdiction_id", jurisdiction_id))
    form.append(("service_code", ticket.service_code))
    loc = ticket.location
    if loc.lat is not None and loc.long is not None:
        form += [("lat", repr(loc.lat)), ("long", repr(loc.long))]
    if loc.address_string:
        form.append(("address_string", loc.address_string))
    if loc.address_id:
        form.append(("address_id", loc.address_id))
    if ticket.description:
        form.append(("description", ticket.description[:4000]))
    if ticket.media_urls:
        form.append(("media_url", ticket.media_urls[0]))
    for code, value in ticket.attributes.items():
        for v in (value if isinstance(value, list) else [value]):
            form.append((f"attribute[{code}]", v))
    contact = ticket.contact
    for name in ("first_name", "last_name", "phone", "email"):
        value = getattr(contact, name)
        if value:
            form.append((name, value))
    return form


def chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- client


class Open311Client:
    """One contact center. ``base_url`` is the Open311 base (``…/open311/v2``)."""

    def __init__(self, base_url: str, *, api_key: str = "", jurisdiction_id: str | None = None,
                 timeout: float = 15.0, get_attempts: int = 3, ids_per_request: int = 50) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.jurisdiction_id = jurisdiction_id
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.get_attempts = get_attempts
        self.ids_per_request = ids_per_request
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout, headers={"Accept": "application/json"})
        return self._session

    # ------------------------------------------------------------------ transport

    async def _send(self, method: str, path: str, *, params: dict[str, str] | None = None,
                    form: list[tuple[str, str]] | None = None, headers: dict[str, str] | None = None) -> Any:
        url = f"{self.base_url}/{path}"
        query = dict(params or {})
        if self.jurisdiction_id and method == "GET":
            query.setdefault("jurisdiction_id", self.jurisdiction_id)
        body = None
        hdrs = dict(headers or {})
        if form is not None:
            body = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            async with self._client().request(method, url, params=query or None, data=body, headers=hdrs) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise Unavailable(f"{method} {path}: {type(exc).__name__}") from exc
        if status in (400, 403, 404):
            raise _error_of(status, raw)
        if not 200 <= status < 300:
            raise Unavailable(f"{method} {path}: HTTP {status}")
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            raise Unavailable(f"{method} {path}: the answer is not JSON") from exc

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(Unavailable),
            stop=stop_after_attempt(self.get_attempts),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            reraise=True,
        ):
            with attempt:
                return await self._send("GET", path, params=params)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, path: str, fields: list[tuple[str, str]], headers: dict[str, str] | None = None) -> Any:
        form = [("api_key", self.api_key), *fields] if not any(k == "api_key" for k, _ in fields) else fields
        if self.jurisdiction_id and not any(k == "jurisdiction_id" for k, _ in form):
            form.append(("jurisdiction_id", self.jurisdiction_id))
        return await self._send("POST", path, form=form, headers=headers)

    # ------------------------------------------------------------------ standard

    async def discovery(self) -> dict[str, Any]:
        data = await self._get("discovery.json")
        return data if isinstance(data, dict) else {}

    async def services(self) -> list[Service]:
        return _parse_list(Service, await self._get("services.json"), "services")

    async def service_definition(self, service_code: str) -> ServiceDefinition:
        data = await self._get(f"services/{quote(service_code, safe='')}.json")
        if isinstance(data, list):
            data = data[0] if data else {}
        if isinstance(data, dict) and "service_definition" in data:
            data = data["service_definition"]
        try:
            return ServiceDefinition.model_validate(data)
        except ValidationError as exc:
            raise Unavailable(f"service definition {service_code}: {exc.error_count()} invalid fields") from exc

    async def post_request(self, ticket: TicketSubmitted, *, idempotency_key: str | None = None) -> PostAnswer:
        form = request_form(ticket, api_key=self.api_key, jurisdiction_id=self.jurisdiction_id)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        answers = _parse_list(PostAnswer, await self._post("requests.json", form, headers), "service_requests")
        if not answers or not (answers[0].service_request_id or answers[0].token):
            raise Unavailable("POST requests: neither service_request_id nor token in the answer")
        return answers[0]

    async def token(self, token: str) -> str | None:
        """The number a token resolved to, or ``None`` while it is not known yet."""
        try:
            data = await self._get(f"tokens/{quote(token, safe='')}.json")
        except Open311Error as exc:
            if exc.http_status == 404:
                return None  # not processed yet (some servers answer 404 until then)
            raise
        answers = _parse_list(TokenAnswer, data, "service_requests", "request")
        for a in answers:
            if a.service_request_id:
                return a.service_request_id
        return None

    async def request(self, service_request_id: str) -> RequestRecord | None:
        try:
            data = await self._get(f"requests/{quote(service_request_id, safe='')}.json")
        except Open311Error as exc:
            if exc.http_status == 404:
                return None
            raise
        records = _parse_list(RequestRecord, data, "service_requests", "request")
        return records[0] if records else None

    async def requests(self, ids: Sequence[str] = (), *, updated_after: datetime | None = None,
                       page: int | None = None, page_size: int | None = None,
                       **filters: str) -> list[RequestRecord]:
        """``GET requests.json``: by id lists (asked in chunks of ``ids_per_request``,
        ``service_request_id`` overrides the other filters), or by ``updated_after``
        (GeoReport v2.1 draft) / ``page`` / other filters."""
        if ids:
            records: list[RequestRecord] = []
            for part in chunks(list(ids), self.ids_per_request):
                data = await self._get("requests.json", {"service_request_id": ",".join(part)})
                records += _parse_list(RequestRecord, data, "service_requests", "request")
            return records
        params = dict(filters)
        if updated_after is not None:
            params["updated_after"] = _iso(updated_after)
        if page is not None:
            params["page"] = str(page)
        if page_size is not None:
            params["page_size"] = str(page_size)
        return _parse_list(RequestRecord, await self._get("requests.json", params), "service_requests", "request")

    async def updates(self, start: datetime, end: datetime | None = None) -> list[StatusUpdate]:
        """FixMyStreet's ``servicerequestupdates.json``; raises :class:`Open311Error`
        404 when the contact center does not offer it."""
        params = {"start_date": _iso(start)}
        if end is not None:
            params["end_date"] = _iso(end)
        return _parse_list(StatusUpdate, await self._get("servicerequestupdates.json", params),
                           "service_request_updates", "request_update")

    # ------------------------------------------------------------------ x-chatbot

    async def rate(self, service_request_id: str, rating: int, comment: str | None = None) -> None:
        fields = [("rating", str(rating))] + ([("comment", comment)] if comment else [])
        await self._post(f"x-chatbot/v1/requests/{quote(service_request_id, safe='')}/rating.json", fields)

    async def reopen(self, service_request_id: str, reason: str | None = None) -> None:
        fields = [("reason", reason)] if reason else []
        await self._post(f"x-chatbot/v1/requests/{quote(service_request_id, safe='')}/reopen.json", fields)

    async def outages(self, updated_after: datetime | None = None) -> list[OutageEntry]:
        params = {"updated_after": _iso(updated_after)} if updated_after else None
        return _parse_list(OutageEntry, await self._get("x-chatbot/v1/outages.json", params), "outages", "outage")


def _error_of(status: int, raw: bytes) -> Open311Error:
    try:
        data = json.loads(raw)
        if isinstance(data, dict):
            data = data.get("errors", [data])
        if isinstance(data, list) and data and isinstance(data[0], dict) and (
                "code" in data[0] or "description" in data[0]):
            first = data[0]
            code = first.get("code")
            description = first.get("description")
            return Open311Error(status, None if code is None else str(code),
                                None if description is None else str(description)[:1000], has_body=True)
    except ValueError:
        pass
    return Open311Error(status)


def _parse_list(model: type[Any], data: Any, *wrappers: str) -> list[Any]:
    """A top-level JSON array of ``model`` (an object alone, or an XML-shaped wrapper
    like ``{"service_requests": {"request": …}}``, is accepted too). An item that does
    not parse is skipped and logged (by its position only): one bad record must not hide
    the others; a body that is not a list of objects at all is :class:`Unavailable`."""
    for w in wrappers:
        if isinstance(data, dict) and w in data:
            data = data[w]
    if isinstance(data, dict):
        data = [data]
    if data is None:
        return []
    if not isinstance(data, list):
        raise Unavailable(f"expected a list of {model.__name__}")
    items = []
    for n, item in enumerate(data):
        try:
            items.append(model.model_validate(item))
        except ValidationError as exc:
            log.warning("open311.bad_item", model=model.__name__, position=n, errors=exc.error_count())
    return items


async def gather_limited(limit: int, coros: Iterable[Any]) -> list[Any]:
    """Run coroutines with at most ``limit`` at once; exceptions are returned."""
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)
