"""Queries for support staff and analytics: one notification's trail, stats per type and day."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from history.db import Database
from history.records import Recipient, Trail, TrailEntry, TypeDayStats

DAY_MS = 86_400_000


async def trail(db: Database, notification_id: str) -> Trail | None:
    """Content, recipients with their read state, and every receipt in time order."""
    found = await db.fetch(
        "SELECT type, audience, room, title, created_ms FROM notifications WHERE id = $1", notification_id
    )
    recipients = await db.fetch(
        "SELECT user_id, read_ms FROM inbox WHERE notification_id = $1 ORDER BY user_id", notification_id
    )
    broadcast_reads = await db.fetch(
        "SELECT user_id, read_ms FROM broadcast_reads WHERE notification_id = $1 ORDER BY user_id",
        notification_id,
    )
    deliveries = await db.fetch(
        "SELECT user_id, kind, channel, at_ms, node, error FROM deliveries "
        "WHERE notification_id = $1 ORDER BY at_ms, user_id, kind",
        notification_id,
    )
    if not found and not deliveries:
        return None
    head = found[0] if found else (None, None, None, None, None)
    return Trail(
        id=notification_id,
        type=head[0],
        audience=head[1],
        room=head[2],
        title=head[3],
        created_ms=None if head[4] is None else int(head[4]),
        recipients=[Recipient(user_id=r[0], read_ms=r[1]) for r in recipients],
        broadcast_reads=[Recipient(user_id=r[0], read_ms=r[1]) for r in broadcast_reads],
        deliveries=[
            TrailEntry(user_id=r[0], kind=r[1], channel=r[2], at_ms=int(r[3]), node=r[4], error=r[5])
            for r in deliveries
        ],
    )


# Which column a receipt counts in; a (notification, user) pair counts once per column.
_COLUMN_SQL = """CASE
  WHEN d.kind IN ('delivered', 'acked') AND d.channel <> 'push' THEN 'delivered_socket'
  WHEN d.kind = 'pushed' THEN 'pushed'
  WHEN d.kind IN ('push_failed', 'dropped') THEN 'failed'
  WHEN d.kind = 'read' THEN 'read'
  ELSE 'other' END"""


def _day(day_number: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day_number)).isoformat()


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def stats(db: Database, from_ms: int, to_ms: int) -> list[TypeDayStats]:
    """Per type and UTC day of creation, for notifications created in [from_ms, to_ms).

    `sent` counts recipients: enumerated ones (inbox rows) plus users of broadcasts that some
    receipt names. The other columns count distinct (notification, user) pairs.
    """
    counts: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    span = (from_ms, to_ms)
    for type_, day, n in await db.fetch(
        "SELECT type, created_ms / 86400000, count(*) FROM notifications "
        "WHERE created_ms >= $1 AND created_ms < $2 GROUP BY 1, 2",
        *span,
    ):
        counts[(type_, int(day))]["notifications"] += int(n)
    for type_, day, n in await db.fetch(
        "SELECT type, created_ms / 86400000, count(*) FROM inbox "
        "WHERE created_ms >= $1 AND created_ms < $2 GROUP BY 1, 2",
        *span,
    ):
        counts[(type_, int(day))]["sent"] += int(n)
    for type_, day, n in await db.fetch(
        "SELECT n.type, n.created_ms / 86400000, count(DISTINCT d.notification_id || '|' || d.user_id) "
        "FROM deliveries d JOIN notifications n ON n.id = d.notification_id "
        "WHERE n.room IS NOT NULL AND n.created_ms >= $1 AND n.created_ms < $2 GROUP BY 1, 2",
        *span,
    ):
        counts[(type_, int(day))]["sent"] += int(n)
    for type_, day, column, n in await db.fetch(
        f"SELECT n.type, n.created_ms / 86400000, {_COLUMN_SQL}, "
        "count(DISTINCT d.notification_id || '|' || d.user_id) "
        "FROM deliveries d JOIN notifications n ON n.id = d.notification_id "
        "WHERE n.created_ms >= $1 AND n.created_ms < $2 GROUP BY 1, 2, 3",
        *span,
    ):
        counts[(type_, int(day))][column] += int(n)
    result = []
    for (type_, day), c in sorted(counts.items(), key=lambda item: (item[0][1], item[0][0])):
        sent = c["sent"]
        result.append(
            TypeDayStats(
                type=type_,
                day=_day(day),
                notifications=c["notifications"],
                sent=sent,
                delivered_socket=c["delivered_socket"],
                pushed=c["pushed"],
                failed=c["failed"],
                read=c["read"],
                delivered_rate=_rate(c["delivered_socket"], sent),
                pushed_rate=_rate(c["pushed"], sent),
                failed_rate=_rate(c["failed"], sent),
                read_rate=_rate(c["read"], sent),
            )
        )
    return result
