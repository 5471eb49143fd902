"""Single flight of room-feed catch-up reads: one XREVRANGE serves the reads in flight at once,
only for connections registered before it was issued, and nothing written later is lost."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import aiohttp
import redis.asyncio as redis_async
from gateway.catchup import FeedReads, read_catchup
from gwkit import RunningGateway, make_token, next_frame
from notify_common.clock import now_ms
from notify_common.keys import Keys
from notify_common.presence.in_flight import in_flight_command
from notify_common.redis_conn import connect
from notify_common.rooms import ALL, role_room
from notify_common.schemas import FIELD_FEED_NOTIFICATION, FIELD_FEED_ORIGIN, Notification, encode
from redis.exceptions import ResponseError
from test_catchup import publish

WINDOW_S = 3600
_ingress_seq = itertools.count()


async def xrevrange_calls(client: redis_async.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_xrevrange", {}).get("calls", 0))


async def write_feed(client: redis_async.Redis, feed: str, nid: str) -> None:
    now = now_ms()
    n = Notification(id=nid, type="test", created_ms=now)
    origin = f"{now}-{next(_ingress_seq)}"  # the ingress order the router would record
    await client.xadd(feed, {FIELD_FEED_NOTIFICATION: encode(n), FIELD_FEED_ORIGIN: origin})


def frame_ids(frames: list[tuple[str, bytes]]) -> list[str]:
    return [json.loads(frame)["notification"]["id"] for _, frame in frames]


async def test_concurrent_catchups_of_one_role_make_one_read_of_each_room_feed(
    redis: redis_async.Redis, redis_url: str, keys: Keys
) -> None:
    for i in range(10):
        await write_feed(redis, keys.room_feed(role_room("driver")), f"b-{i}")
    for user in range(20):
        await write_feed(redis, keys.user_feed(f"u{user}"), f"own-{user}")
    client = connect(redis_url)
    owner: set[asyncio.Task[Any]] = set()
    reads = FeedReads(client, owner)
    marks = [reads.mark() for _ in range(20)]  # every connection registered before any read
    before = await xrevrange_calls(redis)
    results = await asyncio.gather(
        *(
            read_catchup(
                reads,
                keys,
                f"u{user}",
                [role_room("driver"), ALL],
                f"b-{user % 10}",
                window_s=WINDOW_S,
                max_entries=200,
                live_from=marks[user],
            )
            for user in range(20)
        )
    )
    calls = await xrevrange_calls(redis) - before
    await client.aclose()
    assert calls == 20 + 2  # each user's own feed, then role:driver and all once
    assert not owner  # the batch task ended with its queue
    for user, result in enumerate(results):
        # own-<user> was written after every broadcast: it follows them in write order
        assert frame_ids(result.frames) == [f"b-{i}" for i in range(user % 10 + 1, 10)] + [f"own-{user}"]
        assert result.gap is False


async def test_a_sent_read_is_shared_only_with_connections_registered_before_it_was_sent(
    redis: redis_async.Redis, redis_url: str, keys: Keys
) -> None:
    feed = keys.room_feed(role_room("driver"))
    await write_feed(redis, feed, "b-0")
    client = connect(redis_url)
    reads = FeedReads(client, set())
    early = reads.mark()
    oldest = now_ms() - WINDOW_S * 1000
    first = reads.room_feed(feed, oldest, 200, early)
    joined_queued = reads.room_feed(feed, oldest, 200, early)
    for _ in range(10):  # the batch task sends within a loop turn or two
        if reads.sending(feed):
            break
        await asyncio.sleep(0)
    assert reads.sending(feed) and not first.done()
    late = reads.mark()  # registered after the read was sent: its reply may miss later entries
    joined_sent = reads.room_feed(feed, oldest, 200, early)
    own = reads.room_feed(feed, oldest, 200, late)
    shared, queued_reply, sent_reply, late_reply = await asyncio.gather(
        first, joined_queued, joined_sent, own
    )
    await client.aclose()
    assert queued_reply is shared and sent_reply is shared
    assert late_reply is not shared
    assert [e.id for e in late_reply.entries] == ["b-0"]


async def test_a_failed_batch_fails_each_read_in_it_and_the_next_batch_reads_again(
    redis: redis_async.Redis, redis_url: str, keys: Keys
) -> None:
    feed = keys.room_feed(role_room("driver"))
    await redis.set(feed, "not a stream")
    client = connect(redis_url)
    reads = FeedReads(client, set())
    mark = reads.mark()
    oldest = now_ms() - WINDOW_S * 1000
    failed = await asyncio.gather(
        reads.room_feed(feed, oldest, 200, mark),
        reads.user_feed(keys.user_feed("u1"), oldest, 200, in_flight_command(keys, "u1")),
        return_exceptions=True,
    )
    assert all(isinstance(f, ResponseError) for f in failed), failed
    await redis.delete(feed)
    await write_feed(redis, feed, "b-0")
    reply = await reads.room_feed(feed, oldest, 200, reads.mark())
    await client.aclose()
    assert [e.id for e in reply.entries] == ["b-0"]


async def test_broadcasts_during_a_reconnect_wave_reach_every_client_once_in_order(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    for i in range(5):
        await publish(gateway, f"b-{i:03}", rooms=[role_room("driver")])
    total = 60
    published = asyncio.Event()

    async def keep_publishing() -> None:
        for i in range(5, total):
            await publish(gateway, f"b-{i:03}", rooms=[role_room("driver")])
            await asyncio.sleep(0)
        published.set()

    async def reconnect(user: int) -> list[str]:
        ws = await http.ws_connect(
            gateway.url() + f"?last_id=b-{user % 5:03}",
            headers={"Authorization": f"Bearer {make_token(f'u{user}', ['driver'])}"},
        )
        ids: list[str] = []
        while not ids or ids[-1] != f"b-{total - 1:03}":
            frame = await next_frame(ws)
            if frame["type"] == "notification":
                ids.append(frame["notification"]["id"])
        await ws.close()
        return ids

    publisher = asyncio.create_task(keep_publishing())
    got = await asyncio.gather(*(reconnect(user) for user in range(30)))
    await publisher
    for user, ids in enumerate(got):
        assert ids == [f"b-{i:03}" for i in range(user % 5 + 1, total)]
