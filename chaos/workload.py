"""The seeded workload: who is online, who is offline, and what gets published to whom."""

from __future__ import annotations

import asyncio
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


def make_users(rng: random.Random, online: int, offline: int) -> Users:
    return Users(
        online={f"on-{i}": ((DRIVER,) if rng.random() < 0.5 else (CUSTOMER,)) for i in range(online)},
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
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    """While set, no new event is published (a fault wants ingress quiet)."""
    _seq: int = 0

    def next_event(self) -> tuple[str, str, tuple[str, ...], bytes]:
        self._seq += 1
        eid = f"{self.scenario}-{self._seq}"
        roll = self.rng.random()
        online = sorted(self.users.online)
        offline = list(self.users.offline)
        body: dict[str, Any] = {"id": eid, "type": "chaos.test", "title": f"#{self._seq}"}
        recipients: tuple[str, ...]
        if roll < 0.5 or not offline:
            kind, recipients = "users", (self.rng.choice(online),)
        elif roll < 0.65:
            kind, recipients = "users", (self.rng.choice(offline),)
        elif roll < 0.8:
            kind = "users"
            recipients = tuple(sorted({*self.rng.sample(online, 2), self.rng.choice(offline)}))
        elif roll < 0.95:
            kind, recipients = "role", self.users.holding(DRIVER)
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
        interval = 1.0 / self.rate_per_s
        next_at = time.monotonic()
        while not stop.is_set():
            while self.hold.is_set() and not stop.is_set():
                await asyncio.sleep(0.05)
                next_at = time.monotonic()
            eid, kind, recipients, raw = self.next_event()
            entry_id, attempts = await self._xadd(raw, stop)
            if entry_id is not None:
                self.published.append(Published(eid, kind, recipients, entry_id, time.monotonic(), attempts))
            next_at = max(next_at + interval, time.monotonic() - 1.0)
            delay = next_at - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass

    async def _xadd(self, raw: bytes, stop: asyncio.Event) -> tuple[str | None, int]:
        attempts = 0
        while True:
            attempts += 1
            try:
                reply = await self.client.xadd(self.keys.ingress, {b"event": raw})
                return (reply.decode() if isinstance(reply, bytes) else str(reply)), attempts
            except (*REDIS_DOWN_ERRORS, OutOfMemoryError):  # down, or full: a publisher retries later
                self.retries += 1
                if stop.is_set() and attempts > 50:
                    return None, attempts
                await asyncio.sleep(min(1.0, 0.05 * 2 ** min(attempts, 5)) * self.rng.uniform(0.5, 1.0))
