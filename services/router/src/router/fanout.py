"""A batch's effects as Redis commands: node deliveries, catch-up feeds, push jobs, receipts.

Per event: one `NodeDelivery` per gateway node carrying all its local explicit recipients and the
broadcast rooms; one feed entry per explicit recipient (or one per room) unless transient; one
push job for all users that push, one FCM topic job for a broadcast.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from notify_common.keys import Keys
from notify_common.receipts import receipt_command
from notify_common.redis_line import Command
from notify_common.schemas import (
    FIELD_DELIVERY,
    FIELD_FEED_NOTIFICATION,
    FIELD_FEED_ORIGIN,
    FIELD_JOB,
    Event,
    NodeDelivery,
    Notification,
    PushJob,
    Receipt,
    encode,
)
from notify_common.shards import event_shard_key
from notify_common.stream_ids import id_ms

from router import metrics
from router.policy import apply_muted_channels, broadcast_route, route_for
from router.recipients import Recipient


@dataclass(slots=True)
class Plan:
    """One routable event and its audience."""

    entry_id: str
    event: Event
    notification: Notification
    users: list[str]
    rooms: list[str]
    fcm_topic: str | None


@dataclass(slots=True)
class Lookups:
    """What the batch read from Redis: live nodes, each recipient, rate allowance."""

    alive: set[str]
    recipients: dict[str, Recipient]
    allowance: dict[str, int] = field(default_factory=dict)
    """user -> notifications still allowed in this batch (absent: unlimited)."""


@dataclass(frozen=True, slots=True)
class FeedLimits:
    user: int
    room: int


def drop_reason(plan: Plan, user_id: str, lookups: Lookups, rate_limit_text: str) -> str | None:
    """Why `user_id` does not get this notification at all (None: they do); spends rate allowance."""
    n = plan.notification
    prefs = lookups.recipients[user_id].prefs
    if n.category is not None and n.category in prefs.muted_categories:
        return f"muted category {n.category}"
    if n.transient:
        return None
    left = lookups.allowance.get(user_id)
    if left is None:
        return None
    lookups.allowance[user_id] = left - 1
    if left <= 0 and n.priority != "high":
        return rate_limit_text
    return None


def write_plans(
    out: list[Command],
    keys: Keys,
    plans: list[Plan],
    lookups: Lookups,
    feeds: FeedLimits,
    now: int,
    rate_limit_text: str,
) -> None:
    """Append every effect of `plans` to `out` (the caller sends them in one round trip)."""
    for plan in plans:
        n = plan.notification
        published_ms = id_ms(plan.entry_id)
        push_stream = keys.push_for(event_shard_key(plan.event))
        feed_value = encode(n) if not n.transient else b""
        by_node: dict[str, list[str]] = defaultdict(list)
        push_users: list[str] = []
        when_online, when_offline = route_for(plan.event, online=True), route_for(plan.event, online=False)
        user_feed_key = keys.user_feed
        for user_id in plan.users:
            reason = drop_reason(plan, user_id, lookups, rate_limit_text)
            if reason is not None:
                _record_drop(out, keys, n, user_id, reason, now)
                continue
            recipient = lookups.recipients[user_id]
            nodes = recipient.nodes
            route = when_online if nodes else when_offline
            if recipient.prefs.muted_channels:
                route = apply_muted_channels(route, frozenset(recipient.prefs.muted_channels))
            if route.socket and nodes:
                for node in nodes:
                    by_node[node].append(user_id)
            if route.push:
                push_users.append(user_id)
            if feed_value:
                out.append(_feed_add(user_feed_key(user_id), feeds.user, feed_value, plan.entry_id))
        rooms: list[str] = []
        if plan.rooms:
            broadcast = broadcast_route(plan.event)
            if broadcast.socket:
                rooms = plan.rooms
                for node in lookups.alive:
                    by_node.setdefault(node, [])
            if feed_value:
                for room in plan.rooms:
                    out.append(_feed_add(keys.room_feed(room), feeds.room, feed_value, plan.entry_id))
            if broadcast.push and plan.fcm_topic is not None:
                job = PushJob(notification=n, topic=plan.fcm_topic, published_ms=published_ms)
                out.append(("XADD", push_stream, "*", FIELD_JOB, encode(job)))
                metrics.DELIVERIES.labels(channel="push").inc()
        socket_users = 0
        for node, node_users in by_node.items():
            delivery = NodeDelivery(
                notification=n, user_ids=node_users, rooms=rooms, published_ms=published_ms
            )
            out.append(("XADD", keys.node_deliveries(node), "*", FIELD_DELIVERY, encode(delivery)))
            socket_users += len(node_users) or 1
        if by_node:
            metrics.NODE_ENTRIES.inc(len(by_node))
            metrics.DELIVERIES.labels(channel="socket").inc(socket_users)
        if push_users:
            job = PushJob(notification=n, user_ids=push_users, published_ms=published_ms)
            out.append(("XADD", push_stream, "*", FIELD_JOB, encode(job)))
            metrics.DELIVERIES.labels(channel="push").inc(len(push_users))


def _feed_add(feed: str, maxlen: int, notification_json: bytes, origin_id: str) -> Command:
    """Append to a catch-up feed, trimmed to about `maxlen`; the origin (ingress id) orders the
    merge of several feeds in catch-up."""
    return (
        "XADD",
        feed,
        "MAXLEN",
        "~",
        maxlen,
        "*",
        FIELD_FEED_NOTIFICATION,
        notification_json,
        FIELD_FEED_ORIGIN,
        origin_id,
    )


def write_expired(out: list[Command], keys: Keys, plan: Plan, now: int) -> None:
    """An event that expired before routing: an `expired` receipt per explicit recipient.

    Broadcasts have no per-user record; history sees their `expires_ms` on the event itself.
    """
    if plan.notification.transient:
        return
    for user_id in plan.users:
        receipt = Receipt(notification_id=plan.notification.id, user_id=user_id, kind="expired", at_ms=now)
        out.append(receipt_command(keys, receipt))


def _record_drop(
    out: list[Command], keys: Keys, n: Notification, user_id: str, reason: str, now: int
) -> None:
    metrics.DROPPED.labels(reason="muted_category" if reason.startswith("muted") else "rate_limited").inc()
    if n.transient:
        return  # transient signals have no history to record the drop in
    receipt = Receipt(notification_id=n.id, user_id=user_id, kind="dropped", at_ms=now, error=reason)
    out.append(receipt_command(keys, receipt))
