"""Speed-ups for the in-memory (mongomock) store, applied once when it is first used.

mongomock answers every query by scanning the whole collection, and re-scans it for
TTL expiry on every access, so a lookup by ``_id`` costs O(n): at 10 000 residents the
demo and the benchmark would measure mongomock, not the bot. Two narrow patches keep
its semantics and make the common case cheap:

- a filter that names a plain ``_id`` value looks at that one document only (the filter
  is still applied to it, so ``{"_id": x, "deleted": {"$ne": True}}`` stays correct);
- a filter that compares a top-level field with a range (``{"chat_active_at": {"$lt":
  t}}``, the due-time scans of background jobs) skips documents where that field is
  missing or null before mongomock's general filter runs (they cannot match);
- TTL expiry runs at most once a minute per collection instead of on every access,
  as MongoDB's own TTL monitor does;
- documents are copied (on every read and write, as mongomock must) by a copier that
  knows BSON-like values — dicts, lists and immutable scalars — instead of
  ``copy.deepcopy``, and the datetime normalisation walks them the same way: same
  results, a fraction of the CPU (``make bench``: the in-memory store was most of the
  dialog's time per message);
- the operations every message makes — ``find_one`` and updates (``update_one``,
  ``find_one_and_update``) of one document by ``_id`` — take a short path when their
  arguments have the plain shape the services use (below): the document is walked once
  instead of three times (copy, datetime normalisation, mongomock's snapshot for
  rollback) and no cursor is built. Anything else — dotted or positional paths,
  ``$push`` modifiers, other operators, an upsert that inserts with a filter beyond
  ``_id``, options — goes to mongomock as before. ``tests/test_store.py`` runs the
  same operations with and without the short paths and compares every result and
  every stored document (:func:`plain_mongomock` switches them off).

Real MongoDB is untouched; the same test suite runs against both (testing.md).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_applied = False
TTL_SWEEP_SECONDS = 60.0
#: whether the short paths for one-document operations are taken (see the module doc)
_short_paths = True
#: how often each short path ran to the end (the tests check that they are taken)
taken: Counter[str] = Counter()


@contextmanager
def plain_mongomock() -> Iterator[None]:
    """Within: every operation goes through mongomock's own code (the tests compare)."""
    global _short_paths
    before, _short_paths = _short_paths, False
    try:
        yield
    finally:
        _short_paths = before


def apply() -> None:
    global _applied
    if _applied:
        return
    from mongomock import filtering
    from mongomock.collection import Collection
    from mongomock.store import CollectionStore

    scan = Collection._iter_documents

    def iter_documents(self: Any, filter: Any) -> Any:
        if isinstance(filter, dict) and "_id" in filter:
            wanted = filter["_id"]
            if not isinstance(wanted, dict | list):
                store = self._store
                store._remove_expired_documents()
                doc = store._documents.get(wanted)
                return iter([doc] if doc is not None and filtering.filter_applies(filter, doc) else [])
        required = _ranged_fields(filter)
        if required and not self._store.is_empty:
            # A range against a value never matches a missing or null field (MongoDB
            # compares within one type): skip those documents before the full filter.
            applies = filtering.filter_applies
            return (doc for doc in list(self._store.documents)
                    if all(doc.get(f) is not None for f in required) and applies(filter, doc))
        return scan(self, filter)

    sweep = CollectionStore._remove_expired_documents

    def remove_expired(self: Any) -> None:
        now = time.monotonic()
        if now - getattr(self, "_last_ttl_sweep", 0.0) >= TTL_SWEEP_SECONDS:
            self._last_ttl_sweep = now
            sweep(self)

    Collection._iter_documents = iter_documents
    CollectionStore._remove_expired_documents = remove_expired
    _fast_copies()
    _short_operations()
    _cached_version_parse()
    _applied = True


_RANGE = ("$lt", "$lte", "$gt", "$gte")


def _ranged_fields(filter: Any) -> list[str]:
    """Top-level plain fields the filter compares with ``$lt``/``$lte``/``$gt``/``$gte``
    against a non-null value (``{"chat_active_at": {"$lt": t}}``): a document whose field
    is missing or null cannot match."""
    if not isinstance(filter, dict):
        return []
    return [key for key, cond in filter.items()
            if isinstance(key, str) and not key.startswith("$") and "." not in key and isinstance(cond, dict)
            and any(cond.get(op) is not None for op in _RANGE)]


def _fast_copies() -> None:
    import copy
    import types
    import uuid
    from datetime import datetime

    from bson import ObjectId
    from mongomock import collection, helpers

    atomic = (str, int, float, bool, type(None), bytes, ObjectId, uuid.UUID)
    # Values a copy may share (immutable): see _walker.
    shareable = frozenset((*atomic, datetime))
    plain = frozenset(atomic)

    fast_deepcopy = _walker(shareable, (list,), copy.deepcopy)

    original_patch = helpers.patch_datetime_awareness_in_document

    def naive_utc(value: Any) -> Any:
        if type(value) is datetime:  # mongomock's own conversion: naive UTC, milliseconds
            mongo_us = (value.microsecond // 1000) * 1000
            if value.tzinfo:
                return (value - value.utcoffset()).replace(tzinfo=None, microsecond=mongo_us)
            return value.replace(microsecond=mongo_us)
        return original_patch(value)  # timestamps, other mappings: as mongomock does

    patch_datetimes = _walker(plain, (list, tuple), naive_utc)

    collection.copy = types.SimpleNamespace(deepcopy=fast_deepcopy, copy=copy.copy)
    helpers.patch_datetime_awareness_in_document = patch_datetimes


def _walker(keep: frozenset[type], sequences: tuple[type, ...], leaf: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A copier of BSON-like values: dicts and lists (and the other ``sequences``, as
    lists) are rebuilt, values whose type is in ``keep`` are shared (immutable), and any
    other value is given to ``leaf``. A container holding only ``keep`` values is copied
    shallowly, their types checked in C (``issuperset`` over ``map(type, …)``) rather
    than by one Python call each — a mailing chunk's 7 500 resident ids."""

    def walk(value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            if keep.issuperset(map(type, value.values())):
                return value.copy()
            return {k: v if type(v) in keep else walk(v) for k, v in value.items()}
        if kind in sequences:
            if keep.issuperset(map(type, value)):
                return list(value)
            return [v if type(v) in keep else walk(v) for v in value]
        if kind in keep:
            return value
        return leaf(value)

    return walk


def _cached_version_parse() -> None:
    """mongomock compares pymongo's version with ``packaging.version.parse("3.6")`` on
    every insert and ``$set``: parse each literal once."""
    import functools
    import types

    from mongomock import collection
    from packaging import version

    collection.version = types.SimpleNamespace(parse=functools.lru_cache(maxsize=64)(version.parse))


#: update operators the short path applies (top-level fields only)
_SHORT_UPDATES = frozenset(("$set", "$setOnInsert", "$push", "$pull"))
_MISSING = object()


def _plain_id(filter: Any) -> Any:
    """The ``_id`` a filter names as a string or an integer (what the services use; a
    datetime or a document as ``_id`` takes mongomock's path), or ``_MISSING``."""
    if type(filter) is not dict:
        return _MISSING
    wanted = filter.get("_id", _MISSING)
    return wanted if type(wanted) in (str, int) else _MISSING


def _plain_field(key: Any) -> bool:
    return type(key) is str and key != "_id" and "." not in key and "\0" not in key and not key.startswith("$")


def _short_update_shape(document: Any) -> bool:
    """An update document the short path applies exactly as mongomock would."""
    if type(document) is not dict or not document:
        return False
    fields: set[str] = set()
    for op, values in document.items():
        if op not in _SHORT_UPDATES or type(values) is not dict or not values:
            return False
        for key, value in values.items():
            if not _plain_field(key) or key in fields:
                return False  # dotted/positional paths, _id, or one field under two operators
            fields.add(key)
            if op == "$push" and isinstance(value, dict) and any(str(k).startswith("$") for k in value):
                return False  # $each, $position, $slice, $sort
    return True


def _short_operations() -> None:
    import uuid
    from collections.abc import Mapping
    from datetime import datetime

    from bson import BSON, ObjectId
    from bson.errors import InvalidDocument
    from mongomock import OperationFailure, filtering, helpers
    from mongomock import collection as collection_module
    from mongomock.collection import Collection, _copy_field
    from mongomock.results import InsertOneResult

    # mongomock's own operations, for every call the short paths leave to it
    find_one = Collection.find_one
    insert_one = Collection.insert_one
    update = Collection._update
    patch = helpers.patch_datetime_awareness_in_document  # the fast one (_fast_copies ran)
    applies = filtering.filter_applies
    utc = helpers.utc
    plain = frozenset((str, int, float, bool, type(None), bytes, ObjectId, uuid.UUID))

    def in_utc(value: Any) -> Any:
        if type(value) is datetime:
            return value.replace(tzinfo=utc)
        return helpers.make_datetime_timezone_aware_in_document(_copy_field(value, dict))

    # What mongomock returns for a stored value on a ``tz_aware`` client (a copy,
    # datetimes in UTC), in one walk instead of two.
    aware_copy = _walker(plain, (list,), in_utc)

    def stored(self: Any, wanted: Any, spec: Any) -> Any:
        """The stored document with this ``_id`` if it matches ``spec`` (patched), else None."""
        store = self._store
        store._remove_expired_documents()
        doc = store._documents.get(wanted)
        if doc is None or not applies(spec, doc):
            return None
        return doc

    def short_find_one(self: Any, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
        wanted = _plain_id(filter) if _short_paths else _MISSING
        projection = kwargs.get("projection", args[0] if args else None)
        if (wanted is _MISSING or len(args) > 1 or (args and "projection" in kwargs)
                or any(k != "projection" for k in kwargs) or not self.codec_options.tz_aware):
            return find_one(self, filter, *args, **kwargs)
        include: set[str] | None = None
        with_id = True
        if projection is not None:
            if type(projection) is not dict or not projection:
                return find_one(self, filter, *args, **kwargs)
            include = set()
            for key, value in projection.items():
                if key == "_id" and value in (0, 1) and type(value) in (int, bool):
                    with_id = bool(value)
                elif _plain_field(key) and value is not False and value == 1 and type(value) in (int, bool):
                    include.add(key)
                else:
                    return find_one(self, filter, *args, **kwargs)  # exclusions, paths, operators
            if not include and not with_id:
                return find_one(self, filter, *args, **kwargs)
        doc = stored(self, wanted, patch(filter))
        taken["find_one"] += 1
        if doc is None:
            return None
        if include is None:
            return aware_copy(doc)
        # as mongomock builds it: the included fields in the document's order, then _id
        found = {key: aware_copy(value) for key, value in doc.items() if key in include}
        if with_id and "_id" in doc:
            found["_id"] = doc["_id"]
        return found

    def short_update(self: Any, spec: Any, document: Any, upsert: bool = False, manipulate: bool = False,
                     multi: bool = False, check_keys: bool = False, hint: Any = None, session: Any = None,
                     collation: Any = None, let: Any = None, array_filters: Any = None, **kwargs: Any) -> Any:
        wanted = _plain_id(spec) if _short_paths else _MISSING
        if (wanted is _MISSING or hint or session or collation or let or array_filters or kwargs
                or not _short_update_shape(document)):
            return update(self, spec, document, upsert, manipulate, multi, check_keys, hint=hint,
                          session=session, collation=collation, let=let, array_filters=array_filters, **kwargs)

        def fallback() -> Any:
            return update(self, spec, document, upsert, manipulate, multi, check_keys)

        patched_spec = patch(spec)
        changes = patch(document)  # fresh copies: the stored document shares nothing with the caller
        for op in ("$set", "$setOnInsert"):
            if op in changes:
                try:
                    BSON.encode(changes[op])  # what mongomock's $set checks, field by field
                except Exception:  # noqa: BLE001 - mongomock raises its own error for it
                    return fallback()
        doc = stored(self, wanted, patched_spec)
        result = {"connectionId": self.database.client._id, "err": None, "n": 1, "nModified": 0, "ok": 1,
                  "upserted": None, "updatedExisting": True}
        if doc is None:
            if not upsert:
                result.update(n=0, updatedExisting=False)
                taken["update"] += 1
                return result
            if len(spec) != 1:
                return fallback()  # the new document would take fields from the filter
            new: dict[str, Any] = {"_id": wanted}
            for op, values in changes.items():
                if op in ("$set", "$setOnInsert"):
                    new.update(values)
                elif op == "$push":
                    new.update({key: [value] for key, value in values.items()})
            result.update(upserted=self._insert(new), updatedExisting=False)
            taken["update"] += 1
            return result
        new = dict(doc)
        for op, values in changes.items():
            if op == "$set":
                new.update(values)
            elif op == "$push":
                for key, value in values.items():
                    current = new.get(key, _MISSING)
                    if current is _MISSING:
                        new[key] = [value]
                    elif type(current) is list:
                        new[key] = [*current, value]
                    else:
                        return fallback()  # mongomock's own error
            elif op == "$pull":
                for key, condition in values.items():
                    current = new.get(key)
                    if type(current) is list:
                        new[key] = [item for item in current if not _pulled(condition, item)]
        if new != doc:
            self._store[wanted] = new
            try:
                self._ensure_uniques(new)
            except BaseException:
                self._store[wanted] = doc
                raise
            result["nModified"] = 1
        taken["update"] += 1
        return result

    def _pulled(condition: Any, item: Any) -> bool:
        """Whether ``$pull`` removes ``item``: mongomock's own test, verbatim."""
        if isinstance(condition, dict):
            try:
                if applies(condition, item):
                    return True
            except OperationFailure:
                pass
            return applies({"field": condition}, {"field": item})
        return condition == item

    def key_check(data: Any) -> None:
        """mongomock's check that no field name (at any depth of nested documents)
        holds a null character, without an ``isinstance(…, Mapping)`` per value."""
        for key, value in data.items():
            if "\0" in key:
                raise InvalidDocument(f"Field names cannot contain the null character (found: {key})")
            kind = type(value)
            if kind is dict:
                key_check(value)
            elif kind not in plain and kind is not list and kind is not datetime and isinstance(value, Mapping):
                key_check(value)

    def short_insert_one(self: Any, document: Any, bypass_document_validation: bool = False,
                         session: Any = None) -> Any:
        """``insert_one`` of a plain document with a string or integer ``_id``: mongomock's
        checks and copy, without its store's per-call locking round trips. A duplicate
        ``_id`` (or anything mongomock would refuse) goes to mongomock, for its error."""
        wanted = _plain_id(document) if _short_paths and not session else _MISSING
        if wanted is _MISSING or not all(type(k) is str and not k.startswith("$") for k in document):
            return insert_one(self, document, bypass_document_validation, session)
        try:
            key_check(document)
            BSON.encode(document)
        except Exception:  # noqa: BLE001 - mongomock raises its own error for it
            return insert_one(self, document, bypass_document_validation, session)
        store = self._store
        store._remove_expired_documents()
        if wanted in store._documents:
            return insert_one(self, document, bypass_document_validation, session)
        data = patch(document)
        store[wanted] = data
        try:
            self._ensure_uniques(data)
        except BaseException:
            del store[wanted]
            raise
        taken["insert_one"] += 1
        return InsertOneResult(wanted, acknowledged=True)

    Collection.find_one = short_find_one
    Collection._update = short_update
    Collection.insert_one = short_insert_one
    collection_module._recursive_key_check_null_character = key_check
