"""A push-worker process SIGKILLed during a backoff or in the middle of a batch loses nothing and
pushes nothing twice that it had recorded as pushed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis_async
from devstack.polling import wait_until
from devstack.procs import ServiceProcess
from notify_common.devices import register_device
from notify_common.keys import Keys
from notify_common.schemas import FIELD_JOB, PushJob, encode
from push_testkit import FakeFcm, notification, receipts, worker_process
from push_worker.sends import target_digest

pytestmark = pytest.mark.slow


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for proc in started:
        proc.kill()


async def test_worker_killed_during_backoff_pushes_once_after_restart(
    redis: redis_async.Redis,
    redis_url: str,
    keys: Keys,
    fcm: FakeFcm,
    tmp_path: Path,
    processes: list[ServiceProcess],
) -> None:
    await register_device(redis, keys, "u1", "backoff-tok", "android")
    fcm.script("unavailable", token="backoff-tok")
    env = {"PUSH_RETRY_BASE_S": "2", "PUSH_RETRY_MAX_S": "2"}
    first = worker_process(redis_url, keys, fcm, tmp_path, "pw-a", env)
    processes.append(first)
    first.start().wait_ready(30)
    await redis.xadd(
        keys.push_jobs, {FIELD_JOB: encode(PushJob(notification=notification(), user_ids=["u1"]))}
    )

    async def retry_waiting() -> bool:
        return bool(await redis.zcard(keys.push_retry_schedule))

    await wait_until(retry_waiting, 30)
    first.kill()  # SIGKILL while the retry waits for its backoff
    fcm.script("ok", token="backoff-tok")
    second = worker_process(redis_url, keys, fcm, tmp_path, "pw-b", env)
    processes.append(second)
    second.start().wait_ready(30)

    async def pushed() -> bool:
        return any(r.kind == "pushed" for r in await receipts(redis, keys))

    await wait_until(pushed, 30)
    await wait_until(lambda: _zero(redis.zcard(keys.push_retry_schedule)), 30)
    assert fcm.tokens_received() == ["backoff-tok"]
    assert [r.kind for r in await receipts(redis, keys)] == ["pushed"]


async def _zero(value: Awaitable[int]) -> bool:
    return await value == 0


async def test_worker_killed_mid_batch_finishes_after_restart_without_repeating_recorded_pushes(
    redis: redis_async.Redis,
    redis_url: str,
    keys: Keys,
    fcm: FakeFcm,
    tmp_path: Path,
    processes: list[ServiceProcess],
) -> None:
    users = [f"u{i}" for i in range(24)]
    for user in users:
        await register_device(redis, keys, user, f"tok-{user}", "android")
    fcm.script("slow", delay_s=0.3)  # every token: batches come back in waves
    env = {"FCM_BATCH_SIZE": "4", "FCM_MAX_IN_FLIGHT": "2", "FCM_TIMEOUT_S": "10"}
    first = worker_process(redis_url, keys, fcm, tmp_path, "pw-same", env)
    processes.append(first)
    first.start().wait_ready(30)
    note = notification()
    await redis.xadd(keys.push_jobs, {FIELD_JOB: encode(PushJob(notification=note, user_ids=users))})
    marker = keys.push_sent(note.id)

    async def recorded() -> set[str]:  # digests of the tokens marked as pushed (not the u:<user> fields)
        return {f.decode() for f in await redis.hkeys(marker) if not f.startswith(b"u:")}

    async def some_recorded() -> bool:
        return len(await recorded()) >= 4

    await wait_until(some_recorded, 30)
    first.kill()  # SIGKILL with batches still in flight
    recorded_at_kill = await recorded()
    assert len(recorded_at_kill) < len(users), "the kill came too late to be mid-batch"
    fcm.script("ok")
    second = worker_process(redis_url, keys, fcm, tmp_path, "pw-same", env)  # same consumer name
    processes.append(second)
    second.start().wait_ready(30)

    async def all_recorded() -> bool:
        return len(await recorded()) == len(users)

    await wait_until(all_recorded, 30)
    counts = Counter(fcm.tokens_received())
    assert set(counts) == {f"tok-{u}" for u in users}  # nothing lost
    for token, count in counts.items():
        if target_digest(token) in recorded_at_kill:
            assert count == 1, token  # recorded before the kill: never pushed again
    repeated = [t for t, c in counts.items() if c > 1]
    assert len(repeated) <= 8  # at most the batches in flight at the kill (4 x 2)
