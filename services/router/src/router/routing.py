"""The ingress handler: decode a batch, hold scheduled events, route the rest in few round trips.

Round trips per batch: idempotency claims, live nodes and geo searches (in parallel); presence,
preferences and rate counter of every explicit recipient of the batch (one script call per user,
one pipeline, see recipients.py); then one pipeline with every effect. Only then does the
consumer XACK, so a crash at any point replays the batch (see idempotency.py for why a replay
is detectable, not lost). Large batches are routed in chunks (ROUTING_CHUNK_RECIPIENTS).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

import msgspec
import redis.asyncio as redis_async
import structlog
from notify_common.consumer import REDIS_DOWN_ERRORS, Entry, Outcome
from notify_common.keys import Keys
from notify_common.presence import live_nodes, now_ms
from notify_common.schemas import (
    FIELD_EVENT,
    BadEntry,
    Event,
    GeoAudience,
    UsersAudience,
    decode_event,
    notification_from_event,
    to_ms,
)

from router import metrics
from router.audience import explicit_users, fcm_topic_of, geo_recipients, rooms_of
from router.config import RouterConfig
from router.fanout import FeedLimits, Lookups, Plan, write_expired, write_plans
from router.idempotency import SCOPE, duplicates
from router.ratelimit import allowed_in_batch
from router.recipients import RecipientReader

log = structlog.get_logger("router.routing")


def plan_for(entry_id: str, event: Event, users: list[str], topic_prefix: str) -> Plan:
    """The notification and audience of one event (geo users resolved by the caller)."""
    n = notification_from_event(event, entry_id)
    if event.deliver_at is not None and event.ttl_s is not None:
        # a scheduled event's ttl counts from its delivery time, not its publishing time
        n = msgspec.structs.replace(n, expires_ms=to_ms(event.deliver_at) + event.ttl_s * 1000)
    return Plan(entry_id, event, n, users, rooms_of(event), fcm_topic_of(event, topic_prefix))


def recipient_chunks(
    items: Sequence[tuple[str, Event]], max_recipients: int
) -> list[Sequence[tuple[str, Event]]]:
    """Consecutive runs of events whose explicit recipients add up to at most `max_recipients`
    (an event larger than that is a chunk of its own), so one pipeline stays bounded."""
    chunks: list[Sequence[tuple[str, Event]]] = []
    start, size = 0, 0
    for i, (_, event) in enumerate(items):
        audience = event.audience
        n = len(audience.ids) if isinstance(audience, UsersAudience) else getattr(audience, "limit", 0)
        if size and size + n > max_recipients:
            chunks.append(items[start:i])
            start, size = i, 0
        size += n
    chunks.append(items[start:])
    return chunks


def claim_id(entry_id: str, event: Event) -> str:
    """The id an event is claimed under: its own, or the notification id made from its entry."""
    return event.id or f"evt-{entry_id}"


class Router:
    """Routes events; `handle` is the ingress consumer's handler, `route` also serves the scheduler."""

    def __init__(self, client: redis_async.Redis, keys: Keys, cfg: RouterConfig) -> None:
        self.client = client
        self.keys = keys
        self.cfg = cfg
        self.feeds = FeedLimits(user=cfg.feed_maxlen, room=cfg.room_feed_maxlen)
        self.recipients = RecipientReader(client, keys, cfg.rate_limit_window_s)
        self.rate_limit_text = f"rate limited: over {cfg.rate_limit_per_user} per {cfg.rate_limit_window_s}s"

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        """The ingress consumer's handler."""
        outcome = Outcome()
        now = now_ms()
        ready: list[tuple[str, Event]] = []
        held: list[tuple[str, Event, bytes]] = []
        for entry in entries:
            try:
                event = decode_event(entry.fields)
            except BadEntry as exc:
                outcome.dead[entry.id] = str(exc)
                continue
            if event.deliver_at is not None and to_ms(event.deliver_at) > now:
                held.append((entry.id, event, entry.fields[FIELD_EVENT]))
            else:
                ready.append((entry.id, event))
        if held:
            # The fan-out client has no per-reply timer: each step has a deadline instead, and
            # a TimeoutError (an OSError) leaves the batch pending like any Redis outage.
            async with asyncio.timeout(self.cfg.routing_timeout_s):
                await self._hold(held)
        if ready:
            await self._route_isolating_failures(ready, outcome)
        return outcome

    async def _route_isolating_failures(self, ready: list[tuple[str, Event]], outcome: Outcome) -> None:
        """Route the batch; if it fails for a reason other than Redis being down, route each
        event alone so one event that breaks routing is retried (then dead-lettered) by itself."""
        try:
            await self.route(ready)
            return
        except REDIS_DOWN_ERRORS:
            raise
        except Exception:
            if len(ready) == 1:
                raise
            log.exception("batch_routing_failed", entries=len(ready))
        for item in ready:
            try:
                await self.route([item])
            except REDIS_DOWN_ERRORS:
                raise
            except Exception as exc:
                outcome.retry[item[0]] = f"{type(exc).__name__}: {exc}"

    async def _hold(self, held: list[tuple[str, Event, bytes]]) -> None:
        # A replay of an entry whose scheduled copy was already released must not be held again:
        # routing left its idempotency marker (scheduled events are always claimed, see route).
        markers = [self.keys.seen(SCOPE, claim_id(entry_id, event)) for entry_id, event, _ in held]
        pipe = self.client.pipeline(transaction=False)
        for key in markers:
            pipe.exists(key)
        done = await pipe.execute()
        held = [item for item, seen in zip(held, done, strict=True) if not seen]
        if not held:
            return
        # The event first, then its due time: the scheduler never sees a due id without its event.
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.keys.scheduled_events, mapping={entry_id: raw for entry_id, _, raw in held})
        due = {
            entry_id: to_ms(event.deliver_at) for entry_id, event, _ in held if event.deliver_at is not None
        }
        pipe.zadd(self.keys.scheduled, due, nx=True)
        await pipe.execute()
        metrics.EVENTS.labels(outcome="scheduled").inc(len(held))

    async def route(self, items: Sequence[tuple[str, Event]]) -> None:
        """Route events now (their `deliver_at`, if any, has passed), in chunks of at most
        ROUTING_CHUNK_RECIPIENTS explicit recipients, each within ROUTING_TIMEOUT_S."""
        for chunk in recipient_chunks(items, self.cfg.routing_chunk_recipients):
            async with asyncio.timeout(self.cfg.routing_timeout_s):
                await self._route_chunk(chunk)

    async def _route_chunk(self, items: Sequence[tuple[str, Event]]) -> None:
        now = now_ms()
        geo_items = [
            (i, event.audience)
            for i, (_, event) in enumerate(items)
            if isinstance(event.audience, GeoAudience)
        ]
        claims = [
            (claim_id(entry_id, event), entry_id)
            for entry_id, event in items
            if event.id is not None or event.deliver_at is not None
        ]
        dup, alive, geo_users = await asyncio.gather(
            duplicates(self.client, self.keys, claims, self.cfg.idempotency_ttl_s),
            live_nodes(self.client, self.keys, self.cfg.node_ttl_ms),
            geo_recipients(
                self.client, self.keys, [g for _, g in geo_items], now, int(self.cfg.geo_max_age_s * 1000)
            ),
        )
        users_at = {i: users for (i, _), users in zip(geo_items, geo_users, strict=True)}
        plans: list[Plan] = []
        expired: list[Plan] = []
        for i, (entry_id, event) in enumerate(items):
            if entry_id in dup:
                continue
            users = users_at[i] if i in users_at else explicit_users(event)
            plan = plan_for(entry_id, event, users, self.cfg.fcm_topic_prefix)
            expires = plan.notification.expires_ms
            (expired if expires is not None and expires <= now else plans).append(plan)
        lookups = await self._lookups(plans, alive)
        pipe = self.client.pipeline(transaction=False)
        for plan in expired:
            write_expired(pipe, self.keys, plan, now)
        write_plans(pipe, self.keys, plans, lookups, self.feeds, now, self.rate_limit_text)
        await pipe.execute()
        self._count(len(plans), len(dup), len(expired))

    async def _lookups(self, plans: list[Plan], alive: set[str]) -> Lookups:
        users = list(dict.fromkeys(u for plan in plans for u in plan.users))
        limit = self.cfg.rate_limit_per_user
        counted = Counter(u for plan in plans if not plan.notification.transient for u in plan.users)
        if not limit:
            counted.clear()
        recipients = await self.recipients.read(users, counted, alive)
        allowance = {u: allowed_in_batch(recipients[u].rate_count, k, limit) for u, k in counted.items()}
        return Lookups(alive=alive, recipients=recipients, allowance=allowance)

    @staticmethod
    def _count(routed: int, duplicate: int, expired: int) -> None:
        for outcome, n in (("routed", routed), ("duplicate", duplicate), ("expired", expired)):
            if n:
                metrics.EVENTS.labels(outcome=outcome).inc(n)
