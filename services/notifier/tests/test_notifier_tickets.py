"""Request notices (issue 7, notifier): one message per change to the resident, the
number on the reply lane, later changes on the bulk lane, the rating buttons on a final
status, nothing for deleted or unsubscribed residents, nothing twice on redelivery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from chatbot_common.events import (
    ResidentDeleted,
    TicketDeadlineChanged,
    TicketOverdue,
    TicketRegistered,
    TicketStatus,
    TicketStatusChanged,
    derived_id,
)

from notifier_testkit import Harness, eventually, resident

K = "khmelnytskyi"
AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)


def registered(rid: str = "r1", ticket: str = "t1") -> TicketRegistered:
    return TicketRegistered(ticket_id=ticket, resident_id=rid, service_name="Прибирання території",
                            service_request_id="КЦ-2026-00042", at=AT, expected_at=DEADLINE)


def status(value: TicketStatus, rid: str = "r1", update: str = "u1", notes: str | None = None) -> TicketStatusChanged:
    return TicketStatusChanged(ticket_id="t1", resident_id=rid, service_name="Прибирання території",
                               service_request_id="КЦ-2026-00042", at=AT, update_id=update, status=value,
                               raw_status=value.value, notes=notes)


async def started_with(h: Harness, *residents) -> None:
    await h.start()
    for data in residents:
        await h.publish(data)
    await eventually(lambda: len(h.notifier.audience.index) >= len([r for r in residents if r.subscribed]), "projected")


async def test_number_status_deadline_and_outcome_each_reach_the_resident_once(harness: Harness):
    """Registered → the number and deadline (дд.мм.рррр ГГ:ХХ Kyiv) on the reply lane;
    a status → its catalog name; closed → the outcome notes, five rating buttons and
    «Деталі»; every message has «🏠 Головне меню»; a redelivered input sends nothing new."""
    h = harness
    await started_with(h, resident("r1", houses=[(K, "proskurivska", "1")]))
    first = await h.publish(registered())
    number = await eventually(lambda: h.outbound(), "number")
    msg = number[0]
    assert msg.id == derived_id(first.id, "notice")
    assert msg.data["lane"] == "reply" and msg.data["receivers"] == ["v-r1"] and msg.data["resident_ids"] == ["r1"]
    assert "КЦ-2026-00042" in msg.data["text"] and "03.12.2026 17:30" in msg.data["text"]
    assert [b["code"] for b in msg.data["buttons"]] == ["ticket:show:t1", "nav:home"]

    await h.publish(status(TicketStatus.in_progress))
    await eventually(lambda: len(h.outbound()) == 2, "status")
    assert "🛠 Виконується" in h.outbound()[1].data["text"] and h.outbound()[1].data["lane"] == "bulk"

    await h.publish(TicketDeadlineChanged(ticket_id="t1", resident_id="r1", service_name="Прибирання території",
                                          service_request_id="КЦ-2026-00042", at=AT, expected_at=DEADLINE.replace(day=5),
                                          previous_expected_at=DEADLINE))
    await eventually(lambda: len(h.outbound()) == 3, "deadline")
    assert "з 03.12.2026 17:30 на 05.12.2026 17:30" in h.outbound()[2].data["text"]

    closing = await h.publish(status(TicketStatus.fixed, update="u2", notes="Сміття вивезено."))
    await eventually(lambda: len(h.outbound()) == 4, "outcome")
    outcome = h.outbound()[3].data
    assert "✅ Виконано" in outcome["text"] and "Сміття вивезено." in outcome["text"]
    assert [b["code"] for b in outcome["buttons"]] == [f"ticket:rate:t1:{n}" for n in range(1, 6)] + [
        "ticket:show:t1", "nav:home"]

    await h.publisher.publish(closing)  # redelivered
    await h.publish(TicketOverdue(ticket_id="t1", resident_id="r1", service_name="Прибирання території",
                                  service_request_id="КЦ-2026-00042", at=AT, expected_at=DEADLINE))
    await eventually(lambda: len(h.outbound()) == 5, "overdue")
    await asyncio.sleep(0.2)
    assert len(h.outbound()) == 5 and "минув" in h.outbound()[4].data["text"]


async def test_deleted_unsubscribed_and_unknown_residents_get_nothing(harness: Harness):
    """A deleted resident, an unsubscribed one and one the projection never saw are
    skipped (and acknowledged: nothing is parked); a subscribed one still gets theirs."""
    h = harness
    await started_with(h, resident("gone", houses=[(K, "proskurivska", "1")]),
                       resident("quiet", houses=[(K, "proskurivska", "1")], subscribed=False),
                       resident("ok", houses=[(K, "proskurivska", "1")]))
    await h.publish(ResidentDeleted(resident_id="gone"))
    await eventually(lambda: "gone" not in h.notifier.audience.index.entries, "deleted")
    for rid in ("gone", "quiet", "stranger"):
        await h.publish(registered(rid, ticket=f"t-{rid}"))
    await h.publish(registered("ok", ticket="t-ok"))
    await eventually(lambda: h.outbound(), "the subscribed resident's notice")
    await asyncio.sleep(0.2)
    assert [e.data["receivers"] for e in h.outbound()] == [["v-ok"]]
    assert await h.runtime.bus.dead_letters("notifier.tickets") == []


async def test_an_empty_projection_asks_the_dialog_for_every_resident(harness: Harness):
    """At start with no resident known, the notifier publishes
    ``audience.resync_requested``; with residents known it does not."""
    h = harness
    await h.start()
    requests = await eventually(lambda: h.of_type("audience.resync_requested"), "resync request")
    assert requests[0].data["requested_by"] == "notifier"
    await h.publish(resident("r1", houses=[(K, "proskurivska", "1")]))
    await eventually(lambda: len(h.notifier.audience.index) == 1, "projected")
    await h.stop()
    await h.start()
    await asyncio.sleep(0.3)
    assert len(h.of_type("audience.resync_requested")) == 1


async def test_the_resync_command_publishes_one_request(harness: Harness):
    """``python -m notifier resync`` publishes ``audience.resync_requested`` on the
    configured bus; an unknown argument prints the usage and exits 2."""
    from notifier.__main__ import main, resync
    from notifier.settings import NotifierSettings

    h = harness
    await resync(NotifierSettings(amqp_url=h.bus_url))
    requests = await eventually(lambda: h.of_type("audience.resync_requested"), "the request")
    assert len(requests) == 1 and requests[0].data == {"requested_by": "notifier", "resident_ids": []}
    assert main(["what"]) == 2
