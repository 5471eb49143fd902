"""S4 push: one push-worker against the local fake FCM (devstack starts both), pushes/s.

Every user has one Android device; 1% of tokens answer 503 once (`flaky503-`: retried by the
worker after its backoff) and 1% are unregistered (`unreg-`: the token is removed). Jobs of 100
users each go straight into the push stream, as the router writes them. pushes/s counts first
attempts answered by the fake, from the first XADD until every device got one, or until the
scenario's time window closed (then `completed` is false and the rate is what was answered);
the retries of the 503s land after the worker's retry backoff and are reported apart.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis
from notify_common.devices import register_device
from notify_common.keys import Keys
from notify_common.redis_conn import connect
from notify_common.schemas import FIELD_JOB, Notification, PushJob, encode

from bench.fleetrun import fleet_run
from bench.procstats import CpuMeter
from bench.profiling import Profiler
from bench.sizes import Sizes

USERS_PER_JOB = 100
FAIL_EVERY = 100  # 1% of tokens
REGISTER_CONCURRENCY = 200
POLL_S = 0.05
RETRY_GRACE_S = 15.0
PROFILE_S = 8.0


def token_of(i: int) -> str:
    if i % FAIL_EVERY == 1:
        return f"flaky503-bench-{i}"
    if i % FAIL_EVERY == 2:
        return f"unreg-bench-{i}"
    return f"tok-bench-{i}"


async def register_all(redis_url: str, keys: Keys, users: int) -> None:
    client = connect(redis_url, max_connections=REGISTER_CONCURRENCY)
    gate = asyncio.Semaphore(REGISTER_CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            await register_device(client, keys, f"p{i}", token_of(i), "android")

    try:
        await asyncio.gather(*(one(i) for i in range(users)))
    finally:
        await client.aclose()


def fake_stats(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base_url}/_fake/stats", timeout=5) as resp:
        return dict(json.loads(resp.read()))


def publish_jobs(client: redis.Redis, keys: Keys, users: int) -> None:
    now = int(time.time() * 1000)
    pipe = client.pipeline(transaction=False)
    for job_no, first in enumerate(range(0, users, USERS_PER_JOB)):
        n = Notification(id=f"s4-{job_no}", type="bench.push", title="bench", body="push", created_ms=now)
        ids = [f"p{i}" for i in range(first, min(first + USERS_PER_JOB, users))]
        pipe.xadd(
            keys.push_jobs, {FIELD_JOB: encode(PushJob(notification=n, user_ids=ids, published_ms=now))}
        )
    pipe.execute()


def wait_for(fn: Any, deadline: float) -> bool:
    """True once `fn()` holds; False if `deadline` passed first."""
    while not fn():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


def run(sizes: Sizes, workdir: Path, profiler: Profiler) -> dict[str, Any]:
    users = sizes.s4_pushes
    flaky = sum(1 for i in range(users) if i % FAIL_EVERY == 1)
    unreg = sum(1 for i in range(users) if i % FAIL_EVERY == 2)
    with fleet_run(workdir, gateways=0, services=("push-worker",)) as fr:
        fake_url = fr.fleet.fcm_url()
        asyncio.run(register_all(fr.redis_server.url, fr.keys, users))
        pids = fr.pids()
        if fr.fleet.fcm is not None and fr.fleet.fcm.process is not None:
            pids["fcm-fake"] = fr.fleet.fcm.process.pid
        before = fake_stats(fake_url).get("requests", 0)
        meter = CpuMeter(pids).start()
        started = time.monotonic()
        deadline = started + sizes.s4_window_s

        def answered() -> int:
            return fake_stats(fake_url).get("requests", 0) - before

        with profiler.attach("s4", pids, PROFILE_S, ("push-worker", "fcm-fake")):
            publish_jobs(fr.client, fr.keys, users)
            completed = wait_for(lambda: answered() >= users, deadline)
            first_pass_s = time.monotonic() - started
            first_pass = min(users, answered())
        cpu = meter.stop()
        retried = completed and wait_for(lambda: answered() >= users + flaky, deadline + RETRY_GRACE_S)
        all_done_s = time.monotonic() - started
        stats = fake_stats(fake_url)
        dead_left = sum(
            1 for i in range(users) if i % FAIL_EVERY == 2 and fr.client.hlen(fr.keys.devices(f"p{i}"))
        )
    return {
        "devices": users,
        "users_per_job": USERS_PER_JOB,
        "flaky_503_once": flaky,
        "unregistered": unreg,
        "completed": completed,
        "answered_first_attempts": first_pass,
        "first_pass_s": round(first_pass_s, 3),
        "pushes_per_s": round(first_pass / first_pass_s, 1),
        "retries_done": retried,
        "all_delivered_s": round(all_done_s, 3) if retried else None,
        "push_worker_cpu_ms_per_push": round(cpu.get("push-worker", 0.0) / first_pass * 1000, 3)
        if first_pass
        else None,
        "fake_outcomes": {k: v for k, v in stats.items() if k.startswith("outcome:")},
        "unregistered_tokens_left": dead_left,
        "cpu_s": cpu,
    }
