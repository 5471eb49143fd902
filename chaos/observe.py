"""What the checker reads after a run: history rows, dead letters, pushes, readiness over time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as redis_async
from devstack.fleet import Fleet
from notify_common.dead_letters import META_FIELD, original_fields
from notify_common.devices import register_device
from notify_common.keys import Keys
from notify_common.stream_ids import id_key

from chaos.checker import DeadLetterView
from chaos.workload import TOKEN_PREFIX, device_token

NOTIFICATIONS_SQL = "SELECT id FROM notifications"
INBOX_SQL = "SELECT user_id, notification_id FROM inbox"


@dataclass(frozen=True, slots=True)
class Stored:
    """What history holds: notification ids, and (user, id) inbox rows of addressed users."""

    ids: set[str]
    inbox: set[tuple[str, str]]


async def stored(fleet: Fleet, database_url: str) -> Stored:
    """Read history's tables directly (PostgreSQL when `database_url` is one, else the SQLite file)."""
    if database_url.startswith("postgresql://"):
        return await _stored_postgres(database_url)
    return await asyncio.to_thread(_stored_sqlite, fleet.workdir / "history.db")


async def _stored_postgres(url: str) -> Stored:
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return Stored(set(), set())  # down (a fault) or starting: ask again later
    try:
        ids = {r[0] for r in await conn.fetch(NOTIFICATIONS_SQL)}
        inbox = {(r[0], r[1]) for r in await conn.fetch(INBOX_SQL)}
        return Stored(ids, inbox)
    except asyncpg.UndefinedTableError:
        return Stored(set(), set())
    finally:
        await conn.close()


def _stored_sqlite(path: Path) -> Stored:
    if not path.exists():
        return Stored(set(), set())
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
            ids = {row[0] for row in conn.execute(NOTIFICATIONS_SQL)}
            inbox = {(row[0], row[1]) for row in conn.execute(INBOX_SQL)}
            return Stored(ids, inbox)
    except sqlite3.OperationalError:
        return Stored(set(), set())  # not created yet, or locked past the timeout: ask again later


async def wait_drained(redis_url: str, keys: Keys, timeout_s: float = 30.0) -> None:
    """Until every consumer group of every stream has read and acknowledged all its entries,
    and no push retry or scheduled event waits."""
    client = redis_async.Redis.from_url(redis_url, socket_timeout=2)
    deadline = time.monotonic() + timeout_s
    try:
        while not await _drained(client, keys):
            if time.monotonic() > deadline:
                raise TimeoutError(f"streams not drained in {timeout_s}s")
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()


async def dead_letters_at(redis_url: str, keys: Keys) -> list[DeadLetterView]:
    """`dead_letters` through a connection of its own."""
    client = redis_async.Redis.from_url(redis_url, socket_timeout=5)
    try:
        return await dead_letters(client, keys)
    finally:
        await client.aclose()


async def register_devices(redis_url: str, keys: Keys, users: Iterable[str]) -> None:
    """Register each user's push token, as the app does at start."""
    client = redis_async.Redis.from_url(redis_url, socket_timeout=2)
    try:
        for user in users:
            await register_device(client, keys, user, device_token(user), "android")
    finally:
        await client.aclose()


async def _drained(client: redis_async.Redis, keys: Keys) -> bool:
    if await client.zcard(keys.push_retry_schedule) or await client.zcard(keys.scheduled):
        return False
    async for stream in client.scan_iter(match=f"{keys.prefix}:*", _type="STREAM"):
        last = id_key((await client.xinfo_stream(stream))["last-generated-id"])
        for group in await client.xinfo_groups(stream):
            if group["pending"] or id_key(group["last-delivered-id"]) < last:
                return False
    return True


async def dead_letters(client: redis_async.Redis, keys: Keys) -> list[DeadLetterView]:
    """Every dead letter with the notification id and users it concerned, when it can be read."""
    views = []
    for _, fields in await client.xrange(keys.dead_letters):
        meta = json.loads(fields[META_FIELD])
        original = original_fields(fields)
        nid, users = _identify(original)
        views.append(DeadLetterView(str(meta["group"]), str(meta["reason"]), nid, users))
    return views


def _identify(original: dict[bytes, bytes]) -> tuple[str | None, tuple[str, ...]]:
    """The notification id (and users) an entry was about, from whichever field it carried."""
    for name in (b"event", b"job", b"delivery", b"receipt"):
        raw = original.get(name)
        if raw is None:
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            return None, ()
        if not isinstance(doc, dict):
            return None, ()
        if name == b"event":
            return _str(doc.get("id")), ()
        notification = doc.get("notification") or {}
        users = doc.get("user_ids") or ([doc["user_id"]] if "user_id" in doc else [])
        nid = doc.get("notification_id") or (
            notification.get("id") if isinstance(notification, dict) else None
        )
        return _str(nid), tuple(str(u) for u in users)
    return None, ()


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


async def fcm_messages(fleet: Fleet) -> list[dict[str, Any]]:
    """Every send the fleet's fake FCM received (its control API; tools/fcm-fake)."""
    return await _fcm_get(fleet, "/_fake/messages")  # type: ignore[no-any-return]


async def fcm_requests(fleet: Fleet) -> int:
    """How many sends the fake FCM has answered, whatever the answer."""
    stats = await _fcm_get(fleet, "/_fake/stats")
    return int(stats.get("requests", 0))


async def fcm_script(fleet: Fleet, behaviour: dict[str, Any]) -> None:
    """Make the fake FCM answer every send with `behaviour` (e.g. {"kind": "unavailable"})."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fleet.fcm_url()}/_fake/behaviours", json={"default": behaviour}) as resp,
    ):
        resp.raise_for_status()


async def _fcm_get(fleet: Fleet, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(fleet.fcm_url() + path) as resp:
        resp.raise_for_status()
        return await resp.json()


def pushed(messages: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """(user, notification id) pairs the fake FCM accepted (push-worker puts the id in `nf_id`)."""
    pairs = set()
    for item in messages:
        data = (item.get("message") or {}).get("data") or {}
        nid = data.get("nf_id") if isinstance(data, dict) else None
        target = str(item.get("target", ""))
        if item.get("outcome") == "ok" and target.startswith(TOKEN_PREFIX) and isinstance(nid, str):
            pairs.add((target.removeprefix(TOKEN_PREFIX), nid))
    return pairs


@dataclass
class Readiness:
    """Polls every service's /readyz; remembers who answered what, and when."""

    fleet: Fleet
    interval_s: float = 0.5
    not_ready: dict[str, list[float]] = field(default_factory=dict)
    """service -> monotonic times it answered 503 or did not answer."""

    async def statuses(self, http: aiohttp.ClientSession) -> dict[str, int]:
        async def one(name: str, port: int) -> tuple[str, int]:
            try:
                async with http.get(
                    f"http://127.0.0.1:{port}/readyz", timeout=aiohttp.ClientTimeout(total=2)
                ) as resp:
                    return name, resp.status
            except (aiohttp.ClientError, OSError, TimeoutError):
                return name, 0

        pairs = await asyncio.gather(*(one(n, p.ops_port) for n, p in self.fleet.processes.items()))
        return dict(pairs)

    async def run(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as http:
            while not stop.is_set():
                now = time.monotonic()
                for name, status in (await self.statuses(http)).items():
                    if status != 200:
                        self.not_ready.setdefault(name, []).append(now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval_s)

    def not_ready_between(self, start: float, end: float) -> set[str]:
        return {n for n, times in self.not_ready.items() if any(start <= t <= end for t in times)}

    async def all_ready(self) -> bool:
        async with aiohttp.ClientSession() as http:
            return all(s == 200 for s in (await self.statuses(http)).values())


def log_events(fleet: Fleet, event: str) -> dict[str, int]:
    """How many JSON log lines with this `event` each service wrote (its log file, all restarts)."""
    needle = f'"event": "{event}"'
    counts = {}
    for name, proc in fleet.processes.items():
        try:
            text = proc.log_path.read_text(errors="replace")
        except OSError:
            text = ""
        counts[name] = text.count(needle)
    return counts
