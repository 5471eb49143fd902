"""S4 push: push-workers against the local fake FCM (devstack starts both), pushes/s per process.

Every user has one Android device; 1% of tokens answer 503 once (`flaky503-`: retried by the
worker after its backoff) and 1% are unregistered (`unreg-`: the token is removed). Jobs of 100
users each go straight into the push stream, as the router writes them. pushes/s counts first
attempts answered by the fake, from the first XADD until every device got one, or until the
scenario's time window closed (then `completed` is false and the rate is what was answered);
the retries of the 503s land after the worker's retry backoff and are reported apart.

Runs (each on a fleet of its own): HTTP/1.1 and HTTP/2 with one push-worker process, HTTP/2 with
two processes on the same stream (do processes scale?), and a backlog: `s4_backlog_pushes`
queued at once (notifications to every device), the time until the fake answered them all.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from devstack.ports import free_port
from devstack.procs import ServiceProcess
from notify_common.clock import now_ms
from notify_common.devices import register_device
from notify_common.keys import Keys
from notify_common.redis_conn import connect
from notify_common.schemas import FIELD_JOB, Notification, PushJob, encode

from bench.fleetrun import FleetRun, fleet_run
from bench.procstats import CpuMeter
from bench.profiling import Profiler
from bench.sizes import Sizes

USERS_PER_JOB = 100
FAIL_EVERY = 100  # 1% of tokens
REGISTER_CONCURRENCY = 50  # 200 connections at once timed out connecting on a loaded machine
POLL_S = 0.05
RETRY_GRACE_S = 15.0
PROFILE_S = 8.0
TOKEN_REMOVAL_GRACE_S = 10.0
BACKLOG_WINDOW_S = 300.0


def token_of(i: int, failing: bool = True) -> str:
    if not failing:
        return f"tok-bench-{i}"
    if i % FAIL_EVERY == 1:
        return f"flaky503-bench-{i}"
    if i % FAIL_EVERY == 2:
        return f"unreg-bench-{i}"
    return f"tok-bench-{i}"


async def register_all(redis_url: str, keys: Keys, users: int, failing: bool = True) -> None:
    client = connect(redis_url, max_connections=REGISTER_CONCURRENCY)
    gate = asyncio.Semaphore(REGISTER_CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            await register_device(client, keys, f"p{i}", token_of(i, failing), "android")

    try:
        await asyncio.gather(*(one(i) for i in range(users)))
    finally:
        await client.aclose()


def fake_stats(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base_url}/_fake/stats", timeout=5) as resp:
        return dict(json.loads(resp.read()))


def publish_jobs(client: redis.Redis, keys: Keys, users: int, notification_prefix: str = "s4") -> None:
    now = now_ms()
    pipe = client.pipeline(transaction=False)
    for job_no, first in enumerate(range(0, users, USERS_PER_JOB)):
        nid = f"{notification_prefix}-{job_no}"
        n = Notification(id=nid, type="bench.push", title="bench", body="push", created_ms=now)
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


def more_workers(fr: FleetRun, count: int) -> list[ServiceProcess]:
    """Start `count` more push-worker processes, configured like the fleet's, on the same stream."""
    first = fr.fleet.processes["push-worker"]
    extra = []
    for i in range(2, count + 2):
        ops_port = free_port()
        env = {**first.env, "NODE_ID": f"push-worker-{i}", "OPS_PORT": str(ops_port), "API_PORT": "0"}
        log = first.log_path.with_name(f"push-worker-{i}.log")
        extra.append(ServiceProcess(f"push-worker-{i}", "push_worker", env, ops_port, log).start())
    for proc in extra:
        proc.wait_ready(60)
    return extra


def measure(
    sizes: Sizes, workdir: Path, profiler: Profiler, *, http2: bool, processes: int, rounds: int = 1
) -> dict[str, Any]:
    """One fleet: `processes` push-workers push `rounds` notifications to every device.

    With several rounds (the backlog) every token answers ok: an unregistered token would be
    pushed in some rounds and not in others (removed meanwhile), so the total would be unknown.
    """
    users = sizes.s4_pushes
    pushes = users * rounds
    failing = rounds == 1
    flaky = sum(1 for i in range(users) if i % FAIL_EVERY == 1) if failing else 0
    env = {"push-worker": {"FCM_HTTP2": "true" if http2 else "false"}}
    with fleet_run(workdir, gateways=0, services=("push-worker",), service_env=env) as fr:
        extra = more_workers(fr, processes - 1)
        try:
            fake_url = fr.fleet.fcm_url()
            asyncio.run(register_all(fr.fleet.redis_url, fr.keys, users, failing))
            pids = fr.pids()
            for proc in extra:
                assert proc.process is not None
                pids[proc.name] = proc.process.pid
            workers = [name for name in pids if name.startswith("push-worker")]
            before = fake_stats(fake_url)
            meter = CpuMeter(pids).start()
            started = time.monotonic()
            deadline = started + (sizes.s4_window_s if rounds == 1 else BACKLOG_WINDOW_S)

            def answered() -> int:
                return fake_stats(fake_url).get("requests", 0) - before.get("requests", 0)

            label = f"s4-{'h2' if http2 else 'h1'}-x{processes}" + ("-backlog" if rounds > 1 else "")
            with profiler.attach(label, pids, PROFILE_S, ("push-worker", "fcm-fake")):
                for r in range(rounds):
                    publish_jobs(fr.client, fr.keys, users, f"s4r{r}")
                completed = wait_for(lambda: answered() >= pushes, deadline)
                first_pass_s = time.monotonic() - started
                first_pass = min(pushes, answered())
            cpu = meter.stop()
            retried = completed and wait_for(lambda: answered() >= pushes + flaky, deadline + RETRY_GRACE_S)
            all_done_s = time.monotonic() - started
            stats = fake_stats(fake_url)

            def dead_left() -> int:
                unregistered = (i for i in range(users) if failing and i % FAIL_EVERY == 2)
                return sum(1 for i in unregistered if fr.client.hlen(fr.keys.devices(f"p{i}")))

            # The fake answered; the worker removes the token when it records that answer.
            wait_for(lambda: dead_left() == 0, time.monotonic() + TOKEN_REMOVAL_GRACE_S)
            tokens_left = dead_left()
        finally:
            for proc in extra:
                proc.stop()
    worker_cpu = sum(cpu.get(name, 0.0) for name in workers)
    h2_requests = stats.get("http2_requests", 0) - before.get("http2_requests", 0)
    return {
        "http": "2" if http2 else "1.1",
        "processes": processes,
        "pushes": pushes,
        "completed": completed,
        "answered_first_attempts": first_pass,
        "first_pass_s": round(first_pass_s, 3),
        "pushes_per_s": round(first_pass / first_pass_s, 1),
        "pushes_per_s_per_process": round(first_pass / first_pass_s / processes, 1),
        "http2_share": round(h2_requests / max(1, stats.get("requests", 0) - before.get("requests", 0)), 3),
        "retries_done": retried,
        "all_delivered_s": round(all_done_s, 3) if retried else None,
        "push_worker_cpu_ms_per_push": round(worker_cpu / first_pass * 1000, 3) if first_pass else None,
        "fake_outcomes": {k: v for k, v in stats.items() if k.startswith("outcome:")},
        "unregistered_tokens_left": tokens_left,
        "cpu_s": cpu,
    }


def _one_run(name: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One run's figures; a run that fails (e.g. a fleet that did not start) spoils only its own."""
    try:
        return run()
    except Exception as exc:
        print(f"s4 {name} failed: {exc!r}", flush=True)
        return {"error": repr(exc)}


def run(sizes: Sizes, workdir: Path, profiler: Profiler) -> dict[str, Any]:
    users = sizes.s4_pushes
    rounds = max(1, sizes.s4_backlog_pushes // users)
    runs = {
        "h1": lambda: measure(sizes, workdir / "h1", profiler, http2=False, processes=1),
        "h2": lambda: measure(sizes, workdir / "h2", profiler, http2=True, processes=1),
        "h2_2_processes": lambda: measure(sizes, workdir / "h2x2", profiler, http2=True, processes=2),
        "backlog": lambda: measure(
            sizes, workdir / "backlog", profiler, http2=True, processes=1, rounds=rounds
        ),
    }
    results = {name: _one_run(name, run) for name, run in runs.items()}
    h1, h2, two, backlog = (results[name] for name in runs)
    return {
        "devices": users,
        "users_per_job": USERS_PER_JOB,
        "flaky_503_once": sum(1 for i in range(users) if i % FAIL_EVERY == 1),
        "unregistered": sum(1 for i in range(users) if i % FAIL_EVERY == 2),
        # The headline is the default configuration (HTTP/2, one process).
        "completed": h2.get("completed", False),
        "pushes_per_s": h2.get("pushes_per_s"),
        "pushes_per_s_h1": h1.get("pushes_per_s"),
        "pushes_per_s_h2": h2.get("pushes_per_s"),
        "push_worker_cpu_ms_per_push": h2.get("push_worker_cpu_ms_per_push"),
        "push_worker_cpu_ms_per_push_h1": h1.get("push_worker_cpu_ms_per_push"),
        "pushes_per_s_2_processes": two.get("pushes_per_s"),
        "scaling_2_processes": round(two["pushes_per_s"] / h2["pushes_per_s"], 2)
        if two.get("pushes_per_s") and h2.get("pushes_per_s")
        else None,
        "backlog_pushes": backlog.get("pushes"),
        "backlog_completed": backlog.get("completed", False),
        "backlog_s": backlog["first_pass_s"] if backlog.get("completed") else None,
        # Measured at 100,000 in the full size (smaller sizes scale theirs); when the window closed
        # first, projected from the rate reached (backlog_completed false says so).
        "backlog_100k_s": round(100_000 / backlog["pushes_per_s"], 1)
        if backlog.get("pushes_per_s")
        else None,
        "runs": results,
    }
