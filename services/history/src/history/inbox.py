"""A user's inbox: their own notifications plus the broadcasts to their rooms, and read state.

The rule for broadcasts: a notification to a role, to everyone or to a topic is stored once with
its room (`role:<r>`, `all`, `topic:<t>`). A user's inbox shows the broadcasts of the rooms they
are in now: `all`, `role:<r>` for each role in their token, and the topics the client names.
Read state of a broadcast is per user (`broadcast_reads`), and "mark all read" marks every
broadcast created up to that moment (`read_marks`).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from notify_common.clock import now_ms

from history.db import Database, placeholders
from history.records import Cursor, InboxItem, Page, encode_cursor

_COLUMNS = "id, type, category, title, body, data, priority, created_ms, expires_ms, room, read_ms"


class _Args:
    """Positional parameters collected while a statement is built (`$1`, `$2`, … in order)."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _list_sql(
    user_id: str,
    rooms: Sequence[str],
    limit: int,
    cursor: Cursor | None,
    unread_only: bool,
    type_: str | None,
    now_ms: int,
) -> tuple[str, list[object]]:
    arg = _Args()
    user, lim, now = arg(user_id), arg(limit), arg(now_ms)
    # Scheduled notifications are stored at publish time but shown from their deliver_at on.
    own = [f"i.user_id = {user}", f"i.created_ms <= {now}"]
    shared = [f"n.room IN ({', '.join(arg(room) for room in rooms)})", f"n.created_ms <= {now}"]
    if unread_only:
        own.append("i.read_ms IS NULL")
        shared.append("b.read_ms IS NULL AND (m.all_read_ms IS NULL OR n.created_ms > m.all_read_ms)")
    if type_ is not None:
        kind = arg(type_)
        own.append(f"i.type = {kind}")
        shared.append(f"n.type = {kind}")
    if cursor is not None:
        at, last_id = arg(cursor.created_ms), arg(cursor.id)
        own.append(f"(i.created_ms, i.notification_id) < ({at}, {last_id})")
        shared.append(f"(n.created_ms, n.id) < ({at}, {last_id})")
    sql = f"""
SELECT {_COLUMNS} FROM (
  SELECT * FROM (
    SELECT n.id, n.type, n.category, n.title, n.body, n.data, n.priority, i.created_ms,
           n.expires_ms, n.room, i.read_ms
    FROM inbox i JOIN notifications n ON n.id = i.notification_id
    WHERE {" AND ".join(own)}
    ORDER BY i.created_ms DESC, i.notification_id DESC LIMIT {lim}
  ) own_rows
  UNION ALL
  SELECT * FROM (
    SELECT n.id, n.type, n.category, n.title, n.body, n.data, n.priority, n.created_ms,
           n.expires_ms, n.room,
           COALESCE(b.read_ms, CASE WHEN n.created_ms <= m.all_read_ms THEN m.all_read_ms END) AS read_ms
    FROM notifications n
    LEFT JOIN broadcast_reads b ON b.user_id = {user} AND b.notification_id = n.id
    LEFT JOIN read_marks m ON m.user_id = {user}
    WHERE {" AND ".join(shared)}
    ORDER BY n.created_ms DESC, n.id DESC LIMIT {lim}
  ) room_rows
) page
ORDER BY created_ms DESC, id DESC LIMIT {lim}
"""
    return sql, arg.values


async def list_inbox(
    db: Database,
    user_id: str,
    rooms: Sequence[str],
    *,
    limit: int,
    cursor: Cursor | None = None,
    unread_only: bool = False,
    type_: str | None = None,
) -> Page:
    """Newest first; keyset pagination on (created_ms, id), so inserts never shift a page."""
    sql, args = _list_sql(user_id, rooms, limit, cursor, unread_only, type_, now_ms())
    rows = await db.fetch(sql, *args)
    items = [
        InboxItem(
            id=r[0],
            type=r[1],
            category=r[2],
            title=r[3],
            body=r[4],
            data=msgspec.Raw(r[5].encode()),
            priority=r[6],
            created_ms=int(r[7]),
            expires_ms=None if r[8] is None else int(r[8]),
            room=r[9],
            read_ms=None if r[10] is None else int(r[10]),
        )
        for r in rows
    ]
    next_cursor = None
    if len(items) == limit:
        last = items[-1]
        next_cursor = encode_cursor(Cursor(last.created_ms, last.id))
    return Page(items=items, next_cursor=next_cursor)


async def unread_count(db: Database, user_id: str, rooms: Sequence[str]) -> int:
    """Unread own notifications plus unread broadcasts of the user's rooms."""
    marks = placeholders(3, len(rooms))
    sql = f"""
SELECT (SELECT count(*) FROM inbox WHERE user_id = $1 AND read_ms IS NULL AND created_ms <= $2)
     + (SELECT count(*) FROM notifications n
        LEFT JOIN broadcast_reads b ON b.user_id = $1 AND b.notification_id = n.id
        WHERE n.room IN ({marks}) AND b.read_ms IS NULL AND n.created_ms <= $2
          AND n.created_ms > COALESCE((SELECT all_read_ms FROM read_marks WHERE user_id = $1), -1))
"""
    rows = await db.fetch(sql, user_id, now_ms(), *rooms)
    return int(rows[0][0])


_READ_TRAIL_SQL = (
    "INSERT INTO deliveries (notification_id, user_id, kind, channel, at_ms, node, error) "
    "VALUES ($1, $2, 'read', '', $3, '', '') ON CONFLICT DO NOTHING"
)


async def mark_read(
    db: Database, user_id: str, rooms: Sequence[str], notification_id: str, at_ms: int
) -> bool | None:
    """Mark one notification read: True if it was unread, False if already read, None if the
    user has no such notification (someone else's ids look the same as unknown ones)."""
    async with db.session() as s:
        changed = await s.execute(
            "UPDATE inbox SET read_ms = $3 WHERE user_id = $1 AND notification_id = $2 AND read_ms IS NULL",
            user_id,
            notification_id,
            at_ms,
        )
        if not changed:
            own = await s.fetch(
                "SELECT 1 FROM inbox WHERE user_id = $1 AND notification_id = $2", user_id, notification_id
            )
            if own:
                return False
            marks = placeholders(4, len(rooms))
            changed = await s.execute(
                "INSERT INTO broadcast_reads (user_id, notification_id, read_ms) "
                "SELECT CAST($1 AS TEXT), id, CAST($3 AS BIGINT) FROM notifications "
                f"WHERE id = $2 AND room IN ({marks}) "
                "ON CONFLICT DO NOTHING",
                user_id,
                notification_id,
                at_ms,
                *rooms,
            )
            if not changed:
                known = await s.fetch(
                    "SELECT 1 FROM broadcast_reads WHERE user_id = $1 AND notification_id = $2",
                    user_id,
                    notification_id,
                )
                return False if known else None
        await s.execute(_READ_TRAIL_SQL, notification_id, user_id, at_ms)
    return True


async def mark_all_read(db: Database, user_id: str, at_ms: int) -> list[str]:
    """Mark every own notification and every broadcast up to `at_ms` read; returns own ids changed."""
    async with db.session() as s:
        rows = await s.fetch(
            "UPDATE inbox SET read_ms = $2 WHERE user_id = $1 AND read_ms IS NULL AND created_ms <= $2 "
            "RETURNING notification_id",
            user_id,
            at_ms,
        )
        await s.execute(
            "INSERT INTO read_marks (user_id, all_read_ms) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO UPDATE SET all_read_ms = excluded.all_read_ms",
            user_id,
            at_ms,
        )
        ids = [str(r[0]) for r in rows]
        await s.insert_many("deliveries", [(nid, user_id, "read", "", at_ms, "", "") for nid in ids])
    return ids
