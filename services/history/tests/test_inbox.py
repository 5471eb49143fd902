"""The inbox: own notifications and room broadcasts, newest first, keyset pages, read state."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from typing import Any

from history.db import Database
from history.inbox import list_inbox, mark_all_read, mark_read, unread_count
from history.ingest import rows_of
from history.records import Cursor, decode_cursor
from history.writes import write_events
from notify_common.publish import build_event
from notify_common.rooms import member_rooms

T0 = 1_700_000_000_000
_seq = itertools.count()


async def store(
    db: Database, notification_id: str, audience: dict[str, Any], at_ms: int, **extra: Any
) -> None:
    event = build_event(id=notification_id, type=extra.pop("type", "note"), audience=audience, **extra)
    row, recipients = rows_of(event, f"{at_ms}-{next(_seq)}")
    await write_events(db, [row], recipients)


async def all_pages(db: Database, user: str, rooms: list[str], limit: int, **filters: Any) -> list[str]:
    seen: list[str] = []
    cursor: Cursor | None = None
    while True:
        page = await list_inbox(db, user, rooms, limit=limit, cursor=cursor, **filters)
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            return seen
        cursor = decode_cursor(page.next_cursor)


async def test_list_is_newest_first_and_holds_only_the_users_own_and_their_rooms(db: Database) -> None:
    await store(db, "mine-old", {"kind": "users", "ids": ["alice"]}, T0)
    await store(db, "theirs", {"kind": "users", "ids": ["bob"]}, T0 + 1)
    await store(db, "drivers", {"kind": "role", "role": "driver"}, T0 + 2)
    await store(db, "admins", {"kind": "role", "role": "admin"}, T0 + 3)
    await store(db, "everyone", {"kind": "all"}, T0 + 4)
    await store(db, "mine-new", {"kind": "users", "ids": ["alice", "bob"]}, T0 + 5)
    ids = await all_pages(db, "alice", member_rooms(["driver"]), limit=10)
    assert ids == ["mine-new", "everyone", "drivers", "mine-old"]


async def test_pages_neither_skip_nor_repeat_while_new_notifications_arrive(db: Database) -> None:
    for i in range(40):  # same millisecond for some, so the id breaks ties
        await store(db, f"old-{i:02d}", {"kind": "users", "ids": ["alice"]}, T0 + i // 3)
    await store(db, "old-broadcast", {"kind": "all"}, T0 + 5)
    expected = {f"old-{i:02d}" for i in range(40)} | {"old-broadcast"}
    stop = asyncio.Event()

    async def keep_inserting() -> None:
        for i in itertools.count():
            if stop.is_set():
                return
            await store(db, f"new-{i}", {"kind": "users", "ids": ["alice"]}, T0 + 10_000 + i)
            await store(db, f"new-b-{i}", {"kind": "all"}, T0 + 10_000 + i)
            await asyncio.sleep(0)

    inserter = asyncio.create_task(keep_inserting())
    try:
        await asyncio.sleep(0.05)  # let the first inserts land before the first page
        first = await list_inbox(db, "alice", member_rooms([]), limit=4)
        seen = [item.id for item in first.items]
        cursor = first.next_cursor
        while cursor is not None:
            page = await list_inbox(db, "alice", member_rooms([]), limit=4, cursor=decode_cursor(cursor))
            seen += [item.id for item in page.items]
            cursor = page.next_cursor
    finally:
        stop.set()
        await inserter
    assert len(seen) == len(set(seen))
    assert expected <= set(seen)


async def test_unread_filter_and_count_cover_own_and_broadcast(db: Database) -> None:
    await store(db, "a", {"kind": "users", "ids": ["alice"]}, T0)
    await store(db, "b", {"kind": "users", "ids": ["alice"]}, T0 + 1)
    await store(db, "c", {"kind": "role", "role": "driver"}, T0 + 2)
    rooms = member_rooms(["driver"])
    assert await unread_count(db, "alice", rooms) == 3
    assert await mark_read(db, "alice", rooms, "a", T0 + 10) is True
    assert await mark_read(db, "alice", rooms, "c", T0 + 11) is True
    assert await mark_read(db, "alice", rooms, "c", T0 + 12) is False
    assert await unread_count(db, "alice", rooms) == 1
    assert await all_pages(db, "alice", rooms, limit=5, unread_only=True) == ["b"]


async def test_broadcast_read_state_is_per_user(db: Database) -> None:
    await store(db, "c", {"kind": "role", "role": "driver"}, T0)
    rooms = member_rooms(["driver"])
    await mark_read(db, "alice", rooms, "c", T0 + 1)
    assert await unread_count(db, "alice", rooms) == 0
    assert await unread_count(db, "bob", rooms) == 1


async def test_mark_read_of_a_notification_outside_the_inbox_is_not_found(db: Database) -> None:
    await store(db, "bobs", {"kind": "users", "ids": ["bob"]}, T0)
    await store(db, "admins", {"kind": "role", "role": "admin"}, T0)
    assert await mark_read(db, "alice", member_rooms(["driver"]), "bobs", T0 + 1) is None
    assert await mark_read(db, "alice", member_rooms(["driver"]), "admins", T0 + 1) is None
    assert await unread_count(db, "bob", member_rooms([])) == 1


async def test_mark_all_read_covers_own_and_older_broadcasts_but_not_newer(db: Database) -> None:
    await store(db, "a", {"kind": "users", "ids": ["alice"]}, T0)
    await store(db, "c", {"kind": "all"}, T0 + 1)
    assert await mark_all_read(db, "alice", T0 + 5) == ["a"]
    await store(db, "later", {"kind": "all"}, T0 + 9)
    assert await all_pages(db, "alice", member_rooms([]), limit=5, unread_only=True) == ["later"]


async def test_type_filter(db: Database) -> None:
    await store(db, "a", {"kind": "users", "ids": ["alice"]}, T0, type="order.shipped")
    await store(db, "b", {"kind": "users", "ids": ["alice"]}, T0 + 1, type="chat.message")
    await store(db, "c", {"kind": "all"}, T0 + 2, type="order.shipped")
    assert await all_pages(db, "alice", member_rooms([]), limit=5, type_="order.shipped") == ["c", "a"]


async def test_scheduled_notification_is_hidden_until_its_delivery_time(db: Database) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    await store(db, "now", {"kind": "users", "ids": ["alice"]}, T0)
    await store(db, "later", {"kind": "users", "ids": ["alice"]}, T0 + 1, deliver_at=later.isoformat())
    assert await all_pages(db, "alice", member_rooms([]), limit=5) == ["now"]
    assert await unread_count(db, "alice", member_rooms([])) == 1
