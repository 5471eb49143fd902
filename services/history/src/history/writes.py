"""Batched, idempotent writes: notifications with their recipients, receipts, retention deletes.

Every write keys on the notification id (and recipient, and receipt moment), so processing the
same stream entries twice after a crash leaves the tables exactly as once.
"""

from __future__ import annotations

from collections.abc import Sequence

from history.db import Database, placeholders
from history.records import DeliveryRow, InboxRow, NotificationRow

# A geo audience is resolved by the router at send time, so history learns its recipients from
# their receipts: each one puts the notification in that user's inbox.
_PAIR_COLUMNS = [("user_id", "text"), ("notification_id", "text")]
_GEO_RECIPIENTS_SQL = """
INSERT INTO inbox (user_id, notification_id, type, created_ms)
SELECT b.user_id, n.id, n.type, n.created_ms
FROM batch b JOIN notifications n ON n.id = b.notification_id
WHERE n.audience = 'geo'
ON CONFLICT DO NOTHING
"""
_GEO_BACKFILL_SQL = """
INSERT INTO inbox (user_id, notification_id, type, created_ms)
SELECT DISTINCT d.user_id, n.id, n.type, n.created_ms
FROM deliveries d JOIN notifications n ON n.id = d.notification_id
WHERE n.id IN ({ids}) AND n.audience = 'geo'
ON CONFLICT DO NOTHING
"""
_READ_COLUMNS = [*_PAIR_COLUMNS, ("read_ms", "bigint")]
# UPDATE … FROM: PostgreSQL, and SQLite from 3.33.
_READ_OWN_SQL = """
UPDATE inbox SET read_ms = b.read_ms FROM batch b
WHERE inbox.user_id = b.user_id AND inbox.notification_id = b.notification_id AND inbox.read_ms IS NULL
"""
_READ_BROADCAST_SQL = """
INSERT INTO broadcast_reads (user_id, notification_id, read_ms)
SELECT b.user_id, n.id, b.read_ms
FROM batch b JOIN notifications n ON n.id = b.notification_id
WHERE n.room IS NOT NULL
ON CONFLICT DO NOTHING
"""


async def write_events(
    db: Database, notifications: Sequence[NotificationRow], recipients: Sequence[InboxRow]
) -> None:
    """Store notifications and their enumerated recipients in one transaction, one statement
    per table."""
    if not notifications and not recipients:
        return
    geo_ids = [row[0] for row in notifications if row[7] == "geo"]
    async with db.session() as s:
        await s.insert_many("notifications", notifications)
        await s.insert_many("inbox", recipients)
        if geo_ids:  # receipts that arrived before the event itself
            await s.execute(_GEO_BACKFILL_SQL.format(ids=placeholders(1, len(geo_ids))), *geo_ids)


async def write_receipts(db: Database, receipts: Sequence[DeliveryRow]) -> None:
    """Append receipts to the trail; read receipts also set the read state (the first read wins).

    One transaction, one statement per kind of write. Pairs are distinct and sorted, so a
    replica replaying the same receipts takes row locks in the same order.
    """
    if not receipts:
        return
    pairs = sorted({(r[1], r[0]) for r in receipts})
    first_read: dict[tuple[str, str], int] = {}
    for nid, user, kind, _, at_ms, _, _ in receipts:
        if kind == "read" and at_ms < first_read.get((user, nid), at_ms + 1):
            first_read[(user, nid)] = at_ms
    reads = [(user, nid, at_ms) for (user, nid), at_ms in sorted(first_read.items())]
    async with db.session() as s:
        await s.insert_many("deliveries", receipts)
        await s.execute_batch(_GEO_RECIPIENTS_SQL, _PAIR_COLUMNS, pairs)
        if reads:
            await s.execute_batch(_READ_OWN_SQL, _READ_COLUMNS, reads)
            await s.execute_batch(_READ_BROADCAST_SQL, _READ_COLUMNS, reads)


async def delete_older_than(db: Database, cutoff_ms: int, limit: int) -> int:
    """Delete up to `limit` notifications created before `cutoff_ms`, with everything about them.

    Receipts older than the cutoff go too, including those of notifications never stored
    (transient ones). Returns the number of notifications deleted.
    """
    async with db.session() as s:
        ids = [
            r[0]
            for r in await s.fetch(
                "SELECT id FROM notifications WHERE created_ms < $1 ORDER BY created_ms LIMIT $2",
                cutoff_ms,
                limit,
            )
        ]
        if ids:
            marks = placeholders(1, len(ids))
            for table in ("inbox", "deliveries", "broadcast_reads"):
                await s.execute(f"DELETE FROM {table} WHERE notification_id IN ({marks})", *ids)
            await s.execute(f"DELETE FROM notifications WHERE id IN ({marks})", *ids)
        # Orphans: receipts whose notification was never stored, and recipients of those.
        await s.execute(
            "DELETE FROM deliveries WHERE at_ms IN "
            "(SELECT at_ms FROM deliveries WHERE at_ms < $1 ORDER BY at_ms LIMIT $2) AND at_ms < $1",
            cutoff_ms,
            limit,
        )
    return len(ids)
