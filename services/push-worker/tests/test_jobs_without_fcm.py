"""Job handling decided before any FCM call: bad entries, no devices, expiry, payload limits."""

from __future__ import annotations

import asyncio

import msgspec
import redis.asyncio as redis_async
from notify_common.consumer import Entry
from notify_common.devices import register_device
from notify_common.keys import Keys
from notify_common.schemas import DeadLetter, PushJob
from push_testkit import dead_letters, job_entry, notification, push_config, receipts
from push_worker.jobs import JobHandler
from push_worker.schedule import queue_schedule, retry_queue
from push_worker.sender import build_sender
from push_worker.sends import Send


def handler(redis: redis_async.Redis, keys: Keys) -> JobHandler:
    # No FCM app: every case here is decided before a message would be sent.
    sender = build_sender(push_config(keys), redis, keys, fcm=None)  # type: ignore[arg-type]
    return JobHandler(sender, asyncio.Event())


async def test_undecodable_job_is_dead_lettered_with_the_reason(redis: redis_async.Redis, keys: Keys) -> None:
    outcome = await handler(redis, keys)([Entry("1-0", {b"job": b'{"v": 1}'})])
    assert "invalid push job" in outcome.dead["1-0"]
    assert "notification" in outcome.dead["1-0"]


async def test_replay_job_with_a_token_needs_exactly_one_user(redis: redis_async.Redis, keys: Keys) -> None:
    job = PushJob(notification=notification(), user_ids=["a", "b"])
    entry = job_entry("1-0", job, {b"token": b"tok", b"platform": b"android"})
    outcome = await handler(redis, keys)([entry])
    assert outcome.dead["1-0"] == "invalid push job: a job with `token` needs exactly one user id"


async def test_user_without_devices_gets_a_push_failed_receipt(redis: redis_async.Redis, keys: Keys) -> None:
    job = PushJob(notification=notification(), user_ids=["lonely"])
    outcome = await handler(redis, keys)([job_entry("1-0", job)])
    assert outcome.dead == {}
    [receipt] = await receipts(redis, keys)
    assert (receipt.user_id, receipt.kind, receipt.channel) == ("lonely", "push_failed", "push")
    assert receipt.error.startswith("NO_DEVICE")


async def test_expired_notification_is_not_pushed(redis: redis_async.Redis, keys: Keys) -> None:
    await register_device(redis, keys, "u1", "tok-1", "android")
    job = PushJob(notification=notification(expires_ms=1000), user_ids=["u1"])
    await handler(redis, keys)([job_entry("1-0", job)])
    assert [(r.user_id, r.kind) for r in await receipts(redis, keys)] == [("u1", "expired")]
    assert await redis.zcard(keys.push_retry_schedule) == 0


async def test_payload_too_large_is_dead_lettered_with_a_clear_reason(
    redis: redis_async.Redis, keys: Keys
) -> None:
    await register_device(redis, keys, "u1", "tok-1", "android")
    job = PushJob(notification=notification(body="x" * 4000, data={"more": "y" * 200}), user_ids=["u1"])
    await handler(redis, keys)([job_entry("5-0", job)])
    [dead] = await dead_letters(redis, keys)
    meta = msgspec.json.decode(dead[b"meta"], type=DeadLetter)
    assert meta.source_id == "5-0"
    assert "payload too large for FCM" in meta.reason
    assert "the limit for messages is 4096" in meta.reason
    assert dead[b"o:token"] == b"tok-1"
    [receipt] = await receipts(redis, keys)
    assert receipt.kind == "push_failed"
    assert "payload too large" in receipt.error


async def test_topic_payload_over_2048_bytes_is_dead_lettered(redis: redis_async.Redis, keys: Keys) -> None:
    job = PushJob(notification=notification(body="x" * 2100), topic="role-driver")
    await handler(redis, keys)([job_entry("1-0", job)])
    [dead] = await dead_letters(redis, keys)
    assert "limit for topic messages is 2048" in msgspec.json.decode(dead[b"meta"], type=DeadLetter).reason


async def test_a_job_read_again_leaves_its_scheduled_retries_to_the_schedule(
    redis: redis_async.Redis, keys: Keys
) -> None:
    # Its first attempt failed and scheduled a retry, then the worker died before the job's
    # acknowledgement went out: the job is read again, and must not push a second time.
    await register_device(redis, keys, "u1", "tok-1", "android")
    n = notification()
    pipe = redis.pipeline(transaction=True)
    queue_schedule(
        pipe,
        retry_queue(redis, keys),
        Send(notification=n, user_id="u1", token="tok-1", platform="android"),
        1,
    )
    await pipe.execute()
    # No FCM app in this handler: a send would raise, so reaching the end means none was tried.
    outcome = await handler(redis, keys)([job_entry("1-0", PushJob(notification=n, user_ids=["u1"]))])
    assert outcome.dead == {}
    assert await receipts(redis, keys) == []
    assert await redis.zcard(keys.push_retry_schedule) == 1
