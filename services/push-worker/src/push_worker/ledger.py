"""Record push outcomes durably: one MULTI per FCM batch, before anything is acknowledged.

A MULTI so that a worker killed while writing leaves all or nothing: sent markers, receipts,
token removals, dead letters and schedule changes of one batch land together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as redis_async
import structlog
from notify_common.clock import now_ms
from notify_common.dead_letters import dead_letter_command
from notify_common.delayed import DelayedQueue
from notify_common.devices import queue_token_removal
from notify_common.keys import GROUP_PUSH, Keys
from notify_common.receipts import receipt_command
from notify_common.redis_conn import is_cluster
from notify_common.redis_line import Command
from notify_common.schemas import FIELD_JOB, DeadLetter, PushJob, Receipt, encode

from push_worker import metrics
from push_worker.schedule import queue_complete, queue_schedule
from push_worker.sends import Send

log = structlog.get_logger("push_worker.ledger")
FIELD_TOKEN = b"token"
FIELD_PLATFORM = b"platform"
_MAX_ERROR_CHARS = 1000
USER_FIELD = "u:"  # sent-marker field: this user got the notification on some device


@dataclass
class Ledger:
    """Outcomes of one batch of sends, written by `commit` in one transaction."""

    keys: Keys
    retries: DelayedQueue
    consumer: str
    dedup_ttl_s: int
    from_schedule: bool = False
    pushed: list[Send] = field(default_factory=list)
    token_dead: list[tuple[Send, str]] = field(default_factory=list)
    dead: list[tuple[Send, str]] = field(default_factory=list)
    scheduled: list[tuple[Send, int, bool]] = field(default_factory=list)
    expired: list[Send] = field(default_factory=list)
    duplicates: list[Send] = field(default_factory=list)
    no_device: list[tuple[Send, str]] = field(default_factory=list)
    reported: set[tuple[str, str]] = field(default_factory=set)
    """(notification, user) pairs already reported as pushed: no second receipt for them.
    Shared by the ledgers of one push call, and read from the sent markers on a redelivery."""

    def schedule(self, send: Send, due_ms: int, *, deferred: bool = False) -> None:
        self.scheduled.append((send, due_ms, deferred))

    def __bool__(self) -> bool:
        return any(
            (
                self.pushed,
                self.token_dead,
                self.dead,
                self.scheduled,
                self.expired,
                self.duplicates,
                self.no_device,
            )
        )

    async def commit(self, client: redis_async.Redis) -> None:
        if not self:
            return
        keys = self.keys
        # On a Redis Cluster these keys span slots and no MULTI can hold them: the outcomes go
        # first and the sent markers and completions after, so a worker killed in between sends
        # again (at-least-once) rather than leaving a push marked sent without its receipt.
        cluster = is_cluster(client)
        pipe = client.pipeline(transaction=not cluster)
        markers = client.pipeline(transaction=False) if cluster else pipe
        at = now_ms()
        pushed_by_notification: dict[str, list[str]] = {}
        for send in self.pushed:
            fields = pushed_by_notification.setdefault(send.notification.id, [])
            fields += [send.target_digest, USER_FIELD + send.user_id]
        for notification_id, digests in pushed_by_notification.items():
            marker = keys.push_sent(notification_id)
            markers.hset(marker, mapping=dict.fromkeys(digests, 1))
            markers.expire(marker, self.dedup_ttl_s)
        queue_token_removal(pipe, keys, [(s.user_id, s.token) for s, _ in self.token_dead])
        for send, reason in self.dead:
            pipe.execute_command(*self._dead_letter(send, reason, at))
        for send, due_ms, _ in self.scheduled:
            queue_schedule(pipe, self.retries, send, due_ms)
        if self.from_schedule:
            finished = [*self.pushed, *self.expired, *self.duplicates]
            finished += [s for s, _ in self.token_dead] + [s for s, _ in self.dead]
            for send in finished:
                queue_complete(markers, self.retries, send)
        for receipt in self._receipts(at):
            pipe.execute_command(*receipt_command(keys, receipt))
        # Before the await: batches of the same push call commit concurrently.
        self.reported.update((s.notification.id, s.user_id) for s in self.pushed)
        await pipe.execute()
        if markers is not pipe:
            await markers.execute()
        self._count()

    def _receipts(self, at: int) -> list[Receipt]:
        """One receipt per (notification, user): pushed if any device took it, else why not."""
        done = self.reported
        pushed = {(s.notification.id, s.user_id) for s in self.pushed}
        errors: dict[tuple[str, str], list[str]] = {}
        failures = [*self.token_dead, *self.dead, *self.no_device]
        for send, error in failures:
            key = (send.notification.id, send.user_id)
            if key not in pushed and key not in done:
                errors.setdefault(key, []).append(f"{send.label}: {error}" if send.token else error)
        receipts = [
            Receipt(notification_id=n, user_id=u, kind="pushed", channel="push", at_ms=at)
            for n, u in pushed - done
        ]
        for (n, u), texts in errors.items():
            error = "; ".join(dict.fromkeys(texts))[:_MAX_ERROR_CHARS]
            receipts.append(
                Receipt(
                    notification_id=n, user_id=u, kind="push_failed", channel="push", at_ms=at, error=error
                )
            )
        expired = {(s.notification.id, s.user_id) for s in self.expired} - pushed - done - set(errors)
        receipts += [
            Receipt(notification_id=n, user_id=u, kind="expired", channel="push", at_ms=at)
            for n, u in expired
        ]
        return receipts

    def _dead_letter(self, send: Send, reason: str, at: int) -> Command:
        """Dead letter in the consumer's format; replaying it pushes to this one target only."""
        meta = DeadLetter(
            # the replayed job targets one user (or topic): it goes to that user's push shard
            source_stream=self.keys.push_for(send.user_id or send.topic),
            source_id=send.source_id,
            group=GROUP_PUSH,
            consumer=self.consumer,
            reason=f"{send.label}: {reason}",
            deliveries=send.attempts,
            at_ms=at,
        )
        job = PushJob(
            notification=send.notification,
            user_ids=[send.user_id] if send.user_id else [],
            topic=send.topic or None,
        )
        original = {FIELD_JOB: encode(job)}
        if send.token:
            original[FIELD_TOKEN] = send.token.encode()
            original[FIELD_PLATFORM] = send.platform.encode()
        return dead_letter_command(self.keys.dead_letters, meta, original)

    def _count(self) -> None:
        outcomes = {
            "pushed": len(self.pushed),
            "token_removed": len(self.token_dead),
            "dead_lettered": len(self.dead),
            "retry_scheduled": sum(1 for *_, deferred in self.scheduled if not deferred),
            "deferred": sum(1 for *_, deferred in self.scheduled if deferred),
            "expired": len(self.expired),
            "duplicate_skipped": len(self.duplicates),
            "no_device": len(self.no_device),
        }
        for outcome, count in outcomes.items():
            if count:
                metrics.SENDS.labels(outcome=outcome).inc(count)
        if self.token_dead:
            metrics.TOKENS_REMOVED.inc(len(self.token_dead))
        for send, reason in self.dead:
            log.warning(
                "push_dead_lettered", notification_id=send.notification.id, target=send.label, reason=reason
            )
