"""`python -m chatbot_common.replay <queue>.dead` moves parked messages back to their
queue with publisher confirms, and never loses one: stopped at any point, each message
is still parked or already back (docs/deployment.md, issue 6).

Each broker test runs on a virtual host of its own (``vhost_amqp_url``) with the
topology the bus declares: quorum queue ``svc.work`` dead-lettering via ``chatbot.dlx``
(routing key ``svc.work``) into the quorum queue ``svc.work.dead``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from chatbot_common.replay import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ReplayError,
    main,
    move,
    replay_headers,
    target_queue,
)

ROOT = Path(__file__).resolve().parents[3]
QUEUE = "svc.work"
DEAD = "svc.work.dead"
DLX = "chatbot.dlx"
# Personal data, as in a real resident's message: it must never reach the tool's output.
SECRET = "Петренко Іван, вул. Шевченка 7, кв. 12, +380671234567"


# --------------------------------------------------------------------------- helpers


async def declare(url: str, queue: str = QUEUE, *, with_target: bool = True) -> None:
    """What the bus declares for one consumer queue (without its topic bindings)."""
    conn = await aio_pika.connect(url)
    async with conn:
        channel = await conn.channel()
        await channel.declare_exchange(DLX, aio_pika.ExchangeType.DIRECT, durable=True)
        dead = await channel.declare_queue(f"{queue}.dead", durable=True, arguments={"x-queue-type": "quorum"})
        await dead.bind(DLX, routing_key=queue)
        if with_target:
            await channel.declare_queue(queue, durable=True, arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": 5,
                "x-dead-letter-exchange": DLX,
                "x-dead-letter-routing-key": queue,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            })


def event_message(n: int) -> aio_pika.Message:
    """A message with the properties the bus gives every event (docs/messaging.md)."""
    event_id = f"00000000-0000-4000-8000-{n:012d}"
    return aio_pika.Message(
        body=json.dumps({"id": event_id, "type": "inbound.message", "data": {"text": SECRET}}).encode(),
        content_type="application/cloudevents+json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event_id,
        correlation_id=f"corr-{n}",
        type="inbound.message",
        app_id="gateway",
        timestamp=datetime(2025, 1, 31, 12, 0, n % 60, tzinfo=timezone.utc),
        headers={"ce-type": "inbound.message", "ce-source": "gateway", "ce-id": event_id},
    )


async def queue_size(url: str, name: str) -> int:
    conn = await aio_pika.connect(url)
    async with conn:
        channel = await conn.channel()
        queue = await channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)


async def eventually_size(url: str, name: str, expected: int, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (size := await queue_size(url, name)) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"{name} holds {size}, expected {expected}"
        await asyncio.sleep(0.05)


async def park(url: str, count: int, queue: str = QUEUE) -> list[aio_pika.Message]:
    """Publish ``count`` events to ``queue`` and reject each (as a consumer parks an
    invalid or permanently failing one), so the broker dead-letters them to ``.dead``."""
    messages = [event_message(n) for n in range(count)]
    conn = await aio_pika.connect(url)
    async with conn:
        channel = await conn.channel(publisher_confirms=True)
        for message in messages:
            await channel.default_exchange.publish(message, routing_key=queue, mandatory=True)
        source = await channel.get_queue(queue, ensure=False)
        for _ in messages:
            got = await source.get(no_ack=False)
            await got.reject(requeue=False)
    await eventually_size(url, f"{queue}.dead", count)
    return messages


async def take(url: str, name: str) -> list[AbstractIncomingMessage]:
    """Every message in ``name``, in queue order (acked: the queue is left empty)."""
    conn = await aio_pika.connect(url)
    async with conn:
        channel = await conn.channel()
        queue = await channel.get_queue(name, ensure=False)
        taken = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            await message.ack()
            taken.append(message)
        return taken


def ids(messages: list[AbstractIncomingMessage] | list[aio_pika.Message]) -> list[str | None]:
    return [m.message_id for m in messages]


def same_event(got: AbstractIncomingMessage, sent: aio_pika.Message) -> None:
    assert got.body == sent.body
    assert got.content_type == sent.content_type
    assert got.message_id == sent.message_id
    assert got.correlation_id == sent.correlation_id
    assert got.type == sent.type
    assert got.app_id == sent.app_id
    assert got.timestamp == sent.timestamp
    assert got.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    # The original headers, no dead-letter bookkeeping (x-death, x-first-death-*), and a
    # delivery count starting afresh (the broker adds x-delivery-count to a quorum
    # queue's deliveries; a carried-over one would count against the delivery limit).
    headers = dict(got.headers)
    assert headers.pop("x-delivery-count", 0) == 0
    assert headers == sent.headers


class Output:
    """Collects what the tool prints (``out=``), to check it and that no body leaks."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def cli(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "chatbot_common.replay", *args, "--amqp-url", url]


# ------------------------------------------------------------------ without a broker


def test_only_a_dead_queue_name_is_accepted_and_its_target_is_the_name_without_dead():
    assert target_queue("dialog.inbound.dead") == "dialog.inbound"
    for wrong in ("dialog.inbound", ".dead", "dialog.inbound.dead.x", "dead"):
        with pytest.raises(ReplayError, match="not a parking queue"):
            target_queue(wrong)


def test_replayed_headers_keep_the_events_own_and_drop_the_brokers_bookkeeping():
    headers = {
        "ce-type": "inbound.message", "ce-id": "e1", "x-death": [{"count": 1}], "x-delivery-count": 3,
        "x-first-death-reason": "rejected", "x-first-death-queue": "q", "x-first-death-exchange": "",
        "x-last-death-reason": "rejected",
    }
    assert replay_headers(headers) == {"ce-type": "inbound.message", "ce-id": "e1"}
    assert replay_headers(None) == {}


async def test_without_an_amqp_url_it_refuses_with_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("AMQP_URL", raising=False)
    assert await main(["svc.work.dead"]) == EXIT_USAGE
    assert "AMQP_URL" in capsys.readouterr().err
    monkeypatch.setenv("AMQP_URL", "memory://")  # the in-process bus has no parking queues to replay
    assert await main(["svc.work.dead"]) == EXIT_USAGE


def make_env(**extra: str) -> dict[str, str]:
    """The environment without a calling make's variables (``make test`` passes them on)."""
    drop = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "QUEUE", "REPLAY_ARGS")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def test_make_replay_runs_the_tool_on_the_given_queue_with_the_extra_arguments():
    if not shutil.which("make"):
        pytest.skip("no make")
    dry = subprocess.run(["make", "-n", "replay", "QUEUE=dialog.inbound.dead", "REPLAY_ARGS=--dry-run --limit 3"],
                         cwd=ROOT, env=make_env(), capture_output=True, text=True, check=True)
    last = dry.stdout.strip().splitlines()[-1]
    assert last.endswith('" run --frozen python -m chatbot_common.replay dialog.inbound.dead --dry-run --limit 3')


def test_make_replay_without_queue_is_a_usage_error_and_runs_nothing(tmp_path):
    if not shutil.which("make"):
        pytest.skip("no make")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    calls = tmp_path / "calls"
    fake_uv = tmp_path / "uv"
    fake_uv.write_text(f'#!/bin/bash\necho "uv $*" >> "{calls}"\n')
    fake_uv.chmod(0o755)
    done = subprocess.run(["make", "replay"], cwd=tmp_path, env=make_env(PATH=f"{tmp_path}:/usr/bin:/bin"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "usage: make replay QUEUE=<queue>.dead" in done.stderr
    assert "chatbot_common.replay" not in (calls.read_text() if calls.exists() else "")


# ---------------------------------------------------------------------- with a broker


@pytest.mark.rabbitmq
async def test_replay_moves_every_parked_message_back_once_in_order_with_its_properties(vhost_amqp_url):
    await declare(vhost_amqp_url)
    sent = await park(vhost_amqp_url, 4)
    out = Output()

    assert await main([DEAD, "--amqp-url", vhost_amqp_url], out=out) == EXIT_OK

    assert out.lines[-1] == f"replayed 4 of 4 from {DEAD} to {QUEUE}"
    assert SECRET not in out.text
    assert await queue_size(vhost_amqp_url, DEAD) == 0
    back = await take(vhost_amqp_url, QUEUE)
    assert ids(back) == ids(sent)  # each once, in the order they were parked
    for got, original in zip(back, sent, strict=True):
        same_event(got, original)


@pytest.mark.rabbitmq
async def test_the_command_line_tool_replays_with_amqp_url_from_the_environment(vhost_amqp_url):
    await declare(vhost_amqp_url)
    sent = await park(vhost_amqp_url, 3)
    env = {**os.environ, "AMQP_URL": vhost_amqp_url}

    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "chatbot_common.replay", DEAD],
                                   env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"replayed 3 of 3 from {DEAD} to {QUEUE}"
    assert SECRET not in done.stdout + done.stderr
    assert await queue_size(vhost_amqp_url, DEAD) == 0
    assert ids(await take(vhost_amqp_url, QUEUE)) == ids(sent)


@pytest.mark.rabbitmq
async def test_a_replay_stopped_half_way_by_limit_leaves_the_rest_parked_and_the_next_run_finishes(vhost_amqp_url):
    await declare(vhost_amqp_url)
    sent = await park(vhost_amqp_url, 5)
    out = Output()

    assert await main([DEAD, "--amqp-url", vhost_amqp_url, "--limit", "2"], out=out) == EXIT_OK

    assert out.lines[-1] == f"replayed 2 of 5 from {DEAD} to {QUEUE}"
    assert await queue_size(vhost_amqp_url, QUEUE) == 2
    assert await queue_size(vhost_amqp_url, DEAD) == 3
    assert await main([DEAD, "--amqp-url", vhost_amqp_url], out=out) == EXIT_OK
    assert out.lines[-1] == f"replayed 3 of 3 from {DEAD} to {QUEUE}"
    assert ids(await take(vhost_amqp_url, QUEUE)) == ids(sent)  # all five, once each, in order
    assert await queue_size(vhost_amqp_url, DEAD) == 0


@pytest.mark.rabbitmq
async def test_messages_parked_again_during_the_replay_wait_for_the_next_run(vhost_amqp_url):
    """A consumer that still fails re-parks each replayed message at once; the replay
    stops after the messages that were parked when it started instead of looping."""
    await declare(vhost_amqp_url)
    sent = await park(vhost_amqp_url, 4)
    delivered: list[str | None] = []
    conn = await aio_pika.connect(vhost_amqp_url)
    async with conn:
        channel = await conn.channel()

        async def still_failing(message: AbstractIncomingMessage) -> None:
            delivered.append(message.message_id)
            await message.reject(requeue=False)

        await (await channel.get_queue(QUEUE, ensure=False)).consume(still_failing)
        out = Output()
        assert await asyncio.wait_for(main([DEAD, "--amqp-url", vhost_amqp_url], out=out), 30) == EXIT_OK
        assert out.lines[-1] == f"replayed 4 of 4 from {DEAD} to {QUEUE}"
        await eventually_size(vhost_amqp_url, DEAD, 4)
    assert delivered == ids(sent)  # each replayed exactly once
    assert ids(await take(vhost_amqp_url, DEAD)) == ids(sent)  # parked again, nothing lost


@pytest.mark.rabbitmq
async def test_dry_run_lists_types_and_ids_only_and_moves_nothing(vhost_amqp_url):
    await declare(vhost_amqp_url)
    sent = await park(vhost_amqp_url, 3)
    out = Output()

    assert await main([DEAD, "--amqp-url", vhost_amqp_url, "--dry-run"], out=out) == EXIT_OK

    for message in sent:
        assert f"inbound.message {message.message_id} (rejected)" in out.text
    assert out.lines[-1] == f"dry run: 3 of 3 in {DEAD} would go to {QUEUE} (inbound.message: 3); nothing moved"
    assert SECRET not in out.text
    assert await queue_size(vhost_amqp_url, QUEUE) == 0
    await eventually_size(vhost_amqp_url, DEAD, 3)
    assert ids(await take(vhost_amqp_url, DEAD)) == ids(sent)  # still parked, in their order


@pytest.mark.rabbitmq
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["SIGKILL", "SIGINT", "SIGTERM"])
async def test_a_replay_stopped_at_any_point_loses_nothing(vhost_amqp_url, sig):
    """The process is stopped while it moves messages. Every message is then parked or
    back in its queue; the ones back are the first ones, in order, and the rest are still
    parked in order. Killed (SIGKILL) between a confirm and its ack, one message may be
    in both (the consumer's inbox drops the duplicate); asked to stop (SIGINT, SIGTERM),
    it finishes the message in hand and exits 130 with how far it got."""
    await declare(vhost_amqp_url)
    count = 300
    sent = ids(await park(vhost_amqp_url, count))
    process = await asyncio.create_subprocess_exec(*cli(vhost_amqp_url, DEAD), stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    while await queue_size(vhost_amqp_url, QUEUE) < 5:
        assert process.returncode is None, "the replay ended before it could be stopped"
        await asyncio.sleep(0.01)
    process.send_signal(sig)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)

    assert SECRET.encode() not in stdout + stderr
    back = ids(await take(vhost_amqp_url, QUEUE))
    # The broker returns a killed connection's unacked message to the parking queue as
    # soon as it sees the socket closed: wait until every message is accounted for.
    deadline = asyncio.get_running_loop().time() + 15
    while await queue_size(vhost_amqp_url, DEAD) + len(back) < count:
        assert asyncio.get_running_loop().time() < deadline, "messages lost"
        await asyncio.sleep(0.05)
    parked = ids(await take(vhost_amqp_url, DEAD))
    assert 5 <= len(back) < count, "stopped half-way"
    assert back == sent[: len(back)]
    assert set(back) | set(parked) == set(sent)
    in_both = set(back) & set(parked)
    assert in_both <= {back[-1]}  # only the last one moved, if its ack never reached the broker
    assert [i for i in parked if i not in in_both] == sent[len(back):]
    if sig != signal.SIGKILL:
        assert process.returncode == EXIT_INTERRUPTED, stderr
        assert not in_both
        assert f"interrupted: replayed {len(back)} of {count} from {DEAD} to {QUEUE}; the rest are still parked" \
            in stderr.decode()


@pytest.mark.rabbitmq
async def test_a_queue_that_does_not_exist_is_a_clear_error(vhost_amqp_url):
    done = await asyncio.to_thread(subprocess.run, cli(vhost_amqp_url, "nothing.here.dead"),
                                   capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_FAILED
    assert "queue 'nothing.here.dead' does not exist" in done.stderr


@pytest.mark.rabbitmq
async def test_a_name_not_ending_in_dead_is_refused_and_nothing_moves(vhost_amqp_url, capsys):
    await declare(vhost_amqp_url)
    await park(vhost_amqp_url, 2)

    assert await main([QUEUE, "--amqp-url", vhost_amqp_url]) == EXIT_USAGE

    assert "'svc.work' is not a parking queue" in capsys.readouterr().err
    assert await queue_size(vhost_amqp_url, DEAD) == 2


@pytest.mark.rabbitmq
async def test_a_missing_target_queue_fails_before_anything_moves(vhost_amqp_url, capsys):
    await declare(vhost_amqp_url)
    await park(vhost_amqp_url, 2)
    conn = await aio_pika.connect(vhost_amqp_url)
    async with conn:
        await (await conn.channel()).queue_delete(QUEUE)

    assert await main([DEAD, "--amqp-url", vhost_amqp_url]) == EXIT_FAILED

    assert f"queue '{QUEUE}' does not exist" in capsys.readouterr().err
    assert await queue_size(vhost_amqp_url, DEAD) == 2


@pytest.mark.rabbitmq
async def test_a_copy_the_broker_cannot_route_is_an_error_and_the_message_stays_parked(vhost_amqp_url):
    """``mandatory``: if the target queue vanishes mid-replay, the broker returns the
    copy; ``move`` raises instead of acking, so the parked message is not dropped."""
    await declare(vhost_amqp_url)
    sent = await park(vhost_amqp_url, 1)
    conn = await aio_pika.connect(vhost_amqp_url)
    async with conn:
        channel = await conn.channel(publisher_confirms=True, on_return_raises=True)
        parked = await (await channel.get_queue(DEAD, ensure=False)).get(no_ack=False)
        with pytest.raises(ReplayError, match="returned the message to 'svc.gone'"):
            await move(channel, parked, "svc.gone", timeout=10)
    await eventually_size(vhost_amqp_url, DEAD, 1)
    assert ids(await take(vhost_amqp_url, DEAD)) == ids(sent)
