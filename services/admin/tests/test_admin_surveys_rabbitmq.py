"""Surveys on a real RabbitMQ (a virtual host of its own): each change's
``survey.published`` reaches the notifier's and the dialog's survey queues once, in
order with growing revisions; ``survey.answered`` published on the broker reaches
``admin.surveys`` and is counted once even when sent twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aio_pika
import aiohttp
import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Client, settings
from test_admin_rabbitmq import drain

from admin.service import build
from chatbot_common.bus import create_bus
from chatbot_common.events import SurveyAnswer, SurveyAnswered, derived_id, make_event, utcnow
from chatbot_common.store import open_store

pytestmark = pytest.mark.rabbitmq


async def test_survey_events_reach_notifier_and_dialog_and_answers_are_counted(vhost_amqp_url: str, unique: str):
    store = open_store("memory://", f"admin_rmq_{unique}", memory_namespace=f"rmq-sv-{unique}")
    runtime = build(settings(amqp_url=vhost_amqp_url), store=store)
    await runtime.start(host="127.0.0.1")
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(session, f"http://127.0.0.1:{runtime.bound_port}")
            client.token = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            status, body = await client.post("/api/v1/surveys", {
                "survey_id": "dvir", "title": "Двір", "ends_at": (utcnow() + timedelta(days=3)).isoformat(),
                "questions": [{"kind": "single", "text": "Як Вам?", "options": [{"label": "Добре"},
                                                                                {"label": "Погано"}]}]})
            assert status == 201, body
            assert (await client.post("/api/v1/surveys/dvir/publish", {}))[0] == 200
            assert (await client.post("/api/v1/surveys/dvir/close", {}))[0] == 200

            connection = await aio_pika.connect(vhost_amqp_url)
            async with connection:
                channel = await connection.channel()
                for name in ("notifier.surveys", "dialog.surveys"):
                    events = await drain(channel, name, 2)
                    assert [(e["type"], e["data"]["revision"], e["data"]["state"]) for e in events] == [
                        ("survey.published", 1, "active"), ("survey.published", 2, "closed")]

            bus = create_bus(vhost_amqp_url, name="test")
            await bus.connect()
            answered = SurveyAnswered(survey_id="dvir", resident_id="r-1", at=utcnow(),
                                      answers=[SurveyAnswer(question_id="q1", options=["o1"])])
            for _ in range(2):
                await bus.publish(make_event(answered, source="/dialog",
                                             id=derived_id("survey", "dvir", "r-1", "survey.answered")))
            await bus.close()
            for _ in range(400):
                _, results = await client.get("/api/v1/surveys/dvir/results")
                if results["respondents"]:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            _, results = await client.get("/api/v1/surveys/dvir/results")
            assert results["respondents"] == 1 and results["questions"][0]["options"][0]["count"] == 1
    finally:
        await runtime.stop()
