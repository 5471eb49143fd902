"""Stream handlers: published events and receipts become rows, one transaction per batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import redis.asyncio as redis_async
import structlog
from notify_common.consumer import Entry, Handler, Outcome, decode_batch
from notify_common.publish import build_event, publish
from notify_common.rooms import audience_room
from notify_common.schemas import (
    AllAudience,
    BadEntry,
    Event,
    GeoAudience,
    RoleAudience,
    TopicAudience,
    UsersAudience,
    decode_event,
    decode_receipt,
    notification_from_event,
    to_ms,
)

from history import metrics
from history.db import Database
from history.records import DeliveryRow, InboxRow, NotificationRow
from history.writes import write_events, write_receipts

READ_SYNC_CHUNK = 100  # ids per `inbox.read` event, well inside the 8 KiB `data` limit
log = structlog.get_logger("history.ingest")
_data_encoder = msgspec.json.Encoder()
_AUDIENCE_KIND: dict[type, str] = {
    UsersAudience: "users",
    RoleAudience: "role",
    AllAudience: "all",
    TopicAudience: "topic",
    GeoAudience: "geo",
}


def rows_of(event: Event, entry_id: str) -> tuple[NotificationRow, list[InboxRow]]:
    """The notification row and one inbox row per enumerated recipient."""
    n = notification_from_event(event, entry_id)
    created_ms = n.created_ms
    if event.deliver_at is not None:  # scheduled: it is sent (and shown) from deliver_at on
        created_ms = max(created_ms, to_ms(event.deliver_at))
    row: NotificationRow = (
        n.id,
        n.type,
        n.category,
        n.title,
        n.body,
        _data_encoder.encode(n.data).decode(),
        n.priority,
        _AUDIENCE_KIND[type(event.audience)],
        audience_room(event.audience),
        event.source,
        created_ms,
        n.expires_ms,
    )
    users = event.audience.ids if isinstance(event.audience, UsersAudience) else []
    return row, [(user, n.id, n.type, created_ms) for user in dict.fromkeys(users)]


def event_handler(db: Database) -> Handler:
    """Store every stored-kind event of a batch; transient events are live-only and skipped."""

    async def handle(entries: Sequence[Entry]) -> Outcome:
        outcome = Outcome()
        notifications: list[NotificationRow] = []
        recipients: list[InboxRow] = []
        for entry, event in decode_batch(entries, decode_event, outcome):
            if event.transient:
                continue
            row, inbox_rows = rows_of(event, entry.id)
            notifications.append(row)
            recipients.extend(inbox_rows)
        await write_events(db, notifications, recipients)
        metrics.ROWS_WRITTEN.labels(table="notifications").inc(len(notifications))
        metrics.ROWS_WRITTEN.labels(table="inbox").inc(len(recipients))
        return outcome

    return handle


def read_sync_events(rows: Sequence[DeliveryRow]) -> list[Event]:
    """`inbox.read` events telling each reader's devices what was read (ids in bounded chunks)."""
    by_user: dict[str, dict[str, int]] = {}
    for nid, user, kind, _, at_ms, _, _ in rows:
        if kind == "read":
            by_user.setdefault(user, {})[nid] = at_ms
    events = []
    for user, reads in by_user.items():
        ids = list(reads)
        for first in range(0, len(ids), READ_SYNC_CHUNK):
            chunk = ids[first : first + READ_SYNC_CHUNK]
            try:
                event = read_sync_event(user, {"ids": chunk, "read_ms": max(reads[i] for i in chunk)})
            except BadEntry as exc:  # a user id outside the ingress alphabet: the read is stored
                log.warning("read_sync_not_sent", error=str(exc))
                break
            events.append(event)
    return events


def read_sync_event(user_id: str, data: dict[str, Any]) -> Event:
    """The transient event that carries read state to a user's connected devices."""
    return build_event(
        type="inbox.read", audience={"kind": "users", "ids": [user_id]}, transient=True, data=data
    )


def receipt_handler(db: Database, client: redis_async.Redis, prefix: str, shards: int = 1) -> Handler:
    """Append every receipt of a batch to the delivery trail; reads reach the reader's devices."""

    async def handle(entries: Sequence[Entry]) -> Outcome:
        outcome = Outcome()
        rows: list[DeliveryRow] = [
            (r.notification_id, r.user_id, r.kind, r.channel, r.at_ms, r.node, r.error)
            for _, r in decode_batch(entries, decode_receipt, outcome)
        ]
        await write_receipts(db, rows)
        metrics.ROWS_WRITTEN.labels(table="deliveries").inc(len(rows))
        # After the write, before the ack: a crash in between re-sends, which devices ignore.
        for event in read_sync_events(rows):
            await publish(client, event, prefix=prefix, shards=shards)
        return outcome

    return handle
