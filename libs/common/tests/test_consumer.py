from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import msgspec
import redis.asyncio as redis_async
import structlog.testing
from devstack.polling import wait_until
from notify_common.consumer import ConsumerSettings, Entry, Outcome, StreamConsumer, ensure_group
from notify_common.keys import Keys
from notify_common.trim import trim_acknowledged
from redis.exceptions import ConnectionError as RedisConnectionError

Handler = Callable[[Sequence[Entry]], Awaitable[Outcome | None]]


def settings(keys: Keys, name: str = "c1", **overrides: object) -> ConsumerSettings:
    base = dict(
        stream=keys.ingress,
        group="g",
        consumer=name,
        dead_letter_stream=keys.dead_letters,
        batch=50,
        block_ms=100,
        claim_idle_ms=300,
        max_deliveries=3,
    )
    base.update(overrides)
    return ConsumerSettings(**base)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(
    client: redis_async.Redis, cfg: ConsumerSettings, handler: Handler
) -> AsyncIterator[StreamConsumer]:
    stop = asyncio.Event()
    consumer = StreamConsumer(client, cfg, handler)
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield consumer
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def add(client: redis_async.Redis, stream: str, n: int) -> list[str]:
    return [(await client.xadd(stream, {b"n": str(i).encode()})).decode() for i in range(n)]


async def pending_count(client: redis_async.Redis, stream: str, group: str = "g") -> int:
    return int((await client.xpending(stream, group))["pending"])


async def test_entries_are_handled_once_and_acked(redis: redis_async.Redis, keys: Keys) -> None:
    seen: list[str] = []

    async def handle(entries: Sequence[Entry]) -> None:
        seen.extend(e.id for e in entries)

    ids = await add(redis, keys.ingress, 120)
    async with running(redis, settings(keys), handle):
        await wait_until(lambda: _true(len(seen) == 120))
        await wait_until(lambda: _eq(pending_count(redis, keys.ingress), 0))
    assert seen == ids


async def test_a_lingering_consumer_hands_entries_written_during_its_window_over_in_one_batch(
    redis: redis_async.Redis, keys: Keys
) -> None:
    batches: list[int] = []

    async def handle(entries: Sequence[Entry]) -> None:
        batches.append(len(entries))

    # a long window: the four later entries must land in it even on a loaded machine
    await ensure_group(redis, keys.ingress, "g")
    async with running(redis, settings(keys, linger_ms=1500), handle):
        await add(redis, keys.ingress, 1)
        await wait_until(lambda: _eq(pending_count(redis, keys.ingress), 1))
        await add(redis, keys.ingress, 4)
        await wait_until(lambda: _eq(pending_count(redis, keys.ingress), 0))
    assert batches == [5]


async def test_the_handlers_effects_are_written_with_the_ack(redis: redis_async.Redis, keys: Keys) -> None:
    out = keys.ingress + ":out"

    async def handle(entries: Sequence[Entry]) -> Outcome:
        return Outcome(effects=[("XADD", out, "*", b"from", entry.id) for entry in entries])

    ids = await add(redis, keys.ingress, 3)
    await ensure_group(redis, keys.ingress, "g")
    async with running(redis, settings(keys), handle):
        await wait_until(lambda: _eq(redis.xlen(out), 3))
        await wait_until(lambda: _eq(pending_count(redis, keys.ingress), 0))
    assert [f[b"from"].decode() for _, f in await redis.xrange(out)] == ids


async def test_effects_refused_at_maxmemory_leave_the_batch_pending_until_redis_takes_writes(
    redis: redis_async.Redis, keys: Keys
) -> None:
    out = keys.ingress + ":out"
    calls: list[int] = []

    async def handle(entries: Sequence[Entry]) -> Outcome:
        calls.append(len(entries))
        if len(calls) == 1:  # Redis fills up between the read and the write (XACK alone is allowed)
            await redis.config_set("maxmemory", 1)
        return Outcome(effects=[("XADD", out, "*", b"from", entry.id) for entry in entries])

    [entry_id] = await add(redis, keys.ingress, 1)
    await ensure_group(redis, keys.ingress, "g")
    policy = (await redis.config_get("maxmemory-policy"))["maxmemory-policy"]
    await redis.config_set("maxmemory-policy", "noeviction")
    try:
        with structlog.testing.capture_logs() as logs:
            async with running(redis, settings(keys), handle):
                await wait_until(lambda: _true(any(e["event"] == "redis_error" for e in logs)))
                assert await pending_count(redis, keys.ingress) == 1  # not acked without its effect
                await redis.config_set("maxmemory", 0)
                await wait_until(lambda: _eq(pending_count(redis, keys.ingress), 0))
    finally:
        await redis.config_set("maxmemory", 0)
        await redis.config_set("maxmemory-policy", policy)
    assert [f[b"from"].decode() for _, f in await redis.xrange(out)] == [entry_id]


async def test_rejected_entry_is_dead_lettered_with_reason_and_the_rest_acked(
    redis: redis_async.Redis, keys: Keys
) -> None:
    ids = await add(redis, keys.ingress, 3)

    async def handle(entries: Sequence[Entry]) -> Outcome:
        return Outcome(dead={ids[1]: "invalid event: boom"})

    async with running(redis, settings(keys), handle):
        await wait_until(lambda: _eq(redis.xlen(keys.dead_letters), 1))
        await wait_until(lambda: _eq(pending_count(redis, keys.ingress), 0))
    [(_, fields)] = await redis.xrange(keys.dead_letters)
    meta = msgspec.json.decode(fields[b"meta"])
    assert meta["reason"] == "invalid event: boom"
    assert meta["source_id"] == ids[1]
    assert meta["source_stream"] == keys.ingress
    assert fields[b"o:n"] == b"1"


async def test_failing_entry_is_retried_then_dead_lettered_with_last_error(
    redis: redis_async.Redis, keys: Keys
) -> None:
    attempts: list[int] = []

    async def handle(entries: Sequence[Entry]) -> None:
        attempts.extend(e.deliveries for e in entries)
        raise RuntimeError("database is down")

    await add(redis, keys.ingress, 1)
    async with running(redis, settings(keys), handle):
        await wait_until(lambda: _eq(redis.xlen(keys.dead_letters), 1))
    assert attempts == [1, 2, 3]
    [(_, fields)] = await redis.xrange(keys.dead_letters)
    reason = msgspec.json.decode(fields[b"meta"])["reason"]
    assert reason == "gave up after 3 deliveries: RuntimeError: database is down"
    assert await pending_count(redis, keys.ingress) == 0


async def test_retry_outcome_keeps_entry_pending_until_it_succeeds(
    redis: redis_async.Redis, keys: Keys
) -> None:
    calls: list[int] = []

    async def handle(entries: Sequence[Entry]) -> Outcome:
        calls.append(entries[0].deliveries)
        if len(calls) < 2:
            return Outcome(retry={entries[0].id: "not yet"})
        return Outcome()

    await add(redis, keys.ingress, 1)
    async with running(redis, settings(keys), handle):
        await wait_until(lambda: _true(len(calls) == 2))
        await wait_until(lambda: _eq(pending_count(redis, keys.ingress), 0))
    assert calls == [1, 2]
    assert await redis.xlen(keys.dead_letters) == 0


async def test_group_lost_with_the_stream_is_recreated(redis: redis_async.Redis, keys: Keys) -> None:
    seen: list[str] = []

    async def handle(entries: Sequence[Entry]) -> None:
        seen.extend(e.fields[b"n"].decode() for e in entries)

    async with running(redis, settings(keys), handle):
        await add(redis, keys.ingress, 1)
        await wait_until(lambda: _true(len(seen) == 1))
        await redis.delete(keys.ingress)  # as after a restart without persistence
        await asyncio.sleep(0.3)
        await redis.xadd(keys.ingress, {b"n": b"after"})
        await wait_until(lambda: _true("after" in seen))


async def test_own_pending_entries_are_reread_on_start(redis: redis_async.Redis, keys: Keys) -> None:
    ids = await add(redis, keys.ingress, 5)
    await redis.xgroup_create(keys.ingress, "g", id="0")
    await redis.xreadgroup("g", "c1", {keys.ingress: ">"}, count=5)  # read, then "crashed"
    seen: list[tuple[str, int]] = []

    async def handle(entries: Sequence[Entry]) -> None:
        seen.extend((e.id, e.deliveries) for e in entries)

    async with running(redis, settings(keys, claim_idle_ms=60_000), handle):
        await wait_until(lambda: _eq(pending_count(redis, keys.ingress), 0))
    assert [i for i, _ in seen] == ids
    assert all(d == 2 for _, d in seen)


async def test_own_pending_entries_are_reread_after_the_connection_to_redis_drops(
    redis: redis_async.Redis, keys: Keys
) -> None:
    seen: list[str] = []

    async def handle(entries: Sequence[Entry]) -> None:
        seen.extend(e.id for e in entries)

    async with running(redis, settings(keys, claim_idle_ms=60_000), handle) as consumer:
        await wait_until(lambda: _true(consumer.healthy()))
        ids = await add(redis, keys.ingress, 3)
        await wait_until(lambda: _true(len(seen) == 3))
        # As after a Redis crash that lost the acks (AOF everysec): read by c1, never acked.
        lost = await add(redis, keys.ingress, 2)
        await redis.xreadgroup("g", "c1", {keys.ingress: ">"}, count=2)
        await redis.client_kill_filter(_type="normal", skipme=True)
        await wait_until(lambda: _true(all(i in seen for i in lost)))
    assert seen[:3] == ids


async def test_a_batch_that_failed_on_a_dead_redis_connection_is_redone_first(
    redis: redis_async.Redis, keys: Keys
) -> None:
    seen: list[str] = []
    failed_once = False

    async def handle(entries: Sequence[Entry]) -> None:
        nonlocal failed_once
        if not failed_once:
            failed_once = True  # as on a pooled connection to the Redis that just restarted
            raise RedisConnectionError("Connection closed by server.")
        seen.extend(e.id for e in entries)

    async with running(redis, settings(keys, claim_idle_ms=60_000), handle) as consumer:
        await wait_until(lambda: _true(consumer.healthy()))
        first = await add(redis, keys.ingress, 3)
        await wait_until(lambda: _true(failed_once))
        later = await add(redis, keys.ingress, 2)
        await wait_until(lambda: _true(len(seen) == 5))
    assert seen == first + later


async def test_a_database_outage_longer_than_max_deliveries_claim_rounds_dead_letters_nothing(
    redis: redis_async.Redis, keys: Keys
) -> None:
    calls = 0

    async def handle(entries: Sequence[Entry]) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError(111, "database down")

    async with running(redis, settings(keys, claim_idle_ms=200, max_deliveries=2), handle):
        await add(redis, keys.ingress, 1)
        await wait_until(lambda: _true(calls >= 6))  # many claim rounds, far past max_deliveries
    assert await redis.xlen(keys.dead_letters) == 0
    assert await pending_count(redis, keys.ingress) == 1


async def test_a_handler_whose_database_is_down_does_not_use_up_deliveries(
    redis: redis_async.Redis, keys: Keys
) -> None:
    calls = 0

    async def handle(entries: Sequence[Entry]) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError(111, "database down")

    async with running(redis, settings(keys, claim_idle_ms=60_000, max_deliveries=3), handle):
        await add(redis, keys.ingress, 1)
        await wait_until(lambda: _true(calls >= 1))
        await asyncio.sleep(1.0)  # several back-off rounds of the loop
    pending = await redis.xpending_range(keys.ingress, "g", min="-", max="+", count=10)
    assert len(pending) == 1 and pending[0]["times_delivered"] <= 1
    assert await redis.xlen(keys.dead_letters) == 0


async def test_stop_finishes_the_batch_in_hand_and_acks_it(redis: redis_async.Redis, keys: Keys) -> None:
    started = asyncio.Event()
    finished: list[str] = []

    async def handle(entries: Sequence[Entry]) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.extend(e.id for e in entries)

    await add(redis, keys.ingress, 10)
    stop = asyncio.Event()
    task = asyncio.create_task(StreamConsumer(redis, settings(keys), handle).run(stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(finished) == 10
    assert await pending_count(redis, keys.ingress) == 0


async def test_consumer_killed_before_ack_leaves_entries_to_another(
    redis_url: str, redis: redis_async.Redis, keys: Keys
) -> None:
    ids = await add(redis, keys.ingress, 30)
    seen_key = f"{keys.prefix}:seen"
    script = Path(__file__).with_name("consumer_proc.py")
    proc = subprocess.Popen([sys.executable, str(script), redis_url, keys.ingress, "g", "doomed", seen_key])
    try:
        await wait_until(lambda: _eq(redis.llen(seen_key), 30))
    finally:
        proc.kill()
        proc.wait(10)
    assert await pending_count(redis, keys.ingress) == 30
    handled: list[str] = []

    async def handle(entries: Sequence[Entry]) -> None:
        handled.extend(e.id for e in entries)

    async with running(redis, settings(keys, name="survivor"), handle):
        await wait_until(lambda: _eq(pending_count(redis, keys.ingress), 0))
    assert sorted(handled) == sorted(ids)
    assert len(handled) == len(set(handled))  # nothing handled twice by the survivor
    [group] = await redis.xinfo_groups(keys.ingress)
    assert group["pending"] == 0


async def test_trim_never_removes_unacked_or_unread_entries(redis: redis_async.Redis, keys: Keys) -> None:
    ids = await add(redis, keys.ingress, 300)
    await redis.xgroup_create(keys.ingress, "a", id="0")
    await redis.xgroup_create(keys.ingress, "b", id="0")
    await redis.xreadgroup("a", "x", {keys.ingress: ">"}, count=300)
    await redis.xack(keys.ingress, "a", *ids[:250])  # a: 50 still pending
    await redis.xreadgroup("b", "x", {keys.ingress: ">"}, count=200)
    await redis.xack(keys.ingress, "b", *ids[:200])  # b: 100 unread
    assert await trim_acknowledged(redis, keys.ingress, ["a", "b", "history"]) == 0  # a group missing
    await trim_acknowledged(redis, keys.ingress, ["a", "b"])
    remaining = [i.decode() for i, _ in await redis.xrange(keys.ingress)]
    assert set(ids[200:]) <= set(remaining)
    assert await redis.xtrim(keys.ingress, minid=ids[200]) <= 200


async def _true(value: bool) -> bool:
    return value


async def _eq(awaitable: Awaitable[int], expected: int) -> bool:
    return int(await awaitable) == expected
