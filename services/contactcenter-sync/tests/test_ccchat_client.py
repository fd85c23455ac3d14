"""The chat bridge's parts on their own: the Chatwoot client against the simulator over
real HTTP, the webhook signature check, the working-hours rules."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from ccchat_support import TOKEN, ChatCenter

from contactcenter_sync.chat import verify_signature
from contactcenter_sync.chat_hours import WorkingHours
from contactcenter_sync.chatwoot import ChatRefused, ChatUnavailable, ChatwootClient


@pytest.fixture
async def center() -> AsyncIterator[ChatCenter]:
    c = await ChatCenter().start()
    yield c
    await c.stop()


@pytest.fixture
async def client(center: ChatCenter) -> AsyncIterator[ChatwootClient]:
    c = ChatwootClient(center.chat_url, token=TOKEN, account_id=1, inbox_id=1, timeout=2.0)
    yield c
    await c.close()


async def test_contact_conversation_messages(client: ChatwootClient, center: ChatCenter) -> None:
    """Find-or-create by exact identifier (search matches substrings: «res-1» must not
    find «res-10»), a conversation on the contact's source_id, a private note, an incoming
    message with our source_id, an attachment, resolve, custom attributes."""
    other, _ = await client.create_contact(identifier="res-10", name="Інший", phone="+380501111111")
    assert await client.find_contact("res-1") is None
    contact_id, source_id = await client.create_contact(identifier="res-1", name="Олена", phone="+380671234567")
    assert contact_id != other
    found = await client.find_contact("res-1")
    assert found is not None and found["id"] == contact_id
    conversation_id = await client.create_conversation(source_id=source_id, contact_id=contact_id,
                                                       custom_attributes={"chatbot_chat_id": "c1"})
    await client.post_message(conversation_id, "нотатка", private=True, source_id="chatbot:c1:note")
    await client.post_message(conversation_id, "Привіт", incoming=True, source_id="chatbot:m1")
    await client.post_attachment(conversation_id, content="фото", filename="a.jpg", content_type="image/jpeg",
                                 data=b"\xff\xd8jpeg", source_id="chatbot:m2")
    messages = await client.messages(conversation_id)
    assert [(m["content"], m["message_type"], m["private"], m["source_id"]) for m in messages] == [
        ("нотатка", 1, True, "chatbot:c1:note"), ("Привіт", 0, False, "chatbot:m1"), ("фото", 0, False, "chatbot:m2")]
    assert messages[2]["attachments"][0]["file_size"] == 6
    await client.toggle_status(conversation_id, "resolved")
    await client.set_custom_attributes(conversation_id, {"chatbot_chat_id": "c1", "chatbot_rating": 5})
    conv = center.chat.conversation(conversation_id)
    assert conv.status == "resolved" and conv.custom_attributes == {"chatbot_chat_id": "c1", "chatbot_rating": 5}


async def test_a_phone_the_server_refuses_is_left_out(client: ChatwootClient, center: ChatCenter) -> None:
    """A phone that is not E.164 (422) → the contact is still created, without it."""
    contact_id, _ = await client.create_contact(identifier="res-2", name="Петро", phone="067-123")
    assert center.chat.contacts[contact_id]["phone_number"] is None


async def test_a_contact_is_updated_and_a_taken_phone_is_left_as_it_was(client: ChatwootClient,
                                                                          center: ChatCenter) -> None:
    """PUT contacts/{id}: name and phone replaced; a phone another contact holds (422)
    leaves the old phone, the name still changes."""
    contact_id, _ = await client.create_contact(identifier="res-4", name="Олена", phone="+380671234567")
    await client.create_contact(identifier="res-5", name="Інша", phone="+380500000005")
    await client.update_contact(contact_id, name="Олена Коваль", phone="+380671111111")
    assert (center.chat.contacts[contact_id]["name"], center.chat.contacts[contact_id]["phone_number"]) == (
        "Олена Коваль", "+380671111111")
    await client.update_contact(contact_id, name="Олена К.", phone="+380500000005")
    assert (center.chat.contacts[contact_id]["name"], center.chat.contacts[contact_id]["phone_number"]) == (
        "Олена К.", "+380671111111")
    with pytest.raises(ChatRefused):
        await client.update_contact(99999, name="Ніхто", phone=None)


async def test_errors(client: ChatwootClient, center: ChatCenter) -> None:
    """A wrong token → ChatRefused 401; an unknown conversation → ChatRefused 404; the
    server down → ChatUnavailable; nothing listening → ChatUnavailable."""
    bad = ChatwootClient(center.chat_url, token="wrong", account_id=1, inbox_id=1)
    try:
        with pytest.raises(ChatRefused) as refused:
            await bad.find_contact("res-1")
        assert refused.value.status == 401
    finally:
        await bad.close()
    with pytest.raises(ChatRefused) as missing:
        await client.post_message("999", "x")
    assert missing.value.status == 404
    center.chat.down = True
    with pytest.raises(ChatUnavailable):
        await client.find_contact("res-1")
    nowhere = ChatwootClient("http://127.0.0.1:9", token=TOKEN, account_id=1, inbox_id=1, timeout=1.0)
    try:
        with pytest.raises(ChatUnavailable):
            await nowhere.find_contact("res-1")
    finally:
        await nowhere.close()


async def test_download_limits(client: ChatwootClient, center: ChatCenter) -> None:
    """A file larger than the limit or a 404 → None (the bridge then sends a link)."""
    contact_id, source_id = await client.create_contact(identifier="res-3", name="Х", phone=None)
    conv = await client.create_conversation(source_id=source_id, contact_id=contact_id, custom_attributes={})
    answer = await client.post_attachment(conv, content="", filename="big.bin", content_type="application/pdf",
                                          data=b"x" * 100)
    url = answer["attachments"][0]["data_url"]
    assert await client.download(url) == (b"x" * 100, "application/pdf")
    small = ChatwootClient(center.chat_url, token=TOKEN, account_id=1, inbox_id=1, media_max_bytes=50)
    try:
        assert await small.download(url) is None
    finally:
        await small.close()
    assert await client.download(center.url + "/chatwoot/files/nope") is None


def _sign(secret: str, ts: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256).hexdigest()


def test_signature() -> None:
    """Valid = HMAC over "{timestamp}.{raw body}"; a wrong secret, another body, a missing
    header, a timestamp more than 5 minutes off or not a number → refused."""
    raw, now = '{"event":"message_created","content":"Привіт <b>"}'.encode(), 1_800_000_000
    ts = str(now)
    assert verify_signature("s", raw, ts, _sign("s", ts, raw), now=now)
    assert verify_signature("s", raw, ts, _sign("s", ts, raw), now=now + 299)
    assert not verify_signature("s", raw, ts, _sign("s", ts, raw), now=now + 301)
    assert not verify_signature("s", raw, ts, _sign("s", ts, raw), now=now - 301)
    assert not verify_signature("t", raw, ts, _sign("s", ts, raw), now=now)
    assert not verify_signature("s", raw + b" ", ts, _sign("s", ts, raw), now=now)
    assert not verify_signature("s", raw, None, _sign("s", ts, raw), now=now)
    assert not verify_signature("s", raw, ts, None, now=now)
    assert not verify_signature("s", raw, "soon", _sign("s", "soon", raw), now=now)


KYIV_HOURS = "mon-fri 08:00-20:00; sat 09:00-15:00"


def kyiv(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=WorkingHours.parse("").zone)


def test_working_hours() -> None:
    """Open inside a span, closed outside; the next opening skips Sundays and holidays;
    times are Kyiv's (winter UTC+2, summer UTC+3)."""
    hours = WorkingHours.parse(KYIV_HOURS, "2026-12-07, 2026-12-25")
    assert hours.is_open(kyiv(2026, 12, 4, 8, 0)) and hours.opens_at(kyiv(2026, 12, 4, 8, 0)) is None  # Fri
    assert not hours.is_open(kyiv(2026, 12, 4, 20, 0))
    assert hours.opens_at(kyiv(2026, 12, 4, 20, 0)) == kyiv(2026, 12, 5, 9, 0)  # → Sat 09:00
    assert hours.opens_at(kyiv(2026, 12, 5, 15, 30)) == kyiv(2026, 12, 8, 8, 0)  # Sun, Mon holiday → Tue
    assert hours.opens_at(kyiv(2026, 12, 8, 6, 0)) == kyiv(2026, 12, 8, 8, 0)  # early: today
    summer = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)  # 08:00 in Kyiv (UTC+3)
    assert hours.is_open(summer) and not hours.is_open(datetime(2026, 7, 1, 4, 59, tzinfo=UTC))
    always = WorkingHours.parse("")
    assert always.always and always.is_open(kyiv(2026, 12, 6, 3, 0))
    only_holidays = WorkingHours.parse("", "2026-12-25")
    assert not only_holidays.is_open(kyiv(2026, 12, 25, 12, 0))
    assert only_holidays.opens_at(kyiv(2026, 12, 25, 12, 0)) == kyiv(2026, 12, 26, 0, 0)
    weekend = WorkingHours.parse("sat,sun 10:00-12:00, 13:00-24:00; fri-mon 07:00-08:00")
    assert weekend.is_open(kyiv(2026, 12, 6, 23, 59)) and not weekend.is_open(kyiv(2026, 12, 6, 12, 30))
    assert weekend.is_open(kyiv(2026, 12, 7, 7, 30))  # fri-mon wraps over the week's end


@pytest.mark.parametrize("bad", ["mon-fri", "mon-fri 8-20", "someday 08:00-20:00", "mon 20:00-08:00",
                                 "mon 08:00-25:00", "mon 08:60-09:00"])
def test_bad_working_hours_are_refused(bad: str) -> None:
    """A value we cannot read is an error at start naming the variable, never «always open»."""
    with pytest.raises(ValueError, match="CHAT_WORKING_HOURS"):
        WorkingHours.parse(bad)


def test_bad_holiday_is_refused() -> None:
    with pytest.raises(ValueError, match="CHAT_HOLIDAYS"):
        WorkingHours.parse("", "2026-13-01")
