"""Receipts and dead letters as every writer XADDs them, read back from a real Redis."""

from __future__ import annotations

import msgspec
import redis.asyncio as redis_async
from notify_common.dead_letters import dead_letter_command, original_fields
from notify_common.keys import Keys
from notify_common.receipts import receipt_command
from notify_common.schemas import DeadLetter, Receipt, decode_receipt


async def test_a_receipt_is_one_entry_history_decodes(redis: redis_async.Redis, keys: Keys) -> None:
    receipt = Receipt(notification_id="n1", user_id="u1", kind="read", channel="socket", node="gw", at_ms=5)
    pipe = redis.pipeline(transaction=False)
    pipe.execute_command(*receipt_command(keys, receipt))
    await pipe.execute()
    [(_, fields)] = await redis.xrange(keys.receipts)
    assert list(fields) == [b"receipt"]
    assert decode_receipt(fields) == receipt


async def test_a_dead_letter_carries_meta_and_the_original_fields(
    redis: redis_async.Redis, keys: Keys
) -> None:
    meta = DeadLetter(
        source_stream=keys.ingress,
        source_id="1-0",
        group="g",
        consumer="c",
        reason="bad",
        deliveries=2,
        at_ms=7,
    )
    await redis.execute_command(*dead_letter_command(keys.dead_letters, meta, {b"event": b"{}", b"x": b"1"}))
    [(_, fields)] = await redis.xrange(keys.dead_letters)
    assert fields == {b"meta": msgspec.json.encode(meta), b"o:event": b"{}", b"o:x": b"1"}
    assert msgspec.json.decode(fields[b"meta"], type=DeadLetter) == meta
    assert original_fields(fields) == {b"event": b"{}", b"x": b"1"}
