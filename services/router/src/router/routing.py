"""The ingress handler: decode a batch, hold scheduled events, route the rest in few round trips.

Round trips per batch: one for the reads (idempotency claims, live nodes, and presence,
preferences and rate counter of every explicit recipient: one script call per user, see
recipients.py), preceded by a geo search only when the batch has a geo audience; then the
effects, returned to the consumer as commands, which it sends with its XACK in one MULTI/EXEC:
Redis applies both or neither, and a refused write (maxmemory) leaves the batch pending. A crash at any
point before replays the batch (see idempotency.py for why a replay is detectable, not lost).
Large batches are routed in chunks (ROUTING_CHUNK_RECIPIENTS); all but the last are written by
the router itself.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import Counter
from collections.abc import Sequence

import msgspec
import redis.asyncio as redis_async
import structlog
from notify_common.clock import now_ms
from notify_common.consumer import REDIS_DOWN_ERRORS, Entry, Outcome, decode_batch
from notify_common.delayed import DelayedQueue
from notify_common.keys import Keys
from notify_common.presence import live_nodes_command, live_nodes_from
from notify_common.presence.in_flight import RoutingMark, room_routing_command, routing_mark
from notify_common.presence.scripts import READ_RECIPIENT
from notify_common.redis_line import Command, RedisLine
from notify_common.schemas import (
    FIELD_EVENT,
    Event,
    GeoAudience,
    UsersAudience,
    decode_event,
    notification_from_event,
    notification_id_of,
    to_ms,
)
from redis.exceptions import NoScriptError

from router import metrics
from router.audience import explicit_users, fcm_topic_of, geo_recipients, rooms_of
from router.config import RouterConfig
from router.fanout import FeedLimits, Lookups, Plan, write_expired, write_plans
from router.idempotency import SCOPE, claim_commands, duplicates
from router.ratelimit import allowed_in_batch
from router.recipients import Recipient, RecipientReader

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
    return notification_id_of(event.id, entry_id)


class Router:
    """Routes events; `handle` is the ingress consumer's handler, `route` also serves the scheduler."""

    def __init__(self, client: redis_async.Redis, keys: Keys, cfg: RouterConfig) -> None:
        self.client = client
        self.keys = keys
        self.cfg = cfg
        self.feeds = FeedLimits(user=cfg.feed_maxlen, room=cfg.room_feed_maxlen)
        self.recipients = RecipientReader(keys, cfg.rate_limit_window_s)
        self.instance = secrets.token_hex(4)
        self.chunk_numbers = itertools.count()
        """With `instance`, a unique token per routing attempt (its mark: presence/in_flight.py)."""
        self.scheduled = DelayedQueue(client, keys.scheduled, keys.scheduled_events)
        """Events held until their `deliver_at` (released by the Scheduler)."""
        # the batch's reads and the effects the router writes itself, one exchange at a time
        self.line = RedisLine(client, cfg.routing_timeout_s)
        self.rate_limit_text = f"rate limited: over {cfg.rate_limit_per_user} per {cfg.rate_limit_window_s}s"

    async def aclose(self) -> None:
        """Close the router's own connection."""
        await self.line.aclose()

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        """The ingress consumer's handler."""
        outcome = Outcome()
        now = now_ms()
        ready: list[tuple[str, Event]] = []
        held: list[tuple[str, Event, bytes]] = []
        for entry, event in decode_batch(entries, decode_event, outcome):
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
            outcome.effects = await self.route(ready, defer_last=True)
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
        pipe = self.client.pipeline(transaction=False)
        due = {
            entry_id: to_ms(event.deliver_at) for entry_id, event, _ in held if event.deliver_at is not None
        }
        self.scheduled.put(pipe, {entry_id: raw for entry_id, _, raw in held}, due, keep_due=True)
        await pipe.execute()
        metrics.EVENTS.labels(outcome="scheduled").inc(len(held))

    async def route(
        self, items: Sequence[tuple[str, Event]], *, defer_last: bool = False
    ) -> list[Command] | None:
        """Route events now (their `deliver_at`, if any, has passed), in chunks of at most
        ROUTING_CHUNK_RECIPIENTS explicit recipients, each within ROUTING_TIMEOUT_S.

        With `defer_last`, the last chunk's effects are returned unexecuted, for the consumer to
        run together with its XACK (one round trip for both); the others are written here.
        """
        chunks = recipient_chunks(items, self.cfg.routing_chunk_recipients)
        for index, chunk in enumerate(chunks):
            async with asyncio.timeout(self.cfg.routing_timeout_s):
                effects = await self._route_chunk(chunk)
                if defer_last and index == len(chunks) - 1:
                    return effects
                if effects:
                    await self.line.pipeline(effects)
        return None

    async def _route_chunk(self, items: Sequence[tuple[str, Event]]) -> list[Command]:
        """Decide a chunk from one read round trip; returns its effects, queued, not yet sent."""
        now = now_ms()
        geo_items = [
            (i, event.audience)
            for i, (_, event) in enumerate(items)
            if isinstance(event.audience, GeoAudience)
        ]
        users_at: dict[int, list[str]] = {}
        if geo_items:  # rare: who is near is needed before their presence can be read
            geo_users = await geo_recipients(
                self.client, self.keys, [g for _, g in geo_items], now, int(self.cfg.geo_max_age_s * 1000)
            )
            users_at = {i: users for (i, _), users in zip(geo_items, geo_users, strict=True)}
        claims = [
            (claim_id(entry_id, event), entry_id)
            for entry_id, event in items
            if event.id is not None or event.deliver_at is not None
        ]
        live: list[Plan] = []
        gone: list[Plan] = []
        for i, (entry_id, event) in enumerate(items):
            users = users_at[i] if i in users_at else explicit_users(event)
            plan = plan_for(entry_id, event, users, self.cfg.fcm_topic_prefix)
            expires = plan.notification.expires_ms
            (gone if expires is not None and expires <= now else live).append(plan)
        counted = self._rate_occurrences(live)
        users = list(dict.fromkeys(u for plan in live for u in plan.users))
        mark = routing_mark(f"{self.instance}:{next(self.chunk_numbers)}", self.cfg.routing_timeout_s)
        rooms = any(plan.rooms and not plan.notification.transient for plan in live)
        dup, alive, recipients = await self._read(claims, users, counted, mark, rooms)
        plans = [p for p in live if p.entry_id not in dup]
        expired = [p for p in gone if p.entry_id not in dup]
        effects: list[Command] = []
        lookups = self._lookups(plans, alive, recipients, counted, effects)
        for plan in expired:
            write_expired(effects, self.keys, plan, now)
        write_plans(effects, self.keys, plans, lookups, self.feeds, now, self.rate_limit_text)
        effects += self.recipients.releases(users, mark)
        self._count(len(plans), len(dup), len(expired))
        return effects

    async def _read(
        self,
        claims: list[tuple[str, str]],
        users: list[str],
        counted: Counter[str],
        mark: RoutingMark,
        rooms: bool,
    ) -> tuple[set[str], set[str], dict[str, Recipient]]:
        """Idempotency claims, live nodes and every recipient, in one pipelined round trip.
        With `rooms` (a room audience's feed is written), the live-node read is marked first:
        a node announced after it waits for this routing before taking clients (in_flight.py)."""
        room_mark = [room_routing_command(self.keys, self.instance, mark)] if rooms else []
        reads = [
            *claim_commands(self.keys, claims, self.cfg.idempotency_ttl_s),
            *room_mark,
            live_nodes_command(self.keys, self.cfg.node_ttl_ms),
            *self.recipients.commands(users, counted, mark),
        ]
        try:
            replies = await self.line.pipeline(reads)
        except NoScriptError:
            # Redis lost its script cache (a restart, a replica promoted): no script ran, so no
            # counter moved (on a cluster, the scripts of the masters that had it did: those
            # users count this batch twice), and the claims answer the same when repeated.
            await self.line.script_load(READ_RECIPIENT.script)
            replies = await self.line.pipeline(reads)
        live_at = len(claims) + len(room_mark)
        alive = live_nodes_from(replies[live_at])
        dup = duplicates(claims, replies[: len(claims)])
        return dup, alive, RecipientReader.parse(users, replies[live_at + 1 :], alive)

    def _rate_occurrences(self, plans: list[Plan]) -> Counter[str]:
        """How many of `plans` count against each user's rate limit (none when unlimited)."""
        if not self.cfg.rate_limit_per_user:
            return Counter()
        return Counter(u for plan in plans if not plan.notification.transient for u in plan.users)

    def _lookups(
        self,
        plans: list[Plan],
        alive: set[str],
        recipients: dict[str, Recipient],
        counted: Counter[str],
        effects: list[Command],
    ) -> Lookups:
        """Rate allowance from the counters as read; the counts of duplicates are given back."""
        kept = self._rate_occurrences(plans)
        limit = self.cfg.rate_limit_per_user
        allowance: dict[str, int] = {}
        for user_id, occurrences in counted.items():
            given_back = occurrences - kept.get(user_id, 0)
            if given_back:  # a duplicate's users were counted before the claim said so
                effects.append(("DECRBY", self.keys.rate(user_id), given_back))
            if user_id in kept:
                count = recipients[user_id].rate_count - given_back
                allowance[user_id] = allowed_in_batch(count, kept[user_id], limit)
        return Lookups(alive=alive, recipients=recipients, allowance=allowance)

    @staticmethod
    def _count(routed: int, duplicate: int, expired: int) -> None:
        for outcome, n in (("routed", routed), ("duplicate", duplicate), ("expired", expired)):
            if n:
                metrics.EVENTS.labels(outcome=outcome).inc(n)
