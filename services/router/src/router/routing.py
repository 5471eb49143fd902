"""Turn published events into per-node deliveries, feed entries and push jobs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as redis_async
import structlog
from notify_common.consumer import Entry, Outcome
from notify_common.keys import Keys
from notify_common.presence import connections_by_node, live_nodes, now_ms
from notify_common.schemas import (
    FIELD_DELIVERY,
    FIELD_JOB,
    FIELD_RECEIPT,
    AllAudience,
    BadEntry,
    Event,
    NodeDelivery,
    Notification,
    PushJob,
    Receipt,
    RoleAudience,
    TopicAudience,
    UsersAudience,
    decode_event,
    encode,
    notification_from_event,
    stream_id_ms,
)

from router.config import RouterConfig

log = structlog.get_logger("router.routing")


@dataclass
class Routed:
    """One decoded event and what routing decided for it."""

    entry_id: str
    event: Event
    notification: Notification
    rooms: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)


def audience_rooms(event: Event) -> list[str]:
    """Rooms a broadcast goes to; every gateway node fans out to its local members."""
    match event.audience:
        case RoleAudience(role=role):
            return [f"role:{role}"]
        case AllAudience():
            return ["all"]
        case TopicAudience(topic=topic):
            return [f"topic:{topic}"]
        case _:
            return []


class Router:
    """The ingress handler: one batch of events in, one pipelined write of their effects out."""

    def __init__(self, client: redis_async.Redis, keys: Keys, cfg: RouterConfig) -> None:
        self.client = client
        self.keys = keys
        self.cfg = cfg

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        outcome = Outcome()
        routed: list[Routed] = []
        for entry in entries:
            try:
                event = decode_event(entry.fields)
            except BadEntry as exc:
                outcome.dead[entry.id] = str(exc)
                continue
            if not isinstance(event.audience, UsersAudience | RoleAudience | AllAudience | TopicAudience):
                outcome.dead[entry.id] = f"audience kind {type(event.audience).__name__} is not routable yet"
                continue
            routed.append(
                Routed(
                    entry.id,
                    event,
                    notification_from_event(event, entry.id),
                    rooms=audience_rooms(event),
                    user_ids=list(event.audience.ids) if isinstance(event.audience, UsersAudience) else [],
                )
            )
        if routed:
            await self._fan_out(routed)
        return outcome

    async def _fan_out(self, routed: list[Routed]) -> None:
        alive = await live_nodes(self.client, self.keys, self.cfg.node_ttl_ms)
        users = sorted({u for r in routed for u in r.user_ids})
        online = await connections_by_node(self.client, self.keys, users, alive) if users else {}
        pipe = self.client.pipeline(transaction=False)
        now = now_ms()
        for item in routed:
            n = item.notification
            published_ms = stream_id_ms(item.entry_id)
            if n.expires_ms is not None and n.expires_ms <= now:
                for user_id in item.user_ids:
                    receipt = Receipt(notification_id=n.id, user_id=user_id, kind="expired", at_ms=now)
                    pipe.xadd(self.keys.receipts, {FIELD_RECEIPT: encode(receipt)})
                continue
            by_node: dict[str, list[str]] = defaultdict(list)
            offline: list[str] = []
            for user_id in item.user_ids:
                nodes = online.get(user_id)
                if nodes:
                    for node in nodes:
                        by_node[node].append(user_id)
                else:
                    offline.append(user_id)
                if not n.transient:
                    pipe.xadd(
                        self.keys.user_feed(user_id),
                        {b"n": encode(n)},
                        maxlen=self.cfg.feed_maxlen,
                        approximate=True,
                    )
            if item.rooms:
                for node in alive:  # every live node fans a broadcast out to its members
                    by_node.setdefault(node, [])
                if not n.transient:
                    for room in item.rooms:
                        pipe.xadd(
                            self.keys.room_feed(room),
                            {b"n": encode(n)},
                            maxlen=self.cfg.room_feed_maxlen,
                            approximate=True,
                        )
            for node, node_users in by_node.items():
                delivery = NodeDelivery(
                    notification=n, user_ids=node_users, rooms=item.rooms, published_ms=published_ms
                )
                pipe.xadd(self.keys.node_deliveries(node), {FIELD_DELIVERY: encode(delivery)})
            if offline and not n.transient:
                job = PushJob(notification=n, user_ids=offline, published_ms=published_ms)
                pipe.xadd(self.keys.push_jobs, {FIELD_JOB: encode(job)})
        await pipe.execute()
        log.debug("routed", events=len(routed))
