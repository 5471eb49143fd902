"""The stream handlers through the fleet's consumer: events and receipts in, rows out."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as redis_async
from devstack.polling import wait_until
from history.admin import trail
from history.app import consumer_settings
from history.config import HistoryConfig
from history.db import Database
from history.ingest import event_handler, receipt_handler
from notify_common.consumer import ConsumerSettings, Entry, StreamConsumer, ensure_group
from notify_common.keys import GROUP_HISTORY, Keys
from notify_common.publish import build_event, publish
from notify_common.schemas import FIELD_RECEIPT, Event, Receipt, decode_event, encode
from prometheus_client import REGISTRY


def commits() -> float:
    return REGISTRY.get_sample_value("nf_history_commits_total") or 0.0


async def pending(redis: redis_async.Redis, stream: str) -> int:
    return int((await redis.xpending(stream, GROUP_HISTORY))["pending"])


async def test_transient_events_are_never_stored_and_bad_ones_are_dead_lettered(db: Database) -> None:
    stored = build_event(id="kept", type="note", audience={"kind": "users", "ids": ["alice"]})
    live = build_event(id="live", type="typing", audience={"kind": "users", "ids": ["alice"]}, transient=True)
    entries = [
        Entry("1700000000000-0", {b"event": encode(stored)}),
        Entry("1700000000000-1", {b"event": encode(live)}),
        Entry("1700000000000-2", {b"event": b'{"type": 5}'}),
    ]
    outcome = await event_handler(db)(entries)
    assert list(outcome.dead) == ["1700000000000-2"]
    assert [r[0] for r in await db.fetch("SELECT id FROM notifications")] == ["kept"]


async def test_events_and_receipts_flow_from_streams_into_the_trail(
    db: Database, redis: redis_async.Redis, keys: Keys
) -> None:
    event = build_event(id="n1", type="note", audience={"kind": "users", "ids": ["alice"]})
    await publish(redis, event, prefix=keys.prefix)
    receipt = Receipt(notification_id="n1", user_id="alice", kind="delivered", channel="socket", at_ms=1)
    await redis.xadd(keys.receipts, {FIELD_RECEIPT: encode(receipt)})
    consumers = [
        StreamConsumer(redis, ConsumerSettings(stream, GROUP_HISTORY, "h1", keys.dead_letters), handler)
        for stream, handler in (
            (keys.ingress, event_handler(db)),
            (keys.receipts, receipt_handler(db, redis, keys.prefix)),
        )
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in consumers]
    try:
        deadline = time.monotonic() + 10
        found = await trail(db, "n1")
        while (found is None or not found.deliveries or not found.recipients) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            found = await trail(db, "n1")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert found is not None
    assert [r.user_id for r in found.recipients] == ["alice"]
    assert [d.kind for d in found.deliveries] == ["delivered"]


async def test_read_receipt_from_one_device_is_sent_to_the_users_other_devices(
    db: Database, redis: redis_async.Redis, keys: Keys
) -> None:
    receipts = [
        Receipt(notification_id=f"n{i}", user_id="alice", kind="read", channel="socket", at_ms=10 + i)
        for i in range(3)
    ] + [Receipt(notification_id="n9", user_id="bob", kind="delivered", channel="socket", at_ms=5)]
    entries = [Entry(f"1-{i}", {FIELD_RECEIPT: encode(r)}) for i, r in enumerate(receipts)]
    await receipt_handler(db, redis, keys.prefix)(entries)
    events = [decode_event(fields) for _, fields in await redis.xrange(keys.ingress)]
    assert [(e.type, e.transient, e.audience.ids, e.data) for e in events] == [  # type: ignore[union-attr]
        ("inbox.read", True, ["alice"], {"ids": ["n0", "n1", "n2"], "read_ms": 12})
    ]


def note(notification_id: str) -> Event:
    return build_event(id=notification_id, type="note", audience={"kind": "users", "ids": ["al"]})


async def test_events_arriving_within_the_write_window_are_committed_in_one_transaction(
    db: Database, redis: redis_async.Redis, keys: Keys
) -> None:
    # a long window: the later events must land in it even on a loaded machine
    cfg = HistoryConfig(key_prefix=keys.prefix, node_id="h1", history_write_window_ms=1500)
    consumer = StreamConsumer(redis, consumer_settings(cfg, keys.ingress), event_handler(db))
    await ensure_group(redis, keys.ingress, GROUP_HISTORY)
    before = commits()
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))

    async def first_is_read() -> bool:
        return await pending(redis, keys.ingress) == 1

    async def all_stored_and_acked() -> bool:
        stored = await db.fetch("SELECT id FROM notifications")
        return await pending(redis, keys.ingress) == 0 and len(stored) == 5

    try:
        await publish(redis, note("w0"), prefix=keys.prefix)
        await wait_until(first_is_read, 15)
        for i in range(1, 5):
            await publish(redis, note(f"w{i}"), prefix=keys.prefix)
        await wait_until(all_stored_and_acked, 15)
    finally:
        stop.set()
        await task
    assert commits() - before == 1
