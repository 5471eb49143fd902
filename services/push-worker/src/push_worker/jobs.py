"""Push jobs from the stream -> sends to each device of each user, or to a topic.

A job entry has the field `job` (PushJob JSON) and, only when replayed from a dead letter,
`token` and `platform`: then it pushes to that one device of its one user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from notify_common.consumer import Entry, Outcome, decode_batch
from notify_common.devices import DeviceError, check_device, devices_for_users
from notify_common.lifecycle import sleep_unless_stopped
from notify_common.schemas import BadEntry, PushJob, decode_push_job

from push_worker.ledger import FIELD_PLATFORM, FIELD_TOKEN
from push_worker.schedule import split_scheduled
from push_worker.sender import Sender, pushed_targets, reported_users, split_pushed
from push_worker.sends import Send

log = structlog.get_logger("push_worker.jobs")
NO_DEVICE = "NO_DEVICE: the user has no registered push device"
MAX_PACE_S = 5.0


@dataclass(frozen=True, slots=True)
class _Job:
    entry_id: str
    job: PushJob
    token: str
    platform: str


def decode_job(fields: dict[bytes, bytes]) -> tuple[PushJob, str, str]:
    """The job, device token and platform of one entry; BadEntry says why it can never be pushed."""
    job = decode_push_job(fields)
    token = fields.get(FIELD_TOKEN, b"").decode()
    platform = fields.get(FIELD_PLATFORM, b"").decode()
    if token:
        if len(job.user_ids) != 1:
            raise BadEntry("invalid push job: a job with `token` needs exactly one user id")
        try:
            check_device(token, platform)
        except DeviceError as exc:
            raise BadEntry(f"invalid push job: {exc}") from None
    elif not job.user_ids and not job.topic:
        raise BadEntry("invalid push job: neither `user_ids` nor `topic`")
    return job, token, platform


@dataclass
class JobHandler:
    """The stream consumer's handler for push jobs."""

    sender: Sender
    stop: asyncio.Event
    claim_idle_s: float = 30.0

    async def __call__(self, entries: Sequence[Entry]) -> Outcome:
        outcome = Outcome()
        jobs = [_Job(entry.id, *parts) for entry, parts in decode_batch(entries, decode_job, outcome)]
        if not jobs:
            return outcome
        await self._pace()
        sender = self.sender
        cfg = sender.cfg
        users = list(dict.fromkeys(u for j in jobs if not j.token for u in j.job.user_ids))
        devices, pushed = await asyncio.gather(
            devices_for_users(sender.client, sender.keys, users, stale_ms=cfg.device_stale_ms),
            pushed_targets(sender.client, sender.keys, [j.job.notification.id for j in jobs]),
        )
        ledger = sender.ledger(from_schedule=False, reported=reported_users(pushed))
        sends: list[Send] = []
        for item in jobs:
            notification = item.job.notification
            if item.token:
                user = item.job.user_ids[0]
                sends.append(
                    Send(
                        notification=notification,
                        user_id=user,
                        token=item.token,
                        platform=item.platform,
                        source_id=item.entry_id,
                    )
                )
                continue
            if item.job.topic:
                sends.append(Send(notification=notification, topic=item.job.topic, source_id=item.entry_id))
            for user in item.job.user_ids:
                found = devices.get(user)
                if not found:
                    ledger.no_device.append((Send(notification=notification, user_id=user), NO_DEVICE))
                for device in found or ():
                    sends.append(
                        Send(
                            notification=notification,
                            user_id=user,
                            token=device.token,
                            platform=device.platform,
                            source_id=item.entry_id,
                        )
                    )
        # One send per (notification, target), even if a user is listed twice or two entries of
        # this batch carry the same notification (a publisher's or the router's retry).
        unique = list({send.retry_id: send for send in sends}.values())
        fresh, done = split_pushed(unique, pushed)
        ledger.duplicates.extend(done)
        fresh, scheduled = await split_scheduled(sender.retries, fresh)
        if scheduled:
            log.info("push_already_scheduled", sends=len(scheduled))
        await sender.push(fresh, ledger)
        return outcome

    async def _pace(self) -> None:
        """While sending is paused, take new jobs slowly: they would only be deferred."""
        wait_s = min(self.sender.paused_s(), MAX_PACE_S, self.claim_idle_s / 6)
        if wait_s > 0:
            await sleep_unless_stopped(self.stop, wait_s)
