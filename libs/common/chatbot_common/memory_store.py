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
  dialog's time per message).

Real MongoDB is untouched; the same test suite runs against both (testing.md).
"""

from __future__ import annotations

import time
from typing import Any

_applied = False
TTL_SWEEP_SECONDS = 60.0


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
    # Values a copy may share (immutable); a container holding only these is copied
    # shallowly, its members' types checked in C (``issuperset`` over ``map(type, …)``)
    # rather than by one Python call each — a mailing chunk's 7 500 resident ids.
    shareable = frozenset((*atomic, datetime))
    plain = frozenset(atomic)

    def fast_deepcopy(value: Any, memo: Any = None) -> Any:
        kind = type(value)
        if kind is dict:
            if shareable.issuperset(map(type, value.values())):
                return value.copy()
            return {k: fast_deepcopy(v) for k, v in value.items()}
        if kind is list:
            if shareable.issuperset(map(type, value)):
                return value.copy()
            return [fast_deepcopy(v) for v in value]
        if kind in atomic or kind is datetime:
            return value
        return copy.deepcopy(value, memo)

    original_patch = helpers.patch_datetime_awareness_in_document

    def patch_datetimes(value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            if plain.issuperset(map(type, value.values())):
                return value.copy()
            return {k: patch_datetimes(v) for k, v in value.items()}
        if kind is list or kind is tuple:
            if plain.issuperset(map(type, value)):
                return list(value)
            return [patch_datetimes(v) for v in value]
        if kind in atomic:
            return value
        return original_patch(value)  # datetimes, timestamps, other mappings: as mongomock does

    collection.copy = types.SimpleNamespace(deepcopy=fast_deepcopy, copy=copy.copy)
    helpers.patch_datetime_awareness_in_document = patch_datetimes
