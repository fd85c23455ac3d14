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
