"""The one schema of the history store, as numbered migrations valid on PostgreSQL and SQLite.

Types are the common subset (TEXT, BIGINT); `data` is JSON text on both. Each migration runs
once, in order, inside one transaction, and is recorded in `schema_migrations`.

Tables:
- notifications: one row per notification id, however many recipients. Broadcasts (role, all,
  topic audiences) carry their `room` (`role:<r>`, `all`, `topic:<t>`) and are never enumerated
  per user; user and geo audiences have `room` NULL and one `inbox` row per recipient.
- inbox: (user, notification) with the read time; the user's list and unread count.
- broadcast_reads: read state of one user for one broadcast.
- read_marks: a user's "mark all read" time, which marks every older broadcast read too.
- deliveries: the trail, one row per receipt (kind, channel, node, when, error).
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE notifications (
                id TEXT PRIMARY KEY,
                type TEXT NOT NULL,
                category TEXT,
                title TEXT NOT NULL,
                body TEXT NOT NULL,
                data TEXT NOT NULL,
                priority TEXT NOT NULL,
                audience TEXT NOT NULL,
                room TEXT,
                source TEXT,
                created_ms BIGINT NOT NULL,
                expires_ms BIGINT
            )""",
            # Broadcasts of a room, newest first (the inbox merges them with the user's own rows).
            "CREATE INDEX notifications_room ON notifications (room, created_ms DESC, id DESC)"
            " WHERE room IS NOT NULL",
            # Retention and stats scan by age.
            "CREATE INDEX notifications_created ON notifications (created_ms)",
            """CREATE TABLE inbox (
                user_id TEXT NOT NULL,
                notification_id TEXT NOT NULL,
                type TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                read_ms BIGINT,
                PRIMARY KEY (user_id, notification_id)
            )""",
            # The list query: one user's rows newest first, keyset on (created_ms, id).
            "CREATE INDEX inbox_list ON inbox (user_id, created_ms DESC, notification_id DESC)",
            # The unread count reads only unread rows.
            "CREATE INDEX inbox_unread ON inbox (user_id) WHERE read_ms IS NULL",
            # Recipients of one notification (trail) and deletes by notification (retention).
            "CREATE INDEX inbox_notification ON inbox (notification_id)",
            """CREATE TABLE broadcast_reads (
                user_id TEXT NOT NULL,
                notification_id TEXT NOT NULL,
                read_ms BIGINT NOT NULL,
                PRIMARY KEY (user_id, notification_id)
            )""",
            "CREATE INDEX broadcast_reads_notification ON broadcast_reads (notification_id)",
            """CREATE TABLE read_marks (
                user_id TEXT PRIMARY KEY,
                all_read_ms BIGINT NOT NULL
            )""",
            # A replayed receipt has the same key, so it changes nothing; retries keep their own rows.
            """CREATE TABLE deliveries (
                notification_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                channel TEXT NOT NULL,
                at_ms BIGINT NOT NULL,
                node TEXT NOT NULL,
                error TEXT NOT NULL,
                PRIMARY KEY (notification_id, user_id, kind, channel, at_ms)
            )""",
            # Retention also removes receipts of notifications never stored (transient ones).
            "CREATE INDEX deliveries_at ON deliveries (at_ms)",
        ],
    ),
    (
        2,
        [
            # The unread count reads (user, created_ms) of unread rows from the index alone.
            "DROP INDEX inbox_unread",
            "CREATE INDEX inbox_unread ON inbox (user_id, created_ms) WHERE read_ms IS NULL",
        ],
    ),
]

LATEST = MIGRATIONS[-1][0]

CREATE_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)"
)

# Column order and PostgreSQL types of the tables written in bulk (PostgreSQL binds one typed
# array per column: `INSERT … SELECT * FROM unnest($1::text[], …)`).
BULK_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "notifications": [
        ("id", "text"),
        ("type", "text"),
        ("category", "text"),
        ("title", "text"),
        ("body", "text"),
        ("data", "text"),
        ("priority", "text"),
        ("audience", "text"),
        ("room", "text"),
        ("source", "text"),
        ("created_ms", "bigint"),
        ("expires_ms", "bigint"),
    ],
    "inbox": [("user_id", "text"), ("notification_id", "text"), ("type", "text"), ("created_ms", "bigint")],
    "deliveries": [
        ("notification_id", "text"),
        ("user_id", "text"),
        ("kind", "text"),
        ("channel", "text"),
        ("at_ms", "bigint"),
        ("node", "text"),
        ("error", "text"),
    ],
}
