"""Shard streams: names, the shard function, and what publishers and receipt writers pick."""

from __future__ import annotations

import zlib

import redis.asyncio as redis_async
from notify_common.keys import Keys
from notify_common.publish import build_event, ingress_stream, publish
from notify_common.receipts import receipt_command
from notify_common.schemas import Receipt, decode_event
from notify_common.shards import event_shard_key, shard_index


def test_one_shard_keeps_the_unsharded_names() -> None:
    keys = Keys("nf")
    assert keys.ingress_shards == ["nf:stream:ingress"]
    assert keys.push_shards == ["nf:stream:push"]
    assert keys.receipt_shards == ["nf:stream:receipts"]
    assert keys.ingress_for("anyone") == "nf:stream:ingress"
    assert keys.push_for("anyone") == "nf:stream:push"
    assert keys.receipts_for("anyone") == "nf:stream:receipts"


def test_shard_zero_keeps_the_unsharded_name_and_the_others_are_numbered() -> None:
    keys = Keys("nf", 4)
    assert keys.ingress_shards == [
        "nf:stream:ingress",
        "nf:stream:ingress:1",
        "nf:stream:ingress:2",
        "nf:stream:ingress:3",
    ]
    assert keys.push_shards[3] == "nf:stream:push:3"
    assert keys.receipt_shards[2] == "nf:stream:receipts:2"
    # streams that are not sharded keep their one name
    assert keys.dead_letters == "nf:stream:dead"
    assert keys.node_deliveries("g1") == "nf:stream:node:{n:g1}"


def test_shard_is_crc32_of_the_shard_key_modulo_the_shards() -> None:
    # the documented function, so publishers in any language compute the same shard
    assert [shard_index(k, 4) for k in ["u1", "u2", "u3", "u4", "alice", "bob"]] == [2, 0, 2, 1, 3, 0]
    assert all(shard_index(k, 7) == zlib.crc32(k.encode()) % 7 for k in ["x", "é", "order:1"])
    assert shard_index("u1", 1) == 0
    assert Keys("nf", 4).ingress_for("alice") == "nf:stream:ingress:3"


def test_keys_spread_over_every_shard() -> None:
    assert {shard_index(f"user-{i}", 8) for i in range(200)} == set(range(8))


def test_event_shard_key_is_the_single_recipient_else_the_source_else_the_type() -> None:
    one = build_event(type="t", audience={"kind": "users", "ids": ["u7"]}, source="orders")
    many = build_event(type="t", audience={"kind": "users", "ids": ["u7", "u8"]}, source="orders")
    role = build_event(type="trip.offer", audience={"kind": "role", "role": "driver"})
    assert [event_shard_key(e) for e in (one, many, role)] == ["u7", "orders", "trip.offer"]


async def test_publish_appends_to_the_recipients_shard(redis: redis_async.Redis, keys: Keys) -> None:
    sharded = Keys(keys.prefix, 4)
    events = [build_event(type="t", audience={"kind": "users", "ids": [f"u{i}"]}) for i in range(1, 5)]
    for event in events:
        await publish(redis, event, prefix=keys.prefix, shards=4)
    for event in events:
        stream = ingress_stream(event, prefix=keys.prefix, shards=4)
        assert stream == sharded.ingress_for(event.audience.ids[0])  # type: ignore[union-attr]
        assert event in [decode_event(f) for _, f in await redis.xrange(stream)]
    assert sum([await redis.xlen(s) for s in sharded.ingress_shards]) == 4


def test_a_receipt_goes_to_its_users_shard() -> None:
    keys = Keys("nf", 4)
    receipt = Receipt(notification_id="n1", user_id="alice", kind="read", at_ms=1)
    assert receipt_command(keys, receipt)[1] == "nf:stream:receipts:3"
    assert receipt_command(Keys("nf"), receipt)[1] == "nf:stream:receipts"
