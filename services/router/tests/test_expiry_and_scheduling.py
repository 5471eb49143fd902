"""Expiry (`ttl_s`, `expires_at`) and durable scheduling (`deliver_at`)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from notify_common.schemas import decode_event
from router.scheduler import Scheduler

from .conftest import Harness, MakeHarness


def iso(offset_s: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s)).isoformat()


def to(*ids: str, **fields: Any) -> dict[str, Any]:
    return {"type": "t", "audience": {"kind": "users", "ids": list(ids)}, **fields}


async def test_expired_event_is_not_delivered_and_each_recipient_gets_an_expired_receipt(
    harness: Harness,
) -> None:
    await harness.node("gw-a", "on")
    await harness.route(to("on", "off", id="x1", expires_at=iso(-5)))
    assert await harness.deliveries("gw-a") == []
    assert await harness.push_jobs() == [] and await harness.feed("off") == []
    receipts = await harness.receipts()
    assert sorted((r.user_id, r.kind, r.notification_id) for r in receipts) == [
        ("off", "expired", "x1"),
        ("on", "expired", "x1"),
    ]


async def test_future_event_is_held_and_not_delivered_before_its_time(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    await harness.route(to("u1", id="s1", deliver_at=iso(3600)))
    assert await harness.deliveries("gw-a") == []
    assert await Scheduler(harness.client, harness.keys, harness.cfg, harness.router).release_due() == 0
    assert await harness.client.zcard(harness.keys.scheduled) == 1


async def test_due_scheduled_event_is_released_and_removed(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    await harness.route(to("u1", id="s2", deliver_at=iso(0.3)))
    assert await harness.deliveries("gw-a") == []
    scheduler = Scheduler(harness.client, harness.keys, harness.cfg, harness.router)
    deadline = time.monotonic() + 10
    while not await scheduler.release_due():
        assert time.monotonic() < deadline
    assert [d.notification.id for d in await harness.deliveries("gw-a")] == ["s2"]
    assert await harness.client.zcard(harness.keys.scheduled) == 0
    assert await harness.client.hlen(harness.keys.scheduled_events) == 0


async def test_scheduled_event_claimed_by_a_replica_that_died_is_released_again_after_the_lease(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(schedule_lease_ms=200)
    await harness.node("gw-a", "u1")
    await harness.route(to("u1", id="s3", deliver_at=iso(-1)))  # already due: routed now
    await harness.client.delete(harness.keys.node_deliveries("gw-a"))
    entry = (await harness.client.xrange(harness.keys.ingress))[0][0]
    raw = (await harness.client.xrange(harness.keys.ingress))[0][1][b"event"]
    await harness.client.hset(harness.keys.scheduled_events, entry, raw)
    await harness.client.zadd(harness.keys.scheduled, {entry: 0})
    scheduler = Scheduler(harness.client, harness.keys, harness.cfg, harness.router)
    # the "dead" replica: claims (the Lua lease) and never routes nor removes
    await scheduler.queue.claim(int(time.time() * 1000), limit=10, lease_ms=200)
    assert await scheduler.release_due() == 0  # leased: nobody else takes it yet
    deadline = time.monotonic() + 10
    while not await scheduler.release_due():
        assert time.monotonic() < deadline
    assert [d.notification.id for d in await harness.deliveries("gw-a")] == ["s3"]


async def test_ttl_of_a_scheduled_event_counts_from_its_delivery_time(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    await harness.route(to("u1", id="s4", deliver_at=iso(0.2), ttl_s=60))
    scheduler = Scheduler(harness.client, harness.keys, harness.cfg, harness.router)
    deadline = time.monotonic() + 10
    while not await scheduler.release_due():
        assert time.monotonic() < deadline
    (delivery,) = await harness.deliveries("gw-a")
    assert delivery.notification.expires_ms is not None
    assert delivery.notification.expires_ms > int(time.time() * 1000) + 55_000


async def test_scheduled_event_that_expired_while_held_gets_expired_receipts(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    await harness.route(to("u1", id="s5", deliver_at=iso(0.2), expires_at=iso(0.1)))
    scheduler = Scheduler(harness.client, harness.keys, harness.cfg, harness.router)
    deadline = time.monotonic() + 10
    while not await scheduler.release_due():
        assert time.monotonic() < deadline
    assert await harness.deliveries("gw-a") == []
    assert [(r.kind, r.user_id) for r in await harness.receipts()] == [("expired", "u1")]


async def test_replayed_ingress_entry_of_a_released_event_is_not_scheduled_again(harness: Harness) -> None:
    entries = await harness.publish(to("u1", deliver_at=iso(3600)))  # no id: claimed by entry id
    await harness.handle(entries)
    assert await harness.client.zcard(harness.keys.scheduled) == 1
    # released (as the scheduler does once due), then the ingress entry is replayed before its XACK
    await harness.router.route([(entries[0].id, decode_event(entries[0].fields))])
    await harness.client.delete(harness.keys.scheduled, harness.keys.scheduled_events)
    await harness.handle(entries)
    assert await harness.client.zcard(harness.keys.scheduled) == 0
