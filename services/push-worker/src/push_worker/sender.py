"""Send pushes to FCM in batches, classify every outcome and record it durably.

The one path for new pushes (from the job stream) and due retries (from the schedule): payload
checks, the auth alarm and the circuit breaker first, then batches of up to FCM_BATCH_SIZE with
at most FCM_MAX_IN_FLIGHT in flight, each batch recorded in one MULTI as soon as FCM answers.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as redis_async
import structlog
from firebase_admin import messaging
from notify_common.backoff import backoff_delay
from notify_common.clock import now_ms
from notify_common.delayed import DelayedQueue
from notify_common.keys import Keys

from push_worker import metrics
from push_worker.breaker import AuthAlarm, Breaker
from push_worker.classify import Classified, classify
from push_worker.config import PushConfig
from push_worker.fcm import Fcm
from push_worker.ledger import USER_FIELD, Ledger
from push_worker.payload import MessageTemplates, PayloadError, PayloadSettings
from push_worker.schedule import retry_queue
from push_worker.sends import Send

log = structlog.get_logger("push_worker.sender")


def alarm_scope(send: Send) -> str:
    """Platform credentials a send depends on (topic messages reach every platform)."""
    return send.platform or "topic"


async def pushed_targets(
    client: redis_async.Redis, keys: Keys, notification_ids: Sequence[str]
) -> dict[str, set[str]]:
    """notification id -> its sent-marker fields: target digests and `u:<user>` (one round trip)."""
    unique = list(dict.fromkeys(notification_ids))
    if not unique:
        return {}
    pipe = client.pipeline(transaction=False)
    for notification_id in unique:
        pipe.hkeys(keys.push_sent(notification_id))
    replies = await pipe.execute()
    return {n: {d.decode() for d in fields} for n, fields in zip(unique, replies, strict=True)}


def split_pushed(sends: Sequence[Send], pushed: dict[str, set[str]]) -> tuple[list[Send], list[Send]]:
    """(still to send, already pushed)."""
    fresh: list[Send] = []
    done: list[Send] = []
    for send in sends:
        (done if send.target_digest in pushed.get(send.notification.id, ()) else fresh).append(send)
    return fresh, done


def reported_users(pushed: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(notification, user) pairs already reported as pushed."""
    return {
        (n, field.removeprefix(USER_FIELD))
        for n, fields in pushed.items()
        for field in fields
        if field.startswith(USER_FIELD)
    }


def batches_keeping_users_together(
    ready: list[tuple[Send, messaging.Message]], size: int
) -> list[list[tuple[Send, messaging.Message]]]:
    """Batches of at most `size`, not splitting one user's devices for one notification when
    avoidable, so a user gets one receipt saying whether any device took the push."""
    groups: dict[tuple[str, str, str], list[tuple[Send, messaging.Message]]] = {}
    for item in ready:
        send = item[0]
        groups.setdefault((send.notification.id, send.user_id, send.topic), []).append(item)
    batches: list[list[tuple[Send, messaging.Message]]] = [[]]
    for group in groups.values():
        if len(batches[-1]) + len(group) > size and batches[-1]:
            batches.append([])
        for item in group:
            if len(batches[-1]) >= size:
                batches.append([])
            batches[-1].append(item)
    return [b for b in batches if b]


@dataclass
class Sender:
    client: redis_async.Redis
    keys: Keys
    cfg: PushConfig
    fcm: Fcm
    breaker: Breaker
    alarm: AuthAlarm
    consumer: str
    payload: PayloadSettings = field(default_factory=PayloadSettings)
    slots: asyncio.Semaphore = field(init=False)
    retries: DelayedQueue = field(init=False)
    """The durable retry schedule (schedule.py)."""

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.cfg.fcm_max_in_flight)
        self.retries = retry_queue(self.client, self.keys)

    def ledger(self, from_schedule: bool, reported: set[tuple[str, str]] | None = None) -> Ledger:
        """A ledger; `reported` holds (notification, user) pairs already reported as pushed."""
        return Ledger(
            self.keys,
            self.retries,
            self.consumer,
            self.cfg.push_dedup_ttl_s,
            from_schedule,
            reported=reported or set(),
        )

    def paused_s(self) -> float:
        """Seconds until anything at all may be sent (circuit open or our credentials failing)."""
        return max(self.breaker.wait_s(), self.alarm.wait_s("*") if "*" in self.alarm.paused else 0.0)

    async def push(self, sends: Sequence[Send], ledger: Ledger) -> None:
        """Send `sends`; returns when every outcome (and whatever `ledger` holds) is durable."""
        now = now_ms()
        ready: list[tuple[Send, messaging.Message]] = []
        templates = MessageTemplates(self.payload, now)
        for send in sends:
            expires_ms = send.notification.expires_ms
            if expires_ms is not None and expires_ms <= now:
                ledger.expired.append(send)
            elif not self.alarm.allows(alarm_scope(send)):
                ledger.schedule(send, self._resume_ms(self.alarm.wait_s(alarm_scope(send))), deferred=True)
            else:
                try:
                    message = templates.message(
                        send.notification, token=send.token, platform=send.platform, topic=send.topic
                    )
                except PayloadError as exc:
                    ledger.dead.append((send, str(exc)))
                    continue
                ready.append((send, message))
        await ledger.commit(self.client)
        try:
            async with asyncio.TaskGroup() as group:
                for batch in batches_keeping_users_together(ready, self.cfg.fcm_batch_size):
                    group.create_task(self._send_batch(batch, ledger))
        except ExceptionGroup as failed:  # the callers act on the error (Redis down), not the group
            raise failed.exceptions[0] from None

    async def _send_batch(self, batch: list[tuple[Send, messaging.Message]], parent: Ledger) -> None:
        async with self.slots:
            ledger = self.ledger(parent.from_schedule, parent.reported)
            if not self.breaker.allow():
                due = self._resume_ms(self.breaker.wait_s())
                for send, _ in batch:
                    ledger.schedule(send, due, deferred=True)
                await ledger.commit(self.client)
                return
            if self.breaker.state == "half_open" and len(batch) > 1:
                # One message tells whether FCM is back; the rest is due again at once and goes
                # out (or is held back) once the probe answered: an outage costs one request per pause.
                batch, held = batch[:1], batch[1:]
                for send, _ in held:
                    ledger.schedule(send, now_ms(), deferred=True)
            metrics.IN_FLIGHT.inc()
            started = time.perf_counter()
            try:
                results = await self.fcm.send([message for _, message in batch])
            finally:
                metrics.IN_FLIGHT.dec()
                metrics.FCM_BATCH_SECONDS.observe(time.perf_counter() - started)
            self._judge(batch, results, ledger)
            await ledger.commit(self.client)

    def _judge(
        self,
        batch: list[tuple[Send, messaging.Message]],
        results: list[BaseException | None],
        ledger: Ledger,
    ) -> None:
        now = now_ms()
        successes = down = 0
        retry_after: float | None = None
        errors: Counter[str] = Counter()
        for (send, _), exc in zip(batch, results, strict=True):
            verdict = classify(exc)
            send.attempts += 1
            send.first_ms = send.first_ms or now
            if verdict.verdict == "ok":
                successes += 1
                ledger.pushed.append(send)
                if self.alarm.paused:
                    self.alarm.clear(alarm_scope(send))
                continue
            errors[verdict.code] += 1
            match verdict.verdict:
                case "token_dead" if send.token:
                    ledger.token_dead.append((send, verdict.error))
                case "token_dead" | "rejected":
                    ledger.dead.append((send, verdict.error))
                case "auth":
                    send.attempts -= 1  # not the message's fault: keep its whole budget
                    send.last_error = verdict.error
                    scope = alarm_scope(send) if verdict.platform_wide else "*"
                    self.alarm.trip(scope, verdict.error)
                    ledger.schedule(send, self._resume_ms(self.alarm.wait_s(scope)), deferred=True)
                case _:
                    down += verdict.down
                    if verdict.retry_after_s is not None:
                        retry_after = max(retry_after or 0.0, verdict.retry_after_s)
                    self._retry_or_give_up(send, verdict, now, ledger)
        self.breaker.record(successes, down, retry_after)
        for code, count in errors.items():
            metrics.FCM_ERRORS.labels(code=code).inc(count)
        if errors:
            log.warning("fcm_errors", errors=dict(errors), sent=len(batch), breaker=self.breaker.state)

    def _retry_or_give_up(self, send: Send, verdict: Classified, now: int, ledger: Ledger) -> None:
        send.last_error = verdict.error
        age_s = (now - send.first_ms) / 1000
        cfg = self.cfg
        if send.attempts >= cfg.push_max_attempts or age_s >= cfg.push_max_age_s:
            ledger.dead.append(
                (send, f"gave up after {send.attempts} attempts in {age_s:.0f} s, last error {verdict.error}")
            )
            return
        delay_s = backoff_delay(send.attempts, base=cfg.push_retry_base_s, cap=cfg.push_retry_max_s)
        delay_s = max(delay_s, verdict.retry_after_s or 0.0)  # Retry-After is a floor, never shortened
        ledger.schedule(send, now + int(delay_s * 1000))

    def _resume_ms(self, wait_s: float) -> int:
        """When a held-back send is due: after the pause, spread so resuming is not a herd."""
        spread_s = random.uniform(0, min(5.0, max(0.5, wait_s)))
        return now_ms() + int((wait_s + spread_s) * 1000)


def build_sender(cfg: PushConfig, client: redis_async.Redis, keys: Keys, fcm: Fcm) -> Sender:
    """The sender with its breaker and alarm, as configured (tests build it the same way)."""
    return Sender(
        client=client,
        keys=keys,
        cfg=cfg,
        fcm=fcm,
        breaker=Breaker(cfg.breaker_failures, cfg.breaker_open_s, cfg.breaker_max_open_s),
        alarm=AuthAlarm(cfg.auth_retry_s),
        consumer=cfg.node_id,
        payload=PayloadSettings(android_channel_id=cfg.android_channel_id, sound=cfg.push_sound),
    )
