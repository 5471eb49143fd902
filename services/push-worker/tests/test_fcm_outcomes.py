"""Every FCM outcome, through the unmodified SDK against the fake FCM, and what the worker does."""

from __future__ import annotations

import time

import msgspec
import redis.asyncio as redis_async
from notify_common.consumer import Entry
from notify_common.devices import devices_of_user, register_device
from notify_common.keys import Keys
from notify_common.schemas import DeadLetter, PushJob
from push_testkit import FakeFcm, Worker, dead_letters, job_entry, notification, receipts
from push_worker.schedule import claim_due, retry_queue
from push_worker.sends import decode_send


async def test_job_reaches_every_device_of_every_user_in_batches(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    for user, tokens in {"u1": ["a1", "a2"], "u2": ["b1"], "u3": ["c1", "c2"]}.items():
        for token in tokens:
            await register_device(redis, keys, user, token, "android")
    job = PushJob(notification=notification(), user_ids=["u1", "u2", "u3"])
    await worker.handle(job_entry("1-0", job))
    assert sorted(fcm.tokens_received()) == ["a1", "a2", "b1", "c1", "c2"]
    assert worker.fcm_batches() >= 3  # FCM_BATCH_SIZE=2 in the test worker
    assert sorted((r.user_id, r.kind) for r in await receipts(redis, keys)) == [
        ("u1", "pushed"),
        ("u2", "pushed"),
        ("u3", "pushed"),
    ]


async def test_message_arrives_with_the_platform_mapping(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "ios-tok", "ios")
    note = notification(data={"order": 7}, priority="high", collapse_key="order-7")
    await worker.handle(job_entry("1-0", PushJob(notification=note, user_ids=["u1"])))
    [message] = fcm.messages_received()
    assert message["token"] == "ios-tok"
    assert message["data"] == {"order": "7", "nf_id": "n1", "nf_type": "order.shipped"}
    assert message["notification"] == {"title": "Shipped"}
    assert message["apns"]["headers"]["apns-collapse-id"] == "order-7"
    assert "android" not in message


async def test_topic_job_sends_one_topic_message(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), topic="role-driver")))
    [message] = fcm.messages_received()
    assert message["topic"] == "role-driver"
    [receipt] = await receipts(redis, keys)
    assert (receipt.user_id, receipt.kind) == ("", "pushed")


async def test_unregistered_token_is_removed_and_reported(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "gone", "android")
    await register_device(redis, keys, "u1", "fine", "android")
    fcm.script("unregistered", token="gone")
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))
    assert [d.token for d in await devices_of_user(redis, keys, "u1")] == ["fine"]
    [receipt] = await receipts(redis, keys)
    assert receipt.kind == "pushed"  # the other device took it


async def test_invalid_token_is_removed_with_the_reason_on_the_receipt(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "bad-tok", "web")
    fcm.script("invalid_token", token="bad-tok")
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))
    assert await devices_of_user(redis, keys, "u1") == []
    [receipt] = await receipts(redis, keys)
    assert receipt.kind == "push_failed"
    assert "INVALID_TOKEN" in receipt.error


async def test_sender_id_mismatch_removes_the_token(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "other-project", "android")
    fcm.script("sender_id_mismatch", token="other-project")
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))
    assert await devices_of_user(redis, keys, "u1") == []
    assert "SENDER_ID_MISMATCH" in (await receipts(redis, keys))[0].error


async def test_invalid_argument_is_dead_lettered_with_fcm_message(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "tok", "android")
    fcm.script("invalid_argument", token="tok")
    await worker.handle(job_entry("7-0", PushJob(notification=notification(), user_ids=["u1"])))
    [dead] = await dead_letters(redis, keys)
    meta = msgspec.json.decode(dead[b"meta"], type=DeadLetter)
    assert meta.source_id == "7-0"
    assert "INVALID_ARGUMENT" in meta.reason
    assert [d.token for d in await devices_of_user(redis, keys, "u1")] == ["tok"]  # the token is fine


async def test_unavailable_is_scheduled_for_a_durable_retry_then_pushed(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "tok", "android")
    fcm.script("unavailable", token="tok")
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))
    assert fcm.tokens_received() == []
    [stored] = await redis.hvals(keys.push_retry_items)
    retry = decode_send(stored)
    assert (retry.attempts, retry.last_error.split(":")[0]) == (1, "UNAVAILABLE")
    fcm.script("ok", token="tok")
    await worker.run_retries_until(lambda: fcm.tokens_received() == ["tok"])
    assert await redis.zcard(keys.push_retry_schedule) == 0
    assert [r.kind for r in await receipts(redis, keys)] == ["pushed"]


async def test_internal_error_timeout_and_dropped_connection_are_retried(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    scripted = {"t-500": "internal", "t-slow": "slow", "t-drop": "drop"}
    for token, behaviour in scripted.items():
        await register_device(redis, keys, "u1", token, "android")
        fcm.script(behaviour, token=token, delay_s=1.5 if behaviour == "slow" else 0)  # FCM_TIMEOUT_S=1
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))
    items = [decode_send(raw) for raw in await redis.hvals(keys.push_retry_items)]
    assert sorted(s.token for s in items) == sorted(scripted)
    assert await receipts(redis, keys) == []  # nothing final yet


async def test_retry_after_is_honoured(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "tok", "android")
    fcm.script("quota", token="tok", retry_after_s=120)
    before_ms = int(time.time() * 1000)
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))
    [(_, due_ms)] = await redis.zrange(keys.push_retry_schedule, 0, -1, withscores=True)
    assert due_ms >= before_ms + 120_000
    assert await claim_due(retry_queue(redis, keys), before_ms + 60_000, 10, 1000) == []


async def test_retry_budget_exhausted_dead_letters_with_the_last_error(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "tok", "android")
    fcm.script("internal", token="tok")
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))
    await worker.run_retries_until(lambda: False, until_redis=lambda: _has_dead(redis, keys))
    [dead] = await dead_letters(redis, keys)
    reason = msgspec.json.decode(dead[b"meta"], type=DeadLetter).reason
    assert "gave up after 3 attempts" in reason  # PUSH_MAX_ATTEMPTS=3 in the test worker
    assert "last error INTERNAL" in reason
    [receipt] = await receipts(redis, keys)
    assert receipt.kind == "push_failed"


async def _has_dead(redis: redis_async.Redis, keys: Keys) -> bool:
    return bool(await redis.xlen(keys.dead_letters))


async def test_third_party_auth_error_pauses_that_platform_and_keeps_the_message(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "ios-tok", "ios")
    await register_device(redis, keys, "u2", "android-tok", "android")
    fcm.script("third_party_auth", token="ios-tok")
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))
    assert worker.sender.alarm.alarmed
    assert not worker.sender.alarm.allows("ios")
    [stored] = await redis.hvals(keys.push_retry_items)
    assert decode_send(stored).attempts == 0  # not the message's fault: full budget kept
    await worker.handle(job_entry("2-0", PushJob(notification=notification("n2"), user_ids=["u2"])))
    assert fcm.tokens_received() == ["android-tok"]  # android keeps going


async def test_refused_credentials_stop_all_sending_and_keep_the_messages(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "tok", "android")
    fcm.refuse_oauth()
    worker.expire_access_token()
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))
    assert "*" in worker.sender.alarm.paused
    assert worker.sender.alarm.reasons()["*"].startswith("CREDENTIALS")
    assert await redis.zcard(keys.push_retry_schedule) == 1
    assert fcm.tokens_received() == []


async def test_circuit_opens_when_fcm_is_down_and_resumes_by_itself(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    for i in range(6):
        await register_device(redis, keys, f"u{i}", f"tok-{i}", "android")
    fcm.script("unavailable")  # every token
    users = [f"u{i}" for i in range(6)]
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=users)))
    assert worker.sender.breaker.state == "open"  # BREAKER_FAILURES=3, batches of 2, one in flight
    assert fcm.requests_seen() == 4  # the third batch was held back, not sent
    assert await redis.zcard(keys.push_retry_schedule) == 6
    fcm.script("ok")
    await worker.run_retries_until(lambda: len(fcm.tokens_received()) == 6)
    assert worker.sender.breaker.state == "closed"


async def test_open_circuit_probes_with_one_message_and_the_rest_follows(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    for i in range(8):
        await register_device(redis, keys, f"u{i}", f"tok-{i}", "android")
    fcm.script("unavailable")
    users = [f"u{i}" for i in range(8)]
    await worker.handle(job_entry("1-0", PushJob(notification=notification("n1"), user_ids=users[:4])))
    assert worker.sender.breaker.state == "open"
    sent_while_closed = fcm.requests_seen()
    worker.sender.breaker.reopen_at = 0.0  # the pause is over: the next batch is the probe
    await worker.handle(job_entry("2-0", PushJob(notification=notification("n2"), user_ids=users[4:])))
    assert fcm.requests_seen() == sent_while_closed + 1  # one message, not the batch of 2
    assert worker.sender.breaker.state == "open"
    fcm.script("ok")
    worker.sender.breaker.reopen_at = 0.0
    await worker.run_retries_until(lambda: len(fcm.tokens_received()) == 8)
    assert worker.sender.breaker.state == "closed"


async def test_redelivered_job_is_not_pushed_twice(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "tok", "android")
    entry = job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"]))
    await worker.handle(entry)
    await worker.handle(entry)  # as after a crash between the send and the XACK
    assert fcm.tokens_received() == ["tok"]


async def test_same_notification_in_a_second_job_is_not_pushed_twice(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "tok", "android")
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))
    await worker.handle(job_entry("2-0", PushJob(notification=notification(), user_ids=["u1"])))
    assert fcm.tokens_received() == ["tok"]


async def test_replayed_dead_letter_pushes_to_that_one_device(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "flaky", "android")
    await register_device(redis, keys, "u1", "steady", "android")
    fcm.script("invalid_argument", token="flaky")
    await worker.handle(job_entry("1-0", PushJob(notification=notification(), user_ids=["u1"])))
    [dead] = await dead_letters(redis, keys)
    replay = {name[2:]: value for name, value in dead.items() if name.startswith(b"o:")}
    assert replay[b"token"] == b"flaky"
    fcm.script("ok", token="flaky")
    await worker.handle(Entry("2-0", replay))
    assert sorted(fcm.tokens_received()) == ["flaky", "steady"]  # steady once, flaky once on replay


async def test_same_notification_twice_in_one_batch_is_pushed_once(
    redis: redis_async.Redis, keys: Keys, fcm: FakeFcm, worker: Worker
) -> None:
    await register_device(redis, keys, "u1", "tok", "android")
    job = PushJob(notification=notification(), user_ids=["u1", "u1"])
    await worker.handle(job_entry("1-0", job), job_entry("2-0", job))
    assert fcm.tokens_received() == ["tok"]
