"""The one stream-consumer loop used by every consumer in the fleet.

Guarantees (at-least-once):
- an entry is XACKed only after the handler returned, i.e. after its effect is durable;
- entries a consumer read but never acked (it crashed, was SIGKILLed, or its handler raised)
  stay in the group's pending list: the same consumer re-reads them on start, and any consumer
  claims them with XAUTOCLAIM once they have been idle for `claim_idle_ms`;
- an entry delivered more than `max_deliveries` times, or rejected by the handler, goes to the
  dead-letter stream with its reason and is then acked, so a poison entry cannot wedge a group;
- a group lost with its stream (Redis restarted without persistence) is re-created (NOGROUP).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as redis_async
import structlog
from prometheus_client import Counter, Gauge, Histogram
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from notify_common import metrics
from notify_common.backoff import backoff_delay
from notify_common.clock import now_ms
from notify_common.config import CommonConfig
from notify_common.dead_letters import dead_letter_command
from notify_common.keys import Keys
from notify_common.lifecycle import sleep_unless_stopped
from notify_common.redis_conn import closed_under_us
from notify_common.redis_line import Command, RedisLine
from notify_common.schemas import BadEntry, DeadLetter
from notify_common.stream_ids import id_text

log = structlog.get_logger("notify_common.consumer")
T = TypeVar("T")

REDIS_DOWN_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry as handed to a handler; `deliveries` counts this delivery too."""

    id: str
    fields: dict[bytes, bytes]
    deliveries: int = 1


@dataclass(slots=True)
class Outcome:
    """What a handler decided per entry; entries it does not mention are acked."""

    dead: dict[str, str] = field(default_factory=dict)
    """Entry id -> reason: never processable, dead-letter now."""
    retry: dict[str, str] = field(default_factory=dict)
    """Entry id -> error: leave pending, retried after `claim_idle_ms`, up to `max_deliveries`."""
    effects: list[Command] | None = None
    """The batch's Redis writes, not yet sent: the consumer adds its dead letters and XACK and
    sends all in one MULTI/EXEC, so the effects and the ack cost one round trip and land together
    or not at all (a write that Redis refuses, e.g. at maxmemory, aborts the ack as well and the
    batch stays pending)."""


Handler = Callable[[Sequence[Entry]], Awaitable[Outcome | None]]


def decode_batch(
    entries: Sequence[Entry], decode: Callable[[dict[bytes, bytes]], T], outcome: Outcome
) -> list[tuple[Entry, T]]:
    """Each entry with its decoded fields; one that does not decode (BadEntry) is dead-lettered
    in `outcome` with the reason, never retried: it will not decode the next time either."""
    decoded: list[tuple[Entry, T]] = []
    for entry in entries:
        try:
            decoded.append((entry, decode(entry.fields)))
        except BadEntry as exc:
            outcome.dead[entry.id] = str(exc)
    return decoded


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    """How one consumer reads a stream (defaults come from CommonConfig)."""

    stream: str
    group: str
    consumer: str
    dead_letter_stream: str
    batch: int = 200
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    max_deliveries: int = 5
    start_id: str = "0"
    """Where a new group starts. "0" = everything still in the stream, so nothing is missed."""
    linger_ms: int = 0
    """After a read that returned less than a batch, wait this long and read once more, so a
    consumer off the latency path (history) pays its per-batch cost once per window, not per
    entry. 0 = hand every read to the handler at once."""

    @classmethod
    def from_config(
        cls, cfg: CommonConfig, stream: str, group: str, start_id: str = "0", linger_ms: int = 0
    ) -> ConsumerSettings:
        """A service's consumer of `stream` in `group`, named after its node, tuned by its config."""
        return cls(
            stream=stream,
            group=group,
            consumer=cfg.node_id,
            dead_letter_stream=Keys(cfg.key_prefix).dead_letters,
            batch=cfg.consumer_batch,
            block_ms=cfg.consumer_block_ms,
            claim_idle_ms=cfg.claim_idle_ms,
            max_deliveries=cfg.max_deliveries,
            start_id=start_id,
            linger_ms=linger_ms,
        )


async def ensure_group(client: redis_async.Redis, stream: str, group: str, start_id: str = "0") -> None:
    """Create the consumer group (and the stream) unless it exists."""
    try:
        await client.xgroup_create(stream, group, id=start_id, mkstream=True)
        log.info("consumer_group_created", stream=stream, group=group)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _is_nogroup(exc: ResponseError) -> bool:
    return str(exc).startswith("NOGROUP")


def _entries(reply: list[Any] | dict[bytes, Any]) -> list[Entry]:
    """Entries from a raw XREADGROUP reply of one stream: {stream: [[id, [f, v, …]], …]} (RESP3)
    or [[stream, [[id, [f, v, …]], …]]] (RESP2)."""
    raw = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
    entries: list[Entry] = []
    for entry_id, flat in raw:
        flat = flat or []
        entries.append(Entry(entry_id.decode(), dict(zip(flat[::2], flat[1::2], strict=True))))
    return entries


class StreamConsumer:
    """Reads one stream through one consumer group and hands batches to a handler."""

    def __init__(self, client: redis_async.Redis, settings: ConsumerSettings, handler: Handler) -> None:
        self.client = client
        self.settings = settings
        self.handler = handler
        # the hot path (new entries, acks, effects) on a line of its own; the rest on the client
        self.line = RedisLine(client, settings.block_ms / 1000 + 5)
        # The last batch's acks (and effects), sent in the same write as the next XREADGROUP:
        # Redis applies them before it blocks for new entries, and the loop saves a round trip.
        self._unsent: list[Command] = []
        self.last_ok = 0.0
        self._last_errors: dict[str, str] = {}
        self._next_claim = 0.0
        self._failures = 0
        self._pending_cursor = "0"
        self._handler_raised = False
        self._labels = {"stream": settings.stream, "group": settings.group}

    # Labelled metric children used on every batch, looked up once (on first use, as before).
    @functools.cached_property
    def _up_gauge(self) -> Gauge:
        return metrics.CONSUMER_UP.labels(**self._labels)

    @functools.cached_property
    def _batch_seconds(self) -> Histogram:
        return metrics.STREAM_BATCH_SECONDS.labels(group=self.settings.group)

    @functools.cached_property
    def _acked_counter(self) -> Counter:
        return metrics.STREAM_ENTRIES.labels(outcome="acked", **self._labels)

    def healthy(self, within_s: float = 10.0) -> bool:
        """True if the loop talked to Redis successfully in the last `within_s` seconds."""
        return time.monotonic() - self.last_ok < within_s

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished and acked before returning."""
        s = self.settings
        log.info("consumer_started", stream=s.stream, group=s.group, consumer=s.consumer)
        own_pending_done = False
        while not stop.is_set():
            try:
                if not own_pending_done:
                    await ensure_group(self.client, s.stream, s.group, s.start_id)
                    own_pending_done = await self._drain_own_pending()
                    continue
                if time.monotonic() >= self._next_claim:
                    await self._send_unsent()
                    await self._claim_idle()
                    self._next_claim = time.monotonic() + max(0.2, s.claim_idle_ms / 2000)
                await self._read_new()
                self._failures = 0
            except ResponseError as exc:
                if _is_nogroup(exc):
                    log.warning("consumer_group_missing", stream=s.stream, group=s.group)
                    await ensure_group(self.client, s.stream, s.group, "0")
                    continue
                await self._pause_after_error("redis_error", exc, stop)
            except (*REDIS_DOWN_ERRORS, AttributeError, TypeError) as exc:
                if not isinstance(exc, REDIS_DOWN_ERRORS) and not closed_under_us(exc):
                    raise  # our own bug, not Redis: let it be seen
                metrics.REDIS_ERRORS.labels(loop=f"consumer:{s.group}").inc()
                if not self._handler_raised:
                    # Redis itself failed us: it may have restarted and lost the last second of
                    # writes (AOF everysec), our acks and the handler's effects but not the read,
                    # or the handler's batch failed on a dead connection. Re-read our own pending
                    # entries first, so they are redone now and in order, not after claim_idle_ms.
                    # Not when the handler's own dependency failed (a database down): re-reading
                    # would use up the entries' deliveries in seconds.
                    own_pending_done = False
                    self._pending_cursor = "0"
                self._handler_raised = False
                await self._pause_after_error("redis_unreachable", exc, stop)
        try:
            await self._send_unsent()
        except (*REDIS_DOWN_ERRORS, ResponseError) as exc:  # left pending: redone after a restart
            log.warning("final_ack_failed", stream=s.stream, group=s.group, error=repr(exc))
        metrics.CONSUMER_UP.labels(**self._labels).set(0)
        await self.line.aclose()
        log.info("consumer_stopped", stream=s.stream, group=s.group, consumer=s.consumer)

    async def _pause_after_error(self, event: str, exc: BaseException, stop: asyncio.Event) -> None:
        metrics.CONSUMER_UP.labels(**self._labels).set(0)
        self._failures += 1
        delay = backoff_delay(self._failures, base=0.1, cap=5.0)
        log.warning(
            event,
            stream=self.settings.stream,
            group=self.settings.group,
            error=repr(exc),
            retry_in_s=round(delay, 3),
        )
        await sleep_unless_stopped(stop, delay)

    def _mark_ok(self) -> None:
        self.last_ok = time.monotonic()
        self._up_gauge.set(1)

    async def _drain_own_pending(self) -> bool:
        """Re-read entries this consumer name read before a restart but never acked.

        Walks its pending list once with a cursor, so entries left pending again are not re-read
        in a hot loop; they wait for the idle claim like any other retry.
        """
        s = self.settings
        reply = await self.client.xreadgroup(
            s.group, s.consumer, {s.stream: self._pending_cursor}, count=s.batch
        )
        self._mark_ok()
        raw_entries = reply[0][1] if reply else []
        if not raw_entries:
            self._pending_cursor = "0"
            return True
        self._pending_cursor = id_text(raw_entries[-1][0])
        entries = await self._with_delivery_counts(raw_entries)
        await self._process(entries)
        return False

    async def _read_new(self) -> None:
        s = self.settings
        read = ("XREADGROUP", "GROUP", s.group, s.consumer, "COUNT", s.batch)
        reply = (await self._send_unsent((*read, "BLOCK", s.block_ms, "STREAMS", s.stream, ">")))[-1]
        self._mark_ok()
        if not reply:
            return
        entries = _entries(reply)
        if s.linger_ms and len(entries) < s.batch:
            await asyncio.sleep(s.linger_ms / 1000)
            more = await self.line.call(*read[:-1], s.batch - len(entries), "STREAMS", s.stream, ">")
            if more:
                entries += _entries(more)
        await self._process(entries, defer_ack=True)

    async def _send_unsent(self, *then: Command) -> list[Any]:
        """Send the last batch's acks, then `then`, in one write; returns every reply."""
        unsent, self._unsent = self._unsent, []
        if not unsent and not then:
            return []
        replies = await self.line.pipeline([*unsent, *then])
        if unsent and unsent[-1] == ("EXEC",):
            failed = [r for r in replies[len(unsent) - 1] if isinstance(r, ResponseError)]
            if failed:  # applied with the rest (WRONGTYPE and the like): a bug or a corrupted key
                s = self.settings
                log.error(
                    "batch_write_failed", stream=s.stream, group=s.group, errors=[str(e) for e in failed]
                )
        return replies

    async def _claim_idle(self) -> None:
        """Take over entries idle for claim_idle_ms (their consumer died or its handler failed)."""
        s = self.settings
        cursor = "0-0"
        for _ in range(10):  # bounded work per pass; the next pass continues
            reply = await self.client.xautoclaim(
                s.stream,
                s.group,
                s.consumer,
                min_idle_time=s.claim_idle_ms,
                start_id=cursor,
                count=s.batch,
            )
            self._mark_ok()
            cursor = id_text(reply[0])
            raw_entries = [(i, f) for i, f in reply[1] if f is not None]
            if raw_entries:
                metrics.STREAM_CLAIMED.labels(**self._labels).inc(len(raw_entries))
                entries = await self._with_delivery_counts(raw_entries)
                await self._process(entries)
            if cursor == "0-0":
                return

    async def _with_delivery_counts(self, raw_entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[Entry]:
        s = self.settings
        ids = [id_text(i) for i, _ in raw_entries]
        pending = await self.client.xpending_range(
            s.stream,
            s.group,
            min=ids[0],
            max=ids[-1],
            count=len(ids) * 2 + 10,
            consumername=s.consumer,
        )
        counts = {id_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        return [
            Entry(entry_id, fields or {}, counts.get(entry_id, 1))
            for entry_id, (_, fields) in zip(ids, raw_entries, strict=True)
        ]

    async def _uncount(self, entries: Sequence[Entry]) -> None:
        """Take back the delivery of entries whose handler's dependency (a database) was down.

        Not the entries' fault: without this every claim round of an outage counts one more
        delivery, and an outage longer than max_deliveries rounds dead-letters healthy entries.
        XCLAIM … RETRYCOUNT JUSTID sets the count back without counting the claim itself.
        """
        s = self.settings
        by_count: dict[int, list[str]] = {}
        for entry in entries:
            by_count.setdefault(max(0, entry.deliveries - 1), []).append(entry.id)
        try:
            for count, ids in by_count.items():
                await self.client.xclaim(s.stream, s.group, s.consumer, 0, ids, retrycount=count, justid=True)
        except REDIS_DOWN_ERRORS:
            pass  # Redis is down as well: the loop backs off on the handler's error anyway

    async def _process(self, entries: list[Entry], *, defer_ack: bool = False) -> None:
        """Hand `entries` to the handler, then ack them with its effects and dead letters; with
        `defer_ack`, the acks go out with the next read (see `_send_unsent`)."""
        s = self.settings
        dead: dict[str, str] = {}
        live: list[Entry] = []
        for entry in entries:
            if entry.deliveries > s.max_deliveries:
                last = self._last_errors.get(entry.id, "the consumer crashed or stalled while handling it")
                dead[entry.id] = f"gave up after {entry.deliveries - 1} deliveries: {last}"
            else:
                live.append(entry)
        retry: dict[str, str] = {}
        effects: list[Command] | None = None
        if live:
            started = time.perf_counter()
            try:
                outcome = await self.handler(live) or Outcome()
            except REDIS_DOWN_ERRORS as exc:
                # Redis failing under the handler (a stale pooled connection after a restart)
                # counts like the loop's own Redis error; another dependency's network error
                # (a database down) does not: see run().
                self._handler_raised = not isinstance(exc, RedisError)
                if self._handler_raised:
                    await self._uncount(live)
                raise  # nothing acked; the loop backs off and the entries stay pending
            except Exception as exc:  # the handler's bug or dependency failure: keep going
                log.exception("handler_failed", stream=s.stream, group=s.group, entries=len(live))
                outcome = Outcome(retry={e.id: f"{type(exc).__name__}: {exc}" for e in live})
            self._batch_seconds.observe(time.perf_counter() - started)
            dead.update(outcome.dead)
            retry = outcome.retry
            effects = outcome.effects
        ack_ids = [e.id for e in entries if e.id not in retry]
        self._forget(ack_ids, retry)
        self._record(len(ack_ids) - len(dead), len(dead), len(retry))
        if not dead and not effects:
            if ack_ids:
                self._unsent.append(("XACK", s.stream, s.group, *ack_ids))
        else:
            self._unsent += [("MULTI",), *self._writes(entries, dead, effects, ack_ids), ("EXEC",)]
        if not defer_ack:
            await self._send_unsent()

    def _writes(
        self, entries: list[Entry], dead: dict[str, str], effects: list[Command] | None, ack_ids: list[str]
    ) -> list[Command]:
        s = self.settings
        by_id = {e.id: e for e in entries}
        writes: list[Command] = list(effects or ())
        at_ms = now_ms()
        for entry_id, reason in dead.items():
            entry = by_id[entry_id]
            meta = DeadLetter(
                source_stream=s.stream,
                source_id=entry_id,
                group=s.group,
                consumer=s.consumer,
                reason=reason,
                deliveries=entry.deliveries,
                at_ms=at_ms,
            )
            writes.append(dead_letter_command(s.dead_letter_stream, meta, entry.fields))
            log.warning("dead_lettered", stream=s.stream, group=s.group, entry_id=entry_id, reason=reason)
        if ack_ids:
            writes.append(("XACK", s.stream, s.group, *ack_ids))
        return writes

    def _forget(self, ack_ids: list[str], retry: dict[str, str]) -> None:
        for entry_id in ack_ids:
            self._last_errors.pop(entry_id, None)
        for entry_id, error in retry.items():
            self._last_errors[entry_id] = error

    def _record(self, acked: int, dead: int, retried: int) -> None:
        counter = metrics.STREAM_ENTRIES
        if acked:
            self._acked_counter.inc(acked)
        if dead:
            counter.labels(outcome="dead_lettered", **self._labels).inc(dead)
            metrics.DEAD_LETTERS.labels(**self._labels).inc(dead)
        if retried:
            counter.labels(outcome="retried", **self._labels).inc(retried)
