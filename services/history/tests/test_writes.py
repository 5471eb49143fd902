"""Batched writes are idempotent: replaying the same stream entries changes nothing."""

from __future__ import annotations

from history.db import Database
from history.ingest import rows_of
from history.records import DeliveryRow
from history.writes import write_events, write_receipts
from notify_common.publish import build_event


async def table_snapshot(db: Database) -> dict[str, list[tuple[object, ...]]]:
    tables = {
        "notifications": "id",
        "inbox": "user_id, notification_id",
        "deliveries": "notification_id, user_id, kind, channel, at_ms",
        "broadcast_reads": "user_id, notification_id",
    }
    return {
        t: [tuple(r) for r in await db.fetch(f"SELECT * FROM {t} ORDER BY {k}")] for t, k in tables.items()
    }


def batch_of_events(count: int, users_per_event: int) -> tuple[list, list]:  # type: ignore[type-arg]
    notifications, recipients = [], []
    for i in range(count):
        ids = [f"u{(i + k) % 50}" for k in range(users_per_event)]
        event = build_event(id=f"n-{i}", type="order.shipped", audience={"kind": "users", "ids": ids})
        row, inbox = rows_of(event, f"{1_700_000_000_000 + i}-0")
        notifications.append(row)
        recipients.extend(inbox)
    return notifications, recipients


async def test_replayed_event_batch_changes_nothing(db: Database) -> None:
    notifications, recipients = batch_of_events(300, 5)
    await write_events(db, notifications, recipients)
    first = await table_snapshot(db)
    await write_events(db, notifications, recipients)
    await write_events(db, notifications[100:200], recipients[500:1000])
    assert await table_snapshot(db) == first
    assert len(first["notifications"]) == 300
    assert len(first["inbox"]) == 1500


async def test_replayed_receipts_change_nothing_and_retries_keep_their_own_rows(db: Database) -> None:
    notifications, recipients = batch_of_events(1, 1)
    await write_events(db, notifications, recipients)
    receipts: list[DeliveryRow] = [
        ("n-0", "u0", "push_failed", "push", 1_700_000_000_100, "pw-1", "UNAVAILABLE"),
        ("n-0", "u0", "pushed", "push", 1_700_000_000_900, "pw-1", ""),
        ("n-0", "u0", "read", "", 1_700_000_001_000, "gateway-1", ""),
    ]
    await write_receipts(db, receipts)
    first = await table_snapshot(db)
    await write_receipts(db, receipts)
    assert await table_snapshot(db) == first
    assert [r[2] for r in first["deliveries"]] == ["push_failed", "pushed", "read"]
    assert await db.fetch("SELECT read_ms FROM inbox") == [(1_700_000_001_000,)] or [
        tuple(r) for r in await db.fetch("SELECT read_ms FROM inbox")
    ] == [(1_700_000_001_000,)]


async def test_earliest_read_of_a_batch_wins_and_a_later_batch_never_moves_it(db: Database) -> None:
    notifications, recipients = batch_of_events(1, 1)
    await write_events(db, notifications, recipients)
    await write_receipts(
        db,
        [
            ("n-0", "u0", "read", "", 1_700_000_002_000, "gateway-2", ""),
            ("n-0", "u0", "read", "", 1_700_000_001_000, "gateway-1", ""),
        ],
    )
    await write_receipts(db, [("n-0", "u0", "read", "", 1_700_000_000_500, "gateway-1", "")])
    assert [tuple(r) for r in await db.fetch("SELECT read_ms FROM inbox")] == [(1_700_000_001_000,)]
    assert len(await db.fetch("SELECT * FROM deliveries")) == 3
