from __future__ import annotations

import pytest
import redis.asyncio as redis_async
from notify_common.devices import (
    DeviceError,
    devices_for_users,
    devices_of_user,
    queue_token_removal,
    register_device,
    remove_tokens,
    unregister_device,
)
from notify_common.keys import Keys

DAY_MS = 86_400_000


async def test_registered_devices_are_read_for_many_users_at_once(
    redis: redis_async.Redis, keys: Keys
) -> None:
    await register_device(redis, keys, "u1", "tok-a", "android", now_ms=1000)
    await register_device(redis, keys, "u1", "tok-b", "ios", now_ms=2000)
    await register_device(redis, keys, "u2", "tok-c", "web", now_ms=3000)
    found = await devices_for_users(redis, keys, ["u1", "u2", "nobody"], now_ms=4000)
    assert sorted((d.token, d.platform, d.last_seen_ms) for d in found["u1"]) == [
        ("tok-a", "android", 1000),
        ("tok-b", "ios", 2000),
    ]
    assert [d.token for d in found["u2"]] == ["tok-c"]
    assert "nobody" not in found


async def test_registering_again_refreshes_last_seen(redis: redis_async.Redis, keys: Keys) -> None:
    await register_device(redis, keys, "u1", "tok-a", "android", now_ms=1000)
    await register_device(redis, keys, "u1", "tok-a", "android", now_ms=5000)
    [device] = await devices_of_user(redis, keys, "u1", now_ms=6000)
    assert device.last_seen_ms == 5000


async def test_unregister_removes_one_device(redis: redis_async.Redis, keys: Keys) -> None:
    await register_device(redis, keys, "u1", "tok-a", "android")
    await register_device(redis, keys, "u1", "tok-b", "android")
    assert await unregister_device(redis, keys, "u1", "tok-a") is True
    assert await unregister_device(redis, keys, "u1", "tok-a") is False
    assert [d.token for d in await devices_of_user(redis, keys, "u1")] == ["tok-b"]


async def test_token_moves_to_the_user_who_registered_it_last(redis: redis_async.Redis, keys: Keys) -> None:
    await register_device(redis, keys, "alice", "shared-tok", "android")
    await register_device(redis, keys, "bob", "shared-tok", "android")
    found = await devices_for_users(redis, keys, ["alice", "bob"])
    assert list(found) == ["bob"]
    # Alice removing it later must not take it from Bob.
    assert await unregister_device(redis, keys, "alice", "shared-tok") is False
    assert await redis.get(keys.device_owner("shared-tok")) == b"bob"


async def test_stale_tokens_are_skipped_and_removed(redis: redis_async.Redis, keys: Keys) -> None:
    now = 1000 * DAY_MS
    await register_device(redis, keys, "u1", "old", "android", now_ms=now - 300 * DAY_MS)
    await register_device(redis, keys, "u1", "new", "android", now_ms=now - DAY_MS)
    found = await devices_for_users(redis, keys, ["u1"], stale_ms=270 * DAY_MS, now_ms=now)
    assert [d.token for d in found["u1"]] == ["new"]
    assert await redis.hkeys(keys.devices("u1")) == [b"new"]


async def test_device_hash_expires_after_the_stale_time(redis: redis_async.Redis, keys: Keys) -> None:
    await register_device(redis, keys, "u1", "tok", "android", stale_ms=270 * DAY_MS)
    ttl_ms = await redis.pttl(keys.devices("u1"))
    assert 269 * DAY_MS < ttl_ms <= 270 * DAY_MS


async def test_dead_tokens_are_removed_in_bulk(redis: redis_async.Redis, keys: Keys) -> None:
    await register_device(redis, keys, "u1", "t1", "android")
    await register_device(redis, keys, "u2", "t2", "ios")
    await register_device(redis, keys, "u2", "t3", "ios")
    removed = await remove_tokens(redis, keys, [("u1", "t1"), ("u2", "t2"), ("u2", "missing")])
    assert removed == 2
    found = await devices_for_users(redis, keys, ["u1", "u2"])
    assert {u: [d.token for d in ds] for u, ds in found.items()} == {"u2": ["t3"]}
    assert await redis.exists(keys.device_owner("t1")) == 0


async def test_oldest_device_is_evicted_past_the_limit(redis: redis_async.Redis, keys: Keys) -> None:
    for i in range(4):
        await register_device(redis, keys, "u1", f"tok-{i}", "android", max_devices=3, now_ms=1000 + i)
    tokens = sorted(d.token for d in await devices_of_user(redis, keys, "u1", now_ms=2000))
    assert tokens == ["tok-1", "tok-2", "tok-3"]


@pytest.mark.parametrize(
    ("token", "platform", "reason"),
    [
        ("", "android", "token must be"),
        ("has space", "android", "token must be"),
        ("x" * 4097, "android", "token must be"),
        ("tok", "blackberry", "platform must be one of android, ios, web"),
    ],
)
async def test_bad_token_or_platform_is_refused_with_a_reason(
    redis: redis_async.Redis, keys: Keys, token: str, platform: str, reason: str
) -> None:
    with pytest.raises(DeviceError, match=reason):
        await register_device(redis, keys, "u1", token, platform)


async def test_dead_tokens_are_released_after_redis_lost_its_script_cache(
    redis: redis_async.Redis, keys: Keys
) -> None:
    await register_device(redis, keys, "u1", "t1", "android")
    await redis.script_flush()  # as after a restart: the owner release must load its script first
    pipe = redis.pipeline(transaction=True)
    queue_token_removal(pipe, keys, [("u1", "t1")])
    await pipe.execute()
    assert await redis.exists(keys.device_owner("t1"), keys.devices("u1")) == 0
