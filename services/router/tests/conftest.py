"""Router fixtures: a Router over the session's real Redis and fake gateway nodes.

A fake node is what the router sees of a gateway: a live_nodes heartbeat, presence entries for
its users, and its delivery stream, read back here. Everything is real Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
import redis.asyncio as redis_async
from notify_common.consumer import Entry, Outcome
from notify_common.keys import Keys
from notify_common.presence import mark_alive
from notify_common.schemas import (
    FIELD_EVENT,
    NodeDelivery,
    Notification,
    PushJob,
    Receipt,
    decode_delivery,
    decode_push_job,
    decode_receipt,
)
from router.config import RouterConfig
from router.routing import Router


@dataclass
class Harness:
    """Publish events, route them as the ingress consumer would, and read every effect back."""

    client: redis_async.Redis
    keys: Keys
    cfg: RouterConfig
    router: Router

    async def node(self, node_id: str, *users: str) -> None:
        await mark_alive(self.client, self.keys, node_id)
        for user_id in users:
            await self.client.hincrby(self.keys.user_presence(user_id), node_id, 1)

    async def publish(self, *events: dict[str, Any]) -> list[Entry]:
        ids = [
            await self.client.xadd(self.keys.ingress, {FIELD_EVENT: msgspec.json.encode(e)}) for e in events
        ]
        return [
            Entry(i.decode(), {FIELD_EVENT: msgspec.json.encode(e)}) for i, e in zip(ids, events, strict=True)
        ]

    async def handle(self, entries: list[Entry]) -> Outcome:
        """The router's handler, then its effects written as the consumer writes them."""
        outcome = await self.router.handle(entries)
        if outcome.effects:
            await self.router.line.transaction(outcome.effects)
        return outcome

    async def route(self, *events: dict[str, Any]) -> Outcome:
        return await self.handle(await self.publish(*events))

    async def deliveries(self, node_id: str) -> list[NodeDelivery]:
        return [decode_delivery(f) for _, f in await self.client.xrange(self.keys.node_deliveries(node_id))]

    async def push_jobs(self) -> list[PushJob]:
        return [decode_push_job(f) for _, f in await self.client.xrange(self.keys.push_jobs)]

    async def receipts(self) -> list[Receipt]:
        return [decode_receipt(f) for _, f in await self.client.xrange(self.keys.receipts)]

    async def feed(self, user_id: str) -> list[Notification]:
        entries = await self.client.xrange(self.keys.user_feed(user_id))
        return [msgspec.json.decode(f[b"n"], type=Notification) for _, f in entries]

    async def room_feed(self, room: str) -> list[Notification]:
        entries = await self.client.xrange(self.keys.room_feed(room))
        return [msgspec.json.decode(f[b"n"], type=Notification) for _, f in entries]


MakeHarness = Callable[..., Harness]


@pytest.fixture
async def make_harness(redis: redis_async.Redis, keys: Keys) -> AsyncIterator[MakeHarness]:
    """A Harness with config overrides, e.g. make_harness(rate_limit_per_user=2)."""
    made: list[Router] = []

    def make(**overrides: Any) -> Harness:
        cfg = RouterConfig(key_prefix=keys.prefix, node_id="router-test", **overrides)
        made.append(Router(redis, keys, cfg))
        return Harness(redis, keys, cfg, made[-1])

    yield make
    for router in made:
        await router.aclose()


@pytest.fixture
def harness(make_harness: MakeHarness) -> Harness:
    return make_harness()
