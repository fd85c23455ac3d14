"""The store behaves the same in memory and on MongoDB (set MONGODB_URL to a real one)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chatbot_common import memory_store
from chatbot_common.events import utcnow
from chatbot_common.store import Inbox, open_store


@pytest.fixture
async def store(unique: str, mongodb_url: str):
    s = open_store(mongodb_url, f"test_store_{unique}", memory_namespace=unique)
    yield s
    if not s.in_memory:
        await s.client.drop_database(f"test_store_{unique}")
    await s.close()


async def test_lookup_by_id_still_applies_the_rest_of_the_filter(store):
    await store["residents"].insert_one({"_id": "r1", "deleted": True})
    await store["residents"].insert_one({"_id": "r2"})
    assert await store["residents"].find_one({"_id": "r1", "deleted": {"$ne": True}}) is None
    assert (await store["residents"].find_one({"_id": "r2", "deleted": {"$ne": True}}))["_id"] == "r2"
    assert await store["residents"].find_one({"_id": "nobody"}) is None


async def test_updates_and_deletes_by_id_touch_only_that_document(store):
    col = store["c"]
    for i in range(5):
        await col.insert_one({"_id": i, "v": 0})
    await col.update_one({"_id": 3}, {"$set": {"v": 3}})
    await col.update_one({"_id": 9}, {"$setOnInsert": {"v": 9}}, upsert=True)
    await col.delete_one({"_id": 1})
    assert sorted([d async for d in col.find({})], key=lambda d: d["_id"]) == [
        {"_id": 0, "v": 0}, {"_id": 2, "v": 0}, {"_id": 3, "v": 3}, {"_id": 4, "v": 0}, {"_id": 9, "v": 9}
    ]


async def test_documents_read_or_written_never_share_lists_or_dicts_with_the_caller(store):
    """The in-memory store copies flat lists and dicts shallowly (memory_store): what a
    caller changes in a document it wrote or read never changes the stored one."""
    col = store["c"]
    at = utcnow().replace(microsecond=0)
    written = {"_id": "x", "rids": ["a", "b"], "flat": {"n": 1, "at": at}, "deep": [{"k": ["v"]}]}
    await col.insert_one(written)
    written["rids"].append("mutated")
    written["flat"]["n"] = 99
    written["deep"][0]["k"].append("mutated")
    read = await col.find_one({"_id": "x"})
    assert read["rids"] == ["a", "b"] and read["flat"]["n"] == 1 and read["deep"] == [{"k": ["v"]}]
    read["rids"].append("again")
    read["flat"]["n"] = 7
    await col.update_one({"_id": "x"}, {"$push": {"rids": "c"}})
    after = await col.find_one({"_id": "x"})
    assert after["rids"] == ["a", "b", "c"] and after["flat"]["n"] == 1
    assert after["flat"]["at"].replace(tzinfo=None) == at.replace(tzinfo=None)


@pytest.mark.parametrize(("condition", "expected"), [
    ({"$lt": 10}, {"five", "list"}),  # an array matches when a member does
    ({"$gte": 5}, {"five", "ten", "list"}),
    ({"$gt": 4, "$lt": 11}, {"five", "ten", "list"}),
    ({"$ne": None}, {"five", "ten", "list", "text"}),
    ({"$lt": "zzz"}, {"text"}),
])
async def test_range_filters_match_the_same_documents_on_both_backends(store, condition, expected):
    """Ranges never match a missing or null field (the in-memory store skips those
    documents early); ``$ne`` and array members behave as in MongoDB."""
    col = store["c"]
    for _id, value in (("five", 5), ("ten", 10), ("list", [3, 20]), ("text", "abc"), ("none", None)):
        await col.insert_one({"_id": _id, "f": value, "deleted": False})
    await col.insert_one({"_id": "missing", "deleted": False})
    found = {d["_id"] async for d in col.find({"f": condition, "deleted": {"$ne": True}})}
    assert found == expected


async def test_inbox_remembers_handled_events_once(store):
    inbox = Inbox(store)
    await inbox.setup()
    assert not await inbox.seen("e1")
    await inbox.remember("e1")
    await inbox.remember("e1")  # a second remember of the same id is harmless
    assert await inbox.seen("e1")
    assert not await inbox.seen("e2")


async def test_memory_store_still_expires_ttl_documents(store, monkeypatch):
    if not store.in_memory:
        pytest.skip("MongoDB expires documents once a minute; this checks the in-memory speed-up")
    monkeypatch.setattr(memory_store, "TTL_SWEEP_SECONDS", 0.0)
    col = store["callbacks"]
    await col.create_index("received_at", expireAfterSeconds=60)
    await col.insert_one({"_id": "old", "received_at": utcnow() - timedelta(minutes=5)})
    await col.insert_one({"_id": "new", "received_at": utcnow()})
    assert await col.find_one({"_id": "old"}) is None
    assert await col.find_one({"_id": "new"}) is not None


async def test_aggregate_returns_documents_on_both_backends(store):
    await store["c"].insert_many([{"_id": 1, "k": "a"}, {"_id": 2, "k": "a"}, {"_id": 3, "k": "b"}])
    rows = await store.aggregate("c", [{"$group": {"_id": "$k", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    assert rows == [{"_id": "a", "n": 2}, {"_id": "b", "n": 1}]


async def test_inbox_ttl_days_setting_becomes_the_inbox_ttl_index(unique):
    from chatbot_common.settings import Settings

    store = open_store("memory://", "ttl", memory_namespace=f"ttl-{unique}")
    inbox = Inbox(store, "inbox", ttl=Settings(inbox_ttl_days=2).inbox_ttl)
    await inbox.setup()
    indexes = await store["inbox"].index_information()
    assert [ix["expireAfterSeconds"] for ix in indexes.values() if "expireAfterSeconds" in ix] == [2 * 24 * 3600]


# --- the in-memory store's short paths (memory_store) give what mongomock gives

def _differential_script():
    """Operations of every shape the short paths take, and of shapes next to them that
    they leave to mongomock (dotted paths, $push modifiers, an upsert with more than
    ``_id`` in its filter, errors), as (label, coroutine factory) over one database."""
    from collections import OrderedDict
    from datetime import datetime, timezone

    from pymongo import ReturnDocument

    at = datetime(2026, 11, 29, 14, 0, 0, 123456, tzinfo=timezone.utc)
    naive = datetime(2026, 1, 2, 3, 4, 5, 678901)
    doc = {"_id": "r1", "version": 1, "inputs": ["a"], "at": at, "naive": naive,
           "resident": {"name": None, "identities": [{"channel": "viber", "seen": at}], "state": {"data": {}}},
           "outbox": [{"input": "a", "at": at, "events": [{"id": "e1", "data": {"buttons": [{"code": "x"}]}}]},
                      {"input": "b", "at": at, "events": []}],
           "od": OrderedDict([("z", 1), ("a", at)]), "n": 0}
    c = "c"
    return [
        ("insert", lambda db: db[c].insert_one(doc)),
        ("insert int id", lambda db: db[c].insert_one({"_id": 7, "phone": "+380", "tags": ["x", "y"]})),
        ("insert same phone (unique index)", lambda db: db[c].insert_one({"_id": 8, "phone": "+380"})),
        ("insert duplicate id", lambda db: db[c].insert_one({"_id": "r1"})),
        ("insert null character in a nested key", lambda db: db[c].insert_one({"_id": "bad", "x": {"a\0b": 1}})),
        ("insert $ field", lambda db: db[c].insert_one({"_id": "bad2", "$x": 1})),
        ("insert without id", lambda db: db[c].insert_one({"k": "no id"})),
        ("find whole", lambda db: db[c].find_one({"_id": "r1"})),
        ("find int id", lambda db: db[c].find_one({"_id": 7})),
        ("find missing", lambda db: db[c].find_one({"_id": "nobody"})),
        ("find with a condition that fails", lambda db: db[c].find_one({"_id": "r1", "version": 2})),
        ("find with a datetime condition", lambda db: db[c].find_one({"_id": "r1", "at": {"$lte": at}})),
        ("find projection", lambda db: db[c].find_one({"_id": "r1"}, {"outbox": 1, "version": 1, "nothing": 1})),
        ("find projection positional", lambda db: db[c].find_one({"_id": "r1"}, {"version": True})),
        ("find projection without _id", lambda db: db[c].find_one({"_id": "r1"}, {"_id": 0, "inputs": 1})),
        ("find projection only _id", lambda db: db[c].find_one({"_id": "r1"}, {"_id": 1})),
        ("find exclusion (mongomock's path)", lambda db: db[c].find_one({"_id": "r1"}, {"outbox": 0})),
        ("find dotted projection (mongomock's path)", lambda db: db[c].find_one({"_id": "r1"}, {"resident.name": 1})),
        ("set + push, versioned", lambda db: db[c].update_one(
            {"_id": "r1", "version": 1},
            {"$set": {"version": 2, "resident": {"name": "N", "at": at, "l": [[1, at]]}, "new": at},
             "$push": {"outbox": {"input": "c", "at": naive, "events": [{"id": "e3"}]}, "fresh": 1}})),
        ("read after set + push", lambda db: db[c].find_one({"_id": "r1"})),
        ("stale version", lambda db: db[c].update_one({"_id": "r1", "version": 1}, {"$set": {"version": 9}})),
        ("pull by a sub-document", lambda db: db[c].update_one({"_id": "r1"}, {"$pull": {"outbox": {"input": "a"}}})),
        ("pull with an operator", lambda db: db[c].update_one({"_id": "r1"},
                                                              {"$pull": {"outbox": {"input": {"$in": ["b", "z"]}}}})),
        ("pull a scalar", lambda db: db[c].update_one({"_id": 7}, {"$pull": {"tags": "x", "missing": 1}})),
        ("pull from a non-list", lambda db: db[c].update_one({"_id": "r1"}, {"$pull": {"version": 2}})),
        ("read after the pulls", lambda db: db[c].find_one({"_id": "r1"})),
        ("set the same value (not modified)", lambda db: db[c].update_one({"_id": "r1"}, {"$set": {"version": 2}})),
        ("setOnInsert on an existing document", lambda db: db[c].update_one(
            {"_id": "r1"}, {"$setOnInsert": {"version": 100}}, upsert=True)),
        ("upsert a new document", lambda db: db[c].update_one(
            {"_id": "u1"}, {"$set": {"a": at}, "$setOnInsert": {"b": 1}, "$push": {"l": "x"}}, upsert=True)),
        ("upsert with more than _id (mongomock's path)", lambda db: db[c].update_one(
            {"_id": "u2", "kind": "k"}, {"$set": {"a": 1}}, upsert=True)),
        ("update missing without upsert", lambda db: db[c].update_one({"_id": "ghost"}, {"$set": {"a": 1}})),
        ("push onto a non-list", lambda db: db[c].update_one({"_id": "r1"}, {"$push": {"version": 1}})),
        ("push with $each (mongomock's path)", lambda db: db[c].update_one(
            {"_id": 7}, {"$push": {"tags": {"$each": ["p", "q"]}}})),
        ("dotted set (mongomock's path)", lambda db: db[c].update_one({"_id": "r1"}, {"$set": {"resident.name": "M"}})),
        ("set a phone another document has", lambda db: db[c].update_one({"_id": "r1"}, {"$set": {"phone": "+380"}})),
        ("set a value BSON refuses", lambda db: db[c].update_one({"_id": "r1"}, {"$set": {"bad": object()}})),
        ("update_many by id", lambda db: db[c].update_many({"_id": 7}, {"$set": {"many": True}})),
        ("claim (find_one_and_update upsert, after)", lambda db: db["ids"].find_one_and_update(
            {"_id": "viber:1"}, {"$setOnInsert": {"resident_id": "r1"}}, upsert=True,
            return_document=ReturnDocument.AFTER)),
        ("claim again", lambda db: db["ids"].find_one_and_update(
            {"_id": "viber:1"}, {"$setOnInsert": {"resident_id": "r2"}}, upsert=True,
            return_document=ReturnDocument.AFTER)),
        ("find_one_and_update before", lambda db: db["ids"].find_one_and_update(
            {"_id": "viber:1"}, {"$set": {"x": 1}})),
        ("replace_one (mongomock's path)", lambda db: db[c].replace_one({"_id": 7}, {"phone": "+381"})),
    ]


def _outcome(result):
    """What an operation gave, comparable across runs: a document, an update's counts,
    an insert's id, or the error."""
    for attribute in ("matched_count", "inserted_id"):
        if hasattr(result, attribute):
            if attribute == "matched_count":
                return ("update", result.matched_count, result.modified_count, result.upserted_id)
            return ("insert", result.inserted_id if not hasattr(result.inserted_id, "binary") else "generated")
    return ("value", result)


async def _run_script(unique: str) -> tuple[list, dict]:
    from pymongo.errors import DuplicateKeyError

    store = open_store("memory://", "diff", memory_namespace=unique)
    await store["c"].create_index("phone", unique=True, sparse=True)
    await store["c"].create_index("at", expireAfterSeconds=10 ** 9)
    outcomes = []
    for label, operation in _differential_script():
        try:
            outcomes.append((label, _outcome(await operation(store.db))))
        except Exception as exc:  # noqa: BLE001 - the error is part of the outcome
            details = exc.details if isinstance(exc, DuplicateKeyError) else None
            outcomes.append((label, ("error", type(exc).__name__, details)))
    contents = {}
    for name in ("c", "ids"):
        contents[name] = [{k: v for k, v in d.items() if k != "_id" or isinstance(v, str | int)}
                          async for d in store[name].find({})]
    return outcomes, contents


async def test_short_paths_of_the_memory_store_give_what_mongomock_gives(unique):
    """Every operation of the script, run with the short paths and then with mongomock's
    own code on a fresh database, returns the same thing (document, counts, ids or the
    same error) and leaves the same documents — and the short paths were taken."""
    before = memory_store.taken.copy()
    short = await _run_script(f"{unique}-short")
    used = memory_store.taken - before
    with memory_store.plain_mongomock():
        plain = await _run_script(f"{unique}-plain")
    assert used["find_one"] >= 8 and used["update"] >= 12 and used["insert_one"] >= 2, used
    for (label, got), (_, expected) in zip(short[0], plain[0], strict=True):
        assert repr(got) == repr(expected), label  # the same fields in the same order, the same types
    assert repr(short[1]) == repr(plain[1])
    assert any(outcome[0] == "error" for _, outcome in plain[0])  # the script does reach errors
