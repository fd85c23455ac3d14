"""Staff accounts, passwords, access tokens and the brute-force guard.

- Passwords: argon2id (argon2-cffi's current defaults, RFC 9106 low-memory profile),
  hashed and verified in a worker thread so a login never stalls the event loop; a hash
  made with older parameters is upgraded at the next successful login.
- Tokens: opaque random strings (256 bits) given once to the client; the store keeps only
  their SHA-256 with the account and the expiry (a TTL index removes them), so a leaked
  database holds no usable token. Every call re-reads the account: deactivating it or
  changing its role takes effect at once, which a self-contained signed token (JWT)
  could not do without a revocation list anyway.
- Brute force: failed logins are counted per e-mail address in the store (shared by
  replicas); after ``attempts`` failures within ``window`` the address is refused with
  429 until the window ends, whether or not the account exists. An unknown address costs
  the same argon2 verification as a known one, so timing does not tell them apart.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pymongo.errors import DuplicateKeyError

from chatbot_common.events import derived_id, utcnow
from chatbot_common.store import Store

from . import audit
from .errors import ApiError

log = structlog.get_logger("admin.staff")

HASHER = PasswordHasher()
_DUMMY_HASH = HASHER.hash("not a password of anyone")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
COLLECTION = "staff"
BEARER = {"WWW-Authenticate": "Bearer"}


class Role(StrEnum):
    """admin: everything incl. accounts and the audit log; editor: publishes and changes
    outages; operator: reads (and, with the panel, answers residents); viewer: reads."""

    admin = "admin"
    editor = "editor"
    operator = "operator"
    viewer = "viewer"

    def at_least(self, other: Role) -> bool:
        return RANK[self] >= RANK[other]


RANK = {Role.viewer: 0, Role.operator: 1, Role.editor: 2, Role.admin: 3}


def _email(value: str) -> str:
    value = value.strip().lower()
    if not EMAIL.match(value) or len(value) > 254:
        raise ValueError("некоректна адреса електронної пошти")
    return value


class Staff(BaseModel):
    """A staff account as the API shows it (never the password hash)."""

    model_config = ConfigDict(title="StaffAccount")
    id: str
    email: str
    name: str = ""
    role: Role
    active: bool = True
    created_at: datetime
    updated_at: datetime


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str
    password: str = Field(min_length=MIN_PASSWORD, max_length=256)
    role: Role
    name: str = Field(default="", max_length=200)

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        return _email(value)


class StaffPatch(BaseModel):
    """Change the role, the name, or deactivate (``active: false``) / reactivate."""

    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    active: bool | None = None
    name: str | None = Field(default=None, max_length=200)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=MIN_PASSWORD, max_length=256)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254)
    password: str = Field(max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _public(doc: dict[str, Any]) -> Staff:
    return Staff(id=doc["_id"], email=doc["email"], name=doc.get("name", ""), role=doc["role"],
                 active=doc.get("active", True), created_at=doc["created_at"], updated_at=doc["updated_at"])


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {"email": doc["email"], "name": doc.get("name", ""), "role": str(doc["role"]),
            "active": doc.get("active", True)}


def _last_admin() -> ApiError:
    return ApiError(409, "last_admin", "Це останній активний адміністратор: його не можна понизити чи вимкнути")


class StaffRepository:
    def __init__(self, store: Store, audit_log: audit.AuditLog, *, token_ttl: int, attempts: int,
                 window: int) -> None:
        self.store = store
        self.audit = audit_log
        self.accounts = store[COLLECTION]
        self.tokens = store["tokens"]
        self.failures = store["login_failures"]
        self.token_ttl = token_ttl
        self.attempts = attempts
        self.window = window

    async def setup(self) -> None:
        await self.accounts.create_index("email", unique=True)
        await self.accounts.create_index([("role", 1), ("active", 1)])
        await self.tokens.create_index("expires_at", expireAfterSeconds=0)
        await self.tokens.create_index("staff_id")
        await self.failures.create_index("expires_at", expireAfterSeconds=0)

    # ------------------------------------------------------------------ accounts

    async def get(self, staff_id: str) -> Staff | None:
        doc = await self.accounts.find_one({"_id": staff_id})
        return _public(doc) if doc else None

    async def list(self) -> list[Staff]:
        return [_public(d) async for d in self.accounts.find({}).sort("email", 1)]

    async def active_admins(self) -> int:
        return await self.accounts.count_documents({"role": Role.admin.value, "active": True})

    async def create(self, actor: Staff | None, body: StaffCreate, *, staff_id: str | None = None) -> Staff:
        now = utcnow()
        staff_id = staff_id or uuid.uuid4().hex
        doc: dict[str, Any] = {
            "_id": staff_id, "email": body.email, "name": body.name, "role": body.role.value, "active": True,
            "password_hash": await asyncio.to_thread(HASHER.hash, body.password),
            "created_at": now, "updated_at": now,
        }
        rec = self._record(actor, "staff.created", staff_id, None, _summary(doc), now, "created")
        doc[audit.PENDING] = [rec]
        try:
            await self.accounts.insert_one(doc)
        except DuplicateKeyError:
            raise ApiError(409, "conflict", "Обліковий запис з такою адресою вже існує") from None
        await self.audit.settle(COLLECTION, staff_id, [rec])
        return _public(doc)

    async def update(self, actor: Staff, staff_id: str, patch: StaffPatch) -> Staff:
        doc = await self.accounts.find_one({"_id": staff_id})
        if doc is None:
            raise ApiError(404, "not_found", "Обліковий запис не знайдено")
        changes = {k: (v.value if isinstance(v, Role) else v)
                   for k, v in patch.model_dump(exclude_none=True).items() if doc.get(k) != v}
        if not changes:
            return _public(doc)
        losing_admin = doc["role"] == Role.admin.value and doc.get("active", True) and (
            changes.get("role", Role.admin.value) != Role.admin.value or changes.get("active") is False)
        if losing_admin and await self.active_admins() <= 1:
            raise _last_admin()
        now = utcnow()
        before = {k: doc.get(k) for k in changes}
        action = ("staff.deactivated" if changes.get("active") is False
                  else "staff.reactivated" if changes.get("active") is True
                  else "staff.role_changed" if "role" in changes else "staff.updated")
        rec = self._record(actor, action, staff_id, before, changes, now, doc["updated_at"].isoformat())
        result = await self.accounts.update_one(
            {"_id": staff_id, "updated_at": doc["updated_at"]},
            audit.merge({"$set": {**changes, "updated_at": now}}, audit.push(rec)),
        )
        if result.matched_count == 0:
            raise ApiError(409, "conflict", "Обліковий запис щойно змінив хтось інший; повторіть")
        await self.audit.settle(COLLECTION, staff_id, [rec])
        if losing_admin and await self.active_admins() == 0:
            # Two requests took away the last two admins at the same moment (each counted
            # two before it wrote): each undoes its own change, so at least one admin stays.
            await self._undo(actor, staff_id, changes, before, now)
            raise _last_admin()
        if changes.get("active") is False:
            await self.end_sessions(staff_id)
        doc.update(changes, updated_at=now)
        return _public(doc)

    async def _undo(self, actor: Staff, staff_id: str, changes: dict[str, Any], before: dict[str, Any],
                    written_at: datetime) -> None:
        """Put back what :meth:`update` just wrote (if nobody wrote the account since),
        audited as ``staff.change_undone``. A crash before this leaves no active admin:
        ``bootstrap`` at the next start makes the configured account admin again."""
        now = utcnow()
        rec = self._record(actor, "staff.change_undone", staff_id, changes, before, now, written_at.isoformat())
        result = await self.accounts.update_one(
            {"_id": staff_id, "updated_at": written_at},
            audit.merge({"$set": {**before, "updated_at": now}}, audit.push(rec)),
        )
        if result.matched_count:
            await self.audit.settle(COLLECTION, staff_id, [rec])
        log.warning("admin.last_admin_race_undone", staff_id=staff_id, undone=result.matched_count == 1)

    async def reset_password(self, actor: Staff, staff_id: str, password: str) -> Staff:
        doc = await self.accounts.find_one({"_id": staff_id})
        if doc is None:
            raise ApiError(404, "not_found", "Обліковий запис не знайдено")
        now = utcnow()
        rec = self._record(actor, "staff.password_reset", staff_id, None, None, now, doc["updated_at"].isoformat())
        hashed = await asyncio.to_thread(HASHER.hash, password)
        await self.accounts.update_one(
            {"_id": staff_id}, audit.merge({"$set": {"password_hash": hashed, "updated_at": now}}, audit.push(rec)))
        await self.audit.settle(COLLECTION, staff_id, [rec])
        await self.end_sessions(staff_id)  # tokens and panel sessions with the old password end
        doc["updated_at"] = now
        return _public(doc)

    def _record(self, actor: Staff | None, action: str, staff_id: str, before: dict[str, Any] | None,
                after: dict[str, Any] | None, at: datetime, version: str) -> dict[str, Any]:
        return audit.record(
            id=derived_id("audit", "staff", staff_id, action, version), at=at,
            actor_id=actor.id if actor else "bootstrap", actor_email=actor.email if actor else "bootstrap",
            action=action, entity="staff", entity_id=staff_id, before=before, after=after)

    async def bootstrap(self, email: str | None, password: str | None) -> str:
        """Create the first admin when no active admin exists; idempotent (a restart, or
        two replicas starting at once, changes nothing once an admin exists). Returns
        what it did: ``created`` / ``promoted`` / ``exists`` / ``unset``."""
        if await self.active_admins() > 0:
            return "exists"
        if not email or not password:
            log.warning("admin.no_admin", hint="set ADMIN_BOOTSTRAP_EMAIL and ADMIN_BOOTSTRAP_PASSWORD")
            return "unset"
        email = _email(email)
        existing = await self.accounts.find_one({"email": email})
        if existing is None:
            try:
                await self.create(None, StaffCreate(email=email, password=password, role=Role.admin,
                                                    name="Адміністратор"),
                                  staff_id=derived_id("staff", "bootstrap", email))
            except ApiError:
                return "exists"  # another replica created it first
            log.info("admin.bootstrapped")
            return "created"
        # The account exists (deactivated or demoted) and no admin is left: recover it.
        now = utcnow()
        changes = {"role": Role.admin.value, "active": True}
        rec = self._record(None, "staff.bootstrap_promoted", existing["_id"], {k: existing.get(k) for k in changes},
                           changes, now, existing["updated_at"].isoformat())
        hashed = await asyncio.to_thread(HASHER.hash, password)
        await self.accounts.update_one({"_id": existing["_id"]}, audit.merge(
            {"$set": {**changes, "password_hash": hashed, "updated_at": now}}, audit.push(rec)))
        await self.audit.settle(COLLECTION, existing["_id"], [rec])
        log.info("admin.bootstrap_promoted")
        return "promoted"

    # ------------------------------------------------------------------ tokens

    async def login(self, email: str, password: str) -> TokenResponse:
        doc = await self.check_credentials(email, password)
        now = utcnow()
        token = secrets.token_urlsafe(32)
        await self.tokens.insert_one({"_id": token_digest(token), "staff_id": doc["_id"], "created_at": now,
                                      "expires_at": now + timedelta(seconds=self.token_ttl)})
        log.info("auth.login", staff_id=doc["_id"])
        return TokenResponse(access_token=token, expires_in=self.token_ttl)

    async def check_credentials(self, email: str, password: str) -> dict[str, Any]:
        """The active account of ``email`` if ``password`` is right, under the brute-force
        guard (429 / 401 otherwise). Shared by the API's tokens and the panel's sessions."""
        key = email.strip().lower()
        now = utcnow()
        failures = await self.failures.find_one({"_id": key})
        if failures and failures["expires_at"] > now and failures["count"] >= self.attempts:
            retry = max(1, int((failures["expires_at"] - now).total_seconds()))
            raise ApiError(429, "too_many_attempts", "Забагато невдалих спроб входу; спробуйте пізніше",
                           headers={"Retry-After": str(retry)})
        doc = await self.accounts.find_one({"email": key})
        ok = await asyncio.to_thread(_verify, doc["password_hash"] if doc else _DUMMY_HASH, password)
        if not ok or doc is None or not doc.get("active", True):
            await self._failed(key, failures, now)
            log.info("auth.login_failed")
            raise ApiError(401, "invalid_credentials", "Невірна адреса або пароль")
        if failures:
            await self.failures.delete_one({"_id": key})
        if HASHER.check_needs_rehash(doc["password_hash"]):
            rehashed = await asyncio.to_thread(HASHER.hash, password)
            await self.accounts.update_one({"_id": doc["_id"]}, {"$set": {"password_hash": rehashed}})
        return doc

    async def _failed(self, key: str, failures: dict[str, Any] | None, now: datetime) -> None:
        if failures is None or failures["expires_at"] <= now:
            await self.failures.replace_one(
                {"_id": key}, {"count": 1, "expires_at": now + timedelta(seconds=self.window)}, upsert=True)
        else:
            await self.failures.update_one({"_id": key}, {"$inc": {"count": 1}})

    async def authenticate(self, token: str | None) -> Staff:
        if not token:
            raise ApiError(401, "unauthorized", "Потрібен заголовок Authorization: Bearer <токен>", headers=BEARER)
        found = await self.tokens.find_one({"_id": token_digest(token)})
        if found is None or found["expires_at"] <= utcnow():
            raise ApiError(401, "invalid_token", "Токен недійсний або прострочений; отримайте новий", headers=BEARER)
        doc = await self.accounts.find_one({"_id": found["staff_id"]})
        if doc is None or not doc.get("active", True):
            raise ApiError(401, "invalid_token", "Обліковий запис вимкнено", headers=BEARER)
        return _public(doc)

    async def end_sessions(self, staff_id: str) -> None:
        """Revoke the account's API tokens and its panel sessions (collection ``sessions``)."""
        await self.tokens.delete_many({"staff_id": staff_id})
        await self.store["sessions"].delete_many({"staff_id": staff_id})

    async def logout(self, token: str) -> None:
        await self.tokens.delete_one({"_id": token_digest(token)})


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
