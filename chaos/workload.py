"""The seeded workload: who is online, who is offline, and what gets published to whom."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis.asyncio as redis_async
from notify_common.consumer import REDIS_DOWN_ERRORS
from notify_common.keys import Keys
from redis.exceptions import OutOfMemoryError

DRIVER = "driver"
CUSTOMER = "customer"


@dataclass(frozen=True, slots=True)
class Users:
    """Online users (each with one recording client) and offline users (push devices only)."""

    online: dict[str, tuple[str, ...]]
    """user id -> roles."""
    offline: tuple[str, ...]

    def holding(self, role: str) -> tuple[str, ...]:
        return tuple(u for u, roles in self.online.items() if role in roles)

    def everyone(self) -> tuple[str, ...]:
        return (*self.online, *self.offline)


def make_users(rng: random.Random, online: int, offline: int, driver_share: float = 0.5) -> Users:
    return Users(
        online={
            f"on-{i}": ((DRIVER,) if rng.random() < driver_share else (CUSTOMER,)) for i in range(online)
        },
        offline=tuple(f"off-{i}" for i in range(offline)),
    )


TOKEN_PREFIX = "chaos-token-"


def device_token(user_id: str) -> str:
    """The one push token the workload registers for a user (the fake FCM log maps it back)."""
    return f"{TOKEN_PREFIX}{user_id}"


@dataclass(frozen=True, slots=True)
class Published:
    """One event the publisher got an XADD acknowledgement for."""

    id: str
    kind: str
    """users | role | invalid"""
    recipients: tuple[str, ...]
    entry_id: str
    acked_at: float
    attempts: int


@dataclass
class Publisher:
    """Publishes a seeded mix of events at a steady rate, retrying each until Redis acknowledges it.

    A publish that times out may still have reached Redis, so a retry can append the same event
    twice: exactly what a real domain service does, and why events carry ids.
    """

    client: redis_async.Redis
    keys: Keys
    users: Users
    rng: random.Random
    scenario: str
    rate_per_s: float
    published: list[Published] = field(default_factory=list)
    retries: int = 0
    broadcast_share: float = 0.15
    """Of the events, role broadcasts; 5 % are invalid, 15 % to an offline user, 15 % to two
    online users and an offline one, the rest to one online user."""
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    """While set, no new event is published (a fault wants ingress quiet)."""
    _seq: int = 0

    @functools.cached_property
    def _drivers(self) -> tuple[str, ...]:
        return self.users.holding(DRIVER)

    def next_event(self) -> tuple[str, str, tuple[str, ...], bytes]:
        self._seq += 1
        eid = f"{self.scenario}-{self._seq}"
        roll = self.rng.random()
        online = sorted(self.users.online)
        offline = list(self.users.offline)
        body: dict[str, Any] = {"id": eid, "type": "chaos.test", "title": f"#{self._seq}"}
        recipients: tuple[str, ...]
        broadcast = self.broadcast_share
        if roll >= broadcast + 0.35 or not offline:
            kind, recipients = "users", (self.rng.choice(online),)
        elif roll >= broadcast + 0.2:
            kind, recipients = "users", (self.rng.choice(offline),)
        elif roll >= broadcast + 0.05:
            kind = "users"
            recipients = tuple(sorted({*self.rng.sample(online, 2), self.rng.choice(offline)}))
        elif roll < broadcast:
            kind, recipients = "role", self._drivers
            body["audience"] = {"kind": "role", "role": DRIVER}
        else:
            # A field the schema does not know: both groups must dead-letter it with a reason.
            kind, recipients = "invalid", ()
            body["audience"] = {"kind": "users", "ids": [self.rng.choice(online)]}
            body["surprise"] = True
        if "audience" not in body:
            body["audience"] = {"kind": "users", "ids": list(recipients)}
        return eid, kind, recipients, msgspec.json.encode(body)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish at `rate_per_s`; events due at the same wake-up go out in one pipeline (the
        load profile's 1,000/s would not fit one round trip each). Never more than a second of
        backlog is caught up in a burst."""
        started, sent = time.monotonic(), 0
        while not stop.is_set():
            if self.hold.is_set():
                while self.hold.is_set() and not stop.is_set():  # noqa: ASYNC110 (no wait-for-clear)
                    await asyncio.sleep(0.05)
                started, sent = time.monotonic(), 0
                continue
            due = int((time.monotonic() - started) * self.rate_per_s) + 1 - sent
            if due > self.rate_per_s:  # more than a second behind: skip ahead, don't burst
                started, sent, due = time.monotonic(), 0, 1
            if due > 0:
                batch = [self.next_event() for _ in range(due)]
                entry_ids, attempts = await self._xadd([raw for *_, raw in batch], stop)
                sent += len(batch)
                at = time.monotonic()
                for (eid, kind, recipients, _), entry_id in zip(batch, entry_ids, strict=False):
                    self.published.append(Published(eid, kind, recipients, entry_id, at, attempts))
            delay = started + sent / self.rate_per_s - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), max(delay, 0.005))
                except TimeoutError:
                    pass

    async def _xadd(self, raws: list[bytes], stop: asyncio.Event) -> tuple[list[str], int]:
        """XADD every event in one round trip, retried whole until Redis acknowledges; the entry
        ids, or none if stopped while Redis was still refusing."""
        attempts = 0
        while True:
            attempts += 1
            try:
                pipe = self.client.pipeline(transaction=False)
                for raw in raws:
                    pipe.xadd(self.keys.ingress, {b"event": raw})
                replies = await pipe.execute()
                return [r.decode() if isinstance(r, bytes) else str(r) for r in replies], attempts
            except (*REDIS_DOWN_ERRORS, OutOfMemoryError):  # down, or full: a publisher retries later
                self.retries += 1
                if stop.is_set() and attempts > 50:
                    return [], attempts
                await asyncio.sleep(min(1.0, 0.05 * 2 ** min(attempts, 5)) * self.rng.uniform(0.5, 1.0))
