"""The SDK against a real fleet: live notifications with acks, resume from last_id, gap, token
refresh on token.expiring and after 4401, subscribe, devices, and the inbox API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis_async
from devstack.fleet import Fleet, dev_token
from notify_client import DevicesApi, InboxApi, NotifyClient, RequestError
from notify_common.keys import Keys
from notify_common.publish import build_event, publish

pytestmark = pytest.mark.e2e


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def redis(fleet: Fleet) -> AsyncIterator[redis_async.Redis]:
    client = redis_async.Redis.from_url(fleet.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def gateways(fleet: Fleet) -> list[str]:
    return [fleet.gateway_url(name) for name in sorted(fleet.gateway_ports)]


async def send(redis: redis_async.Redis, fleet: Fleet, nid: str, user: str, **fields: Any) -> None:
    event = build_event(id=nid, type="note", title=nid, audience={"kind": "users", "ids": [user]}, **fields)
    await publish(redis, event, prefix=fleet.key_prefix)


class Seen:
    """What a client emitted, in order."""

    def __init__(self, client: NotifyClient) -> None:
        self.events: list[tuple[str, Any]] = []
        for name in ("hello", "notification", "catchup", "gap", "read", "token_expiring", "disconnect"):
            client.on(name, lambda value, name=name: self.events.append((name, value)))

    def ids(self) -> list[str]:
        return [v["id"] for name, v in self.events if name == "notification"]

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.events if n == name)


async def receipt_kinds(redis: redis_async.Redis, fleet: Fleet, nid: str) -> set[str]:
    found = [
        json.loads(f[b"receipt"])
        for stream in fleet.keys.receipt_shards
        for _, f in await redis.xrange(stream)
    ]
    return {r["kind"] for r in found if r["notification_id"] == nid}


async def test_live_notification_is_shown_once_and_auto_acked(fleet: Fleet, redis: redis_async.Redis) -> None:
    async with NotifyClient(gateways(fleet), token=dev_token("py-1"), auto_ack=True) as client:
        seen = Seen(client)
        await eventually(lambda: seen.count("catchup") == 1)
        await send(redis, fleet, "py-1-a", "py-1")
        await eventually(lambda: seen.ids() == ["py-1-a"])
        await client.read(["py-1-a"])

        async def receipted() -> bool:
            return {"acked", "read"} <= await receipt_kinds(redis, fleet, "py-1-a")

        await eventually(receipted)
        assert client.last_id == "py-1-a"


async def test_new_session_resumes_after_last_id_and_an_unknown_one_reports_a_gap(
    fleet: Fleet, redis: redis_async.Redis
) -> None:
    async with NotifyClient(gateways(fleet), token=dev_token("py-2")) as first:
        seen = Seen(first)
        await eventually(lambda: seen.count("catchup") == 1)
        await send(redis, fleet, "py-2-a", "py-2")
        await eventually(lambda: seen.ids() == ["py-2-a"])
        last_id = first.last_id
    for nid in ("py-2-b", "py-2-c"):
        await send(redis, fleet, nid, "py-2")
    # the router writes the feed before the delivery: wait until both are in the user's feed
    feed = Keys(fleet.key_prefix).user_feed("py-2")
    await eventually(lambda: _feed_len(redis, feed, 3))
    async with NotifyClient(
        list(reversed(gateways(fleet))), token=dev_token("py-2"), last_id=last_id
    ) as again:
        seen = Seen(again)
        await eventually(lambda: seen.count("catchup") == 1)
        assert seen.ids() == ["py-2-b", "py-2-c"]
        assert seen.count("gap") == 0
    async with NotifyClient(gateways(fleet), token=dev_token("py-2"), last_id="never-sent") as lost:
        seen = Seen(lost)
        await eventually(lambda: seen.count("gap") == 1)


async def _feed_len(redis: redis_async.Redis, key: str, want: int) -> bool:
    return int(await redis.xlen(key)) >= want


async def test_refused_token_asks_get_token_again_and_connects(fleet: Fleet) -> None:
    tokens = [dev_token("py-3", ttl_s=-120), dev_token("py-3")]
    asked: list[str] = []

    async def get_token() -> str:
        asked.append(tokens[min(len(asked), 1)])
        return asked[-1]

    async with NotifyClient(gateways(fleet), get_token=get_token) as client:
        seen = Seen(client)
        await eventually(lambda: client.state == "open", timeout=20)
        assert len(asked) == 2
        assert [v["code"] for n, v in seen.events if n == "disconnect"] == [4401]


async def test_fixed_token_refused_stops_with_the_reason(fleet: Fleet) -> None:
    async with NotifyClient(gateways(fleet), token=dev_token("py-4", ttl_s=-120)) as client:
        seen = Seen(client)
        await eventually(lambda: client.state == "closed")
        assert seen.events[-1] == (
            "disconnect",
            {"code": 4401, "reason": "token expired", "retry_in_s": None},
        )


async def test_token_expiring_is_answered_with_a_fresh_token_from_the_callback(fleet: Fleet) -> None:
    asked: list[int] = []

    def get_token() -> str:
        asked.append(1)
        return dev_token("py-5", ttl_s=5 if len(asked) == 1 else 3600)

    async with NotifyClient(gateways(fleet), get_token=get_token) as client:
        seen = Seen(client)
        await eventually(lambda: seen.count("token_expiring") == 1 and len(asked) == 2, timeout=20)
        # the first token's expiry passes without a close: the session runs on the fresh one
        deadline = time.time() + 6
        await eventually(lambda: time.time() > deadline, timeout=10)
        assert client.state == "open" and seen.count("disconnect") == 0


async def test_subscribe_is_answered_and_a_forbidden_topic_raises(
    fleet: Fleet, redis: redis_async.Redis
) -> None:
    async with NotifyClient(gateways(fleet), token=dev_token("py-6", topics=["news"])) as client:
        await eventually(lambda: client.state == "open")
        await client.subscribe("news")
        with pytest.raises(RequestError, match="forbidden_topic"):
            await client.subscribe("secret")
        assert client.topics == {"news"}
        await client.register_device("fcm-py-6", "android")
    async with aiohttp.ClientSession() as http:
        devices = DevicesApi(fleet.push_url(), http, token=dev_token("py-6"))
        assert [d["token"] for d in await devices.list()] == ["fcm-py-6"]
        await devices.register("fcm-py-6-web", "web")
        await devices.unregister("fcm-py-6")
        assert [d["token"] for d in await devices.list()] == ["fcm-py-6-web"]


async def test_inbox_api_lists_counts_and_marks_read(fleet: Fleet, redis: redis_async.Redis) -> None:
    for nid in ("py-7-a", "py-7-b"):
        await send(redis, fleet, nid, "py-7")
    async with aiohttp.ClientSession() as http:
        inbox = InboxApi(fleet.inbox_url(), http, get_token=lambda: dev_token("py-7"))

        async def stored() -> bool:
            return await inbox.unread_count() == 2

        await eventually(stored)
        page = await inbox.list(limit=1)
        assert [item["id"] for item in page["items"]] == ["py-7-b"]
        assert await inbox.mark_read("py-7-b") is True
        assert await inbox.unread_count() == 1
        assert await inbox.read_all() == 1
        assert await inbox.unread_count() == 0
