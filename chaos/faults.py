"""The faults, one per scenario. Each injects, waits, heals, and returns when healing began.

Recovery time is measured from that moment (the restart command, SIGCONT, the new redis-server)
until every service is ready and a fresh event reaches a socket (chaos.run).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as redis_async
from devstack.fleet import Fleet
from devstack.postgres_server import PostgresServer
from devstack.redis_server import RedisServer
from devstack.redis_topologies import RedisClusterGroup, SentinelGroup
from notify_common.keys import Keys

from chaos import observe
from chaos.checker import DeadLetterView
from chaos.partition import Partition
from chaos.timing import Timing
from chaos.workload import Publisher


@dataclass
class Target:
    """What a fault can act on, and what it found out while doing so."""

    fleet: Fleet
    redis: RedisServer
    timing: Timing
    publisher: Publisher
    postgres: PostgresServer | None = None
    database_url: str = ""
    partitions: dict[str, Partition] = field(default_factory=dict)
    dead_letters_wiped: list[DeadLetterView] = field(default_factory=list)
    """Dead letters read just before Redis was wiped (redis-empty): the checker still counts them."""
    """Proxies between a service and Redis, by service (partition scenarios only)."""
    fcm_requests_during_fault: int = 0
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    """Exit status of every process the fault stopped with SIGTERM."""
    stop_seconds: dict[str, float] = field(default_factory=dict)
    """How long each of those took from SIGTERM to exit."""
    fault_window: tuple[float, float] = (0.0, 0.0)
    """monotonic (start, end) of the fault, for readiness checks."""
    cluster: RedisClusterGroup | None = None
    """The Redis Cluster under the fleet (cluster-* scenarios; `redis` is then one of its nodes)."""
    sentinel: SentinelGroup | None = None
    """The Sentinel group under the fleet (sentinel-* scenarios; `redis` is its first master)."""
    promotion_s: float = 0.0
    """cluster-* and sentinel-*: seconds from the fault until the replica served as master."""


Fault = Callable[[Target], Awaitable[float]]


async def restart(target: Target, name: str) -> None:
    proc = target.fleet.processes[name]
    await asyncio.to_thread(proc.start)
    await asyncio.to_thread(proc.wait_ready, 60.0)


def sigkill(name: str) -> Fault:
    """SIGKILL one service mid-load, keep it dead for `down_s`, start it again."""

    async def fault(target: Target) -> float:
        started = time.monotonic()
        await asyncio.to_thread(target.fleet.processes[name].kill)
        await asyncio.sleep(target.timing.down_s)
        healing = time.monotonic()
        await restart(target, name)
        target.fault_window = (started, time.monotonic())
        return healing

    return fault


async def redis_restart(target: Target) -> float:
    """SIGKILL redis-server and start it on the same AOF (appendfsync everysec).

    The publisher holds its next XADD for 2.5 s before the kill: with everysec, a write Redis
    acknowledged in the last second may be lost by design (docs/architecture.md), and this
    scenario tests the fleet, not the fsync policy. The services are not held: their reads,
    fan-out writes and acks are cut mid-flight.
    """
    target.publisher.hold.set()
    await asyncio.sleep(2.5)
    started = time.monotonic()
    await asyncio.to_thread(target.redis.kill)
    target.publisher.hold.clear()
    await asyncio.sleep(target.timing.down_s)
    healing = time.monotonic()
    await asyncio.to_thread(target.redis.start)
    target.fault_window = (started, time.monotonic())
    return healing


async def redis_empty(target: Target) -> float:
    """SIGKILL redis-server and start it with none of its data: a restart without persistence,
    or a failover to a replica that had not caught up. Presence, consumer groups, devices and
    feeds are gone; the services stay up and must notice.

    The publisher is held and the fleet drained first (every stream consumed and acknowledged):
    what an empty Redis loses unconsumed is lost by definition, and this scenario tests what
    comes after. Publishing resumes the moment Redis is back, so events are routed while the
    gateways' presence is still missing: connected clients must get them all the same.
    """
    target.publisher.hold.set()
    keys = Keys(target.fleet.key_prefix)
    await observe.wait_drained(target.redis.url, keys)
    target.dead_letters_wiped = await observe.dead_letters_at(target.redis.url, keys)
    started = time.monotonic()
    await asyncio.to_thread(target.redis.kill)
    await asyncio.to_thread(target.redis.wipe)
    await asyncio.sleep(target.timing.down_s)
    healing = time.monotonic()
    await asyncio.to_thread(target.redis.start)
    # Device tokens live in Redis too (docs/reliability.md): apps register theirs at every start,
    # as the offline users here do once Redis is back, before publishing resumes.
    await observe.register_devices(target.redis.url, keys, target.publisher.users.everyone())
    target.publisher.hold.clear()
    target.fault_window = (started, time.monotonic())
    return healing


async def redis_full(target: Target) -> float:
    """Redis refuses writes for `outage_s` (maxmemory reached with `noeviction`: every write is
    answered `OOM command not allowed`), then accepts them again."""
    client = redis_async.Redis.from_url(target.redis.url, socket_timeout=5)
    try:
        used = int((await client.info("memory"))["used_memory"])
        await client.config_set("maxmemory-policy", "noeviction")
        started = time.monotonic()
        await client.config_set("maxmemory", str(max(1, used // 2)))
        await asyncio.sleep(target.timing.outage_s)
        healing = time.monotonic()
        await client.config_set("maxmemory", "0")
    finally:
        await client.aclose()
    target.fault_window = (started, healing)
    return healing


def partition(name: str) -> Fault:
    """Cut one service off Redis for `outage_s` (its connections neither close nor answer), heal."""

    async def fault(target: Target) -> float:
        cut = target.partitions[name]
        started = time.monotonic()
        cut.cut()
        await asyncio.sleep(target.timing.outage_s)
        healing = time.monotonic()
        cut.heal()
        target.fault_window = (started, healing)
        return healing

    return fault


async def gateway_sigstop(target: Target) -> float:
    """SIGSTOP gateway-1 for `frozen_s` with its clients connected (longer than NODE_TTL_MS, so
    routers take it for dead and a survivor cleans its presence up), then SIGCONT."""
    proc = target.fleet.processes["gateway-1"].process
    assert proc is not None
    started = time.monotonic()
    proc.send_signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(target.timing.frozen_s)
    finally:
        proc.send_signal(signal.SIGCONT)
    target.fault_window = (started, time.monotonic())
    return target.fault_window[1]


async def history_stalled(target: Target) -> float:
    """History's database stops answering its writes for `outage_s` (a transaction holds an
    exclusive lock on its tables): receipts and events pile up in Redis, then drain."""
    pg = target.postgres
    if pg is None:
        raise RuntimeError("history-stalled needs PostgreSQL server binaries (initdb, postgres)")
    conn = await asyncpg.connect(target.database_url)
    try:
        started = time.monotonic()
        async with conn.transaction():
            await conn.execute("LOCK TABLE notifications, inbox, deliveries IN ACCESS EXCLUSIVE MODE")
            await asyncio.sleep(target.timing.outage_s)
        healing = time.monotonic()
    finally:
        await conn.close()
    target.fault_window = (started, healing)
    return healing


async def redis_unreachable(target: Target) -> float:
    """SIGSTOP redis-server for `outage_s` (connections hang, as on a network partition), SIGCONT."""
    proc = target.redis.process
    assert proc is not None
    started = time.monotonic()
    proc.send_signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(target.timing.outage_s)
    finally:
        proc.send_signal(signal.SIGCONT)
    target.fault_window = (started, time.monotonic())
    return target.fault_window[1]


async def postgres_down(target: Target) -> float:
    """Immediate shutdown of PostgreSQL (SIGQUIT: backends die, crash recovery on start) for
    `outage_s`, then start it on the same data directory."""
    pg = target.postgres
    if pg is None or pg.process is None:
        raise RuntimeError("postgres-down needs PostgreSQL server binaries (initdb, postgres)")
    started = time.monotonic()
    pg.process.send_signal(signal.SIGQUIT)
    await asyncio.to_thread(pg.process.wait, 30)
    await asyncio.sleep(target.timing.outage_s)
    healing = time.monotonic()
    await asyncio.to_thread(pg.start)
    target.fault_window = (started, time.monotonic())
    return healing


async def fcm_unavailable(target: Target) -> float:
    """The fake FCM answers every send with 503 for `fcm_unavailable_s`, then 429 with
    Retry-After: 2 for a third of that, then recovers. Requests during the fault are counted:
    a worker in a hot retry loop would send thousands."""
    fleet = target.fleet
    before = await observe.fcm_requests(fleet)
    started = time.monotonic()
    await observe.fcm_script(fleet, {"kind": "unavailable", "retry_after_s": 0})
    await asyncio.sleep(target.timing.fcm_unavailable_s)
    await observe.fcm_script(fleet, {"kind": "quota", "retry_after_s": 2})
    await asyncio.sleep(target.timing.fcm_unavailable_s / 3)
    healing = time.monotonic()
    await observe.fcm_script(fleet, {"kind": "ok"})
    target.fcm_requests_during_fault = await observe.fcm_requests(fleet) - before
    target.fault_window = (started, healing)
    return healing


async def rolling_sigterm(target: Target) -> float:
    """SIGTERM every service in turn during load; each must exit 0 in its grace time, then restarts."""
    started = healing = time.monotonic()
    for name in sorted(target.fleet.processes):
        proc = target.fleet.processes[name]
        signalled = time.monotonic()
        target.exit_codes[name] = await asyncio.to_thread(proc.stop, 30.0)
        target.stop_seconds[name] = time.monotonic() - signalled
        healing = time.monotonic()
        await restart(target, name)
    target.fault_window = (started, time.monotonic())
    return healing


async def cluster_failover(target: Target) -> float:
    """`CLUSTER FAILOVER` sent to the replica of the master that holds the ingress stream: a
    planned switch (the replica catches up, then takes the slots over) in the middle of load."""
    group = target.cluster
    assert group is not None, "cluster-* scenarios run on a Redis Cluster"
    master = await asyncio.to_thread(group.master_of, Keys(target.fleet.key_prefix).ingress)
    replica = await asyncio.to_thread(group.replica_of, master)
    started = time.monotonic()
    with group.client(replica) as client:
        await asyncio.to_thread(client.execute_command, "CLUSTER FAILOVER")
    await asyncio.to_thread(group.wait_master, replica)
    healing = time.monotonic()
    target.promotion_s = healing - started
    target.fault_window = (started, healing)
    return healing


async def cluster_kill_master(target: Target) -> float:
    """SIGKILL the master that holds the ingress stream; its replica takes over once the others
    have seen it fail (cluster-node-timeout 2 s); the killed node then starts again and rejoins
    as a replica. Replication is asynchronous: what the master acknowledged but had not yet sent
    to the replica when it died is lost by design (docs/reliability.md)."""
    group = target.cluster
    assert group is not None, "cluster-* scenarios run on a Redis Cluster"
    master = await asyncio.to_thread(group.master_of, Keys(target.fleet.key_prefix).ingress)
    replica = await asyncio.to_thread(group.replica_of, master)
    started = time.monotonic()
    await asyncio.to_thread(master.kill)
    await asyncio.to_thread(group.wait_master, replica)
    healing = time.monotonic()
    target.promotion_s = healing - started
    await asyncio.to_thread(master.start)
    await asyncio.to_thread(group.wait_ok)
    target.fault_window = (started, time.monotonic())
    return healing


async def sentinel_kill_master(target: Target) -> float:
    """SIGKILL the master of a Sentinel group; the sentinels see it down (down-after 1 s), agree
    (quorum 2 of 3) and promote the replica. The old master stays down."""
    group = target.sentinel
    assert group is not None, "sentinel-* scenarios run on a Sentinel group"
    master = await asyncio.to_thread(group.master)
    started = time.monotonic()
    await asyncio.to_thread(master.kill)
    await asyncio.to_thread(group.wait_new_master, master)
    healing = time.monotonic()
    target.promotion_s = healing - started
    target.fault_window = (started, healing)
    return healing


async def nothing(target: Target) -> float:
    return time.monotonic()


FAULTS: dict[str, Fault] = {
    "baseline": nothing,
    "kill-router": sigkill("router"),
    "kill-history": sigkill("history"),
    "kill-push-worker": sigkill("push-worker"),
    "kill-gateway": sigkill("gateway-1"),
    "redis-restart": redis_restart,
    "redis-empty": redis_empty,
    "redis-unreachable": redis_unreachable,
    "redis-full": redis_full,
    "partition-router": partition("router"),
    "partition-gateway": partition("gateway-1"),
    "gateway-sigstop": gateway_sigstop,
    "history-stalled": history_stalled,
    "postgres-down": postgres_down,
    "fcm-unavailable": fcm_unavailable,
    "rolling-sigterm": rolling_sigterm,
    "cluster-baseline": nothing,
    "cluster-failover": cluster_failover,
    "cluster-kill-master": cluster_kill_master,
    "sentinel-kill-master": sentinel_kill_master,
}
