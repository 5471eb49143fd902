"""A user's push devices (FCM registration tokens), readable for many users in one round trip.

Layout (keys.py): `devices:{u:<id>}` is a hash token -> JSON {platform, last_seen_ms};
`device-owner:<token>` names the user a token currently belongs to, so a device that signs in as
another user stops receiving the previous user's pushes. Redis 7.0 cannot expire hash fields, so
a token not refreshed within `stale_ms` is skipped by every read and removed lazily; the whole
hash expires `stale_ms` after its most recent registration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal, cast, get_args

import msgspec
import redis.asyncio as redis_async
from redis.asyncio.client import Pipeline

from notify_common import clock
from notify_common.keys import Keys
from notify_common.scripts import Script

Platform = Literal["android", "ios", "web"]
PLATFORMS: tuple[str, ...] = get_args(Platform)
DEFAULT_STALE_MS = 270 * 86_400_000  # FCM: Android tokens expire after 270 days without use
DEFAULT_MAX_DEVICES = 50
MAX_TOKEN_LENGTH = 4096
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_:.\-]+$")

# Delete the owner marker only if it still names this user (one key: safe in Redis Cluster).
_RELEASE_OWNER = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")


class DeviceError(ValueError):
    """A token or platform that cannot be registered; the message says why."""


class Device(msgspec.Struct, frozen=True, kw_only=True):
    """One registered device of a user."""

    token: str
    platform: Platform
    last_seen_ms: int


class _Stored(msgspec.Struct, frozen=True):
    platform: Platform
    last_seen_ms: int


_decoder = msgspec.json.Decoder(_Stored)
_encoder = msgspec.json.Encoder()


def check_device(token: str, platform: str) -> None:
    """Raise DeviceError unless `token` looks like a push token and `platform` is known."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not _TOKEN_RE.match(token):
        raise DeviceError(
            f"token must be 1-{MAX_TOKEN_LENGTH} characters of A-Z a-z 0-9 _ : . - (an FCM token)"
        )
    if platform not in PLATFORMS:
        raise DeviceError(f"platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")


async def register_device(
    client: redis_async.Redis,
    keys: Keys,
    user_id: str,
    token: str,
    platform: str,
    *,
    stale_ms: int = DEFAULT_STALE_MS,
    max_devices: int = DEFAULT_MAX_DEVICES,
    now_ms: int | None = None,
) -> None:
    """Add or refresh a device of `user_id`; the token leaves its previous owner, if any."""
    check_device(token, platform)
    seen = clock.now_ms() if now_ms is None else now_ms
    devices_key = keys.devices(user_id)
    pipe = client.pipeline(transaction=False)
    pipe.set(keys.device_owner(token), user_id, px=stale_ms, get=True)
    pipe.hset(devices_key, token, _encoder.encode(_Stored(cast(Platform, platform), seen)))
    pipe.pexpire(devices_key, stale_ms)
    pipe.hlen(devices_key)
    previous, _, _, count = await pipe.execute()
    if previous is not None and previous.decode() != user_id:
        await client.hdel(keys.devices(previous.decode()), token)
    if count > max_devices:
        await _evict_oldest(client, devices_key, count - max_devices)


async def _evict_oldest(client: redis_async.Redis, devices_key: str, how_many: int) -> None:
    stored = await client.hgetall(devices_key)
    by_age = sorted(stored.items(), key=lambda kv: _decoder.decode(kv[1]).last_seen_ms)
    await client.hdel(devices_key, *[token for token, _ in by_age[:how_many]])


async def unregister_device(client: redis_async.Redis, keys: Keys, user_id: str, token: str) -> bool:
    """Remove one device of `user_id`; True if it was registered."""
    removed = await remove_tokens(client, keys, [(user_id, token)])
    return removed > 0


async def remove_tokens(client: redis_async.Redis, keys: Keys, dead: Iterable[tuple[str, str]]) -> int:
    """Remove (user_id, token) pairs FCM called dead, in one round trip; returns how many existed."""
    pairs = list(dead)
    if not pairs:
        return 0
    pipe = client.pipeline(transaction=False)
    queue_token_removal(pipe, keys, pairs)
    replies = await pipe.execute()
    return sum(int(r) for r in replies[0::2])


def queue_token_removal(pipe: Pipeline, keys: Keys, pairs: Iterable[tuple[str, str]]) -> None:
    """Add the removal of (user_id, token) pairs to `pipe` (two commands per pair), e.g. inside
    the MULTI that records a push outcome."""
    for user_id, token in pairs:
        pipe.hdel(keys.devices(user_id), token)
        _RELEASE_OWNER.queue_checked(pipe, (keys.device_owner(token),), (user_id,))


async def devices_for_users(
    client: redis_async.Redis,
    keys: Keys,
    user_ids: Sequence[str],
    *,
    stale_ms: int = DEFAULT_STALE_MS,
    now_ms: int | None = None,
) -> dict[str, list[Device]]:
    """user -> fresh devices, for users that have any; one pipelined round trip.

    Stale tokens are left out and removed (a second round trip, only when some were found).
    """
    if not user_ids:
        return {}
    pipe = client.pipeline(transaction=False)
    for user_id in user_ids:
        pipe.hgetall(keys.devices(user_id))
    replies = await pipe.execute()
    oldest_fresh = (clock.now_ms() if now_ms is None else now_ms) - stale_ms
    found: dict[str, list[Device]] = {}
    stale: list[tuple[str, str]] = []
    for user_id, stored in zip(user_ids, replies, strict=True):
        fresh: list[Device] = []
        for raw_token, raw in stored.items():
            token = raw_token.decode()
            try:
                value = _decoder.decode(raw)
            except msgspec.DecodeError:
                stale.append((user_id, token))  # unreadable: as good as gone
                continue
            if value.last_seen_ms < oldest_fresh:
                stale.append((user_id, token))
            else:
                fresh.append(Device(token=token, platform=value.platform, last_seen_ms=value.last_seen_ms))
        if fresh:
            found[user_id] = fresh
    if stale:
        await remove_tokens(client, keys, stale)
    return found


async def devices_of_user(
    client: redis_async.Redis,
    keys: Keys,
    user_id: str,
    *,
    stale_ms: int = DEFAULT_STALE_MS,
    now_ms: int | None = None,
) -> list[Device]:
    """One user's fresh devices, most recently seen first."""
    found = await devices_for_users(client, keys, [user_id], stale_ms=stale_ms, now_ms=now_ms)
    return sorted(found.get(user_id, []), key=lambda d: d.last_seen_ms, reverse=True)
