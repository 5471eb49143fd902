"""Durable scheduling: events with a future `deliver_at` wait in Redis until due.

The ingress handler puts the event on a delayed queue (`notify_common.delayed`) under its
ingress entry id before the entry is acked. Every replica polls and claims due events with a
lease, so one replica at a time holds an item; the claimer routes them and only then removes
them. A replica that dies after claiming leaves its items to reappear when the lease runs out;
the replay keeps its entry id, so idempotency lets it through and recipients can drop the
duplicate by notification id. Nothing is lost at any point.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as redis_async
import structlog
from notify_common.clock import now_ms
from notify_common.dead_letters import dead_letter_command
from notify_common.keys import GROUP_ROUTER, Keys
from notify_common.lifecycle import periodic
from notify_common.redis_line import Command
from notify_common.schemas import FIELD_EVENT, BadEntry, DeadLetter, Event, decode_event

from router import metrics
from router.config import RouterConfig
from router.routing import Router

log = structlog.get_logger("router.scheduler")


class Scheduler:
    """Releases due scheduled events into routing, one replica per item at a time."""

    def __init__(self, client: redis_async.Redis, keys: Keys, cfg: RouterConfig, router: Router) -> None:
        self.client = client
        self.keys = keys
        self.cfg = cfg
        self.router = router
        self.queue = router.scheduled

    async def release_due(self) -> int:
        """Route every due event (up to the batch size); returns how many were claimed."""
        now = now_ms()
        async with asyncio.timeout(self.cfg.routing_timeout_s):
            due = await self.queue.claim(now, self.cfg.schedule_batch, self.cfg.schedule_lease_ms)
        if not due:
            return 0
        claimed: list[str] = []
        ready: list[tuple[str, Event]] = []
        dead: dict[str, tuple[str, bytes | None]] = {}
        for entry_id, raw_event in due:
            claimed.append(entry_id)
            if raw_event is None:
                dead[entry_id] = ("scheduled event body is missing", None)
                continue
            try:
                ready.append((entry_id, decode_event({FIELD_EVENT: raw_event})))
            except BadEntry as exc:
                dead[entry_id] = (str(exc), raw_event)
        if ready:
            await self.router.route(ready)
        pipe = self.client.pipeline(transaction=False)
        for entry_id, (reason, raw_event) in dead.items():
            pipe.execute_command(*self._dead_letter(entry_id, reason, raw_event, now))
        self.queue.remove(pipe, claimed)
        async with asyncio.timeout(self.cfg.routing_timeout_s):
            await pipe.execute()
        metrics.SCHEDULED_RELEASED.inc(len(ready))
        return len(claimed)

    def _dead_letter(self, entry_id: str, reason: str, raw_event: bytes | None, now: int) -> Command:
        log.warning("dead_lettered", stream=self.keys.scheduled, entry_id=entry_id, reason=reason)
        meta = DeadLetter(
            # only an unreadable held event is dead-lettered here: it has no shard key, so its
            # replay goes to ingress shard 0 (and is dead-lettered again there, with its reason)
            source_stream=self.keys.ingress,
            source_id=entry_id,
            group=GROUP_ROUTER,
            consumer=self.cfg.node_id,
            reason=reason,
            deliveries=1,
            at_ms=now,
        )
        original = {} if raw_event is None else {FIELD_EVENT: raw_event}
        return dead_letter_command(self.keys.dead_letters, meta, original)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop`; a full batch is followed at once by the next, errors back off."""

        async def release() -> float | None:
            return 0 if await self.release_due() >= self.cfg.schedule_batch else None

        await periodic("scheduler", release, self.cfg.schedule_poll_ms / 1000, stop)
