"""One scenario end to end: Redis with AOF, the fleet, clients, load, the fault, settle, check."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Iterable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import redis.asyncio as redis_async
from devstack.fleet import Fleet, dev_token
from devstack.postgres_server import PostgresMissing, PostgresServer, start_postgres
from devstack.redis_server import RedisServer, start_redis
from devstack.redis_topologies import RedisClusterGroup, SentinelGroup, start_cluster, start_sentinel
from notify_common.devices import register_device
from notify_common.keys import Keys

from chaos import observe
from chaos.checker import Verdict, check
from chaos.clients import RecordingClient
from chaos.faults import FAULTS, Target
from chaos.partition import Partition
from chaos.timing import Timing
from chaos.workload import Publisher, device_token, make_users

CANARY = "canary"
CANARY_PUSH = "canary-push"
"""An offline user with a push token: its pushes measure recovery from an FCM outage."""
SERVICE_ENV = {"LOG_FORMAT": "json", "LOG_LEVEL": "info", "CLAIM_IDLE_MS": "3000"}


@dataclass
class Outcome:
    """A verdict plus the facts a test asserts on besides it."""

    verdict: Verdict
    target: Target
    readiness: observe.Readiness
    alive_after: dict[str, bool]
    redis_retries: dict[str, int]
    """`redis_unreachable` warnings per service: one per back-off round of a consumer loop."""


@dataclass
class Stack:
    """The servers under test: Redis (AOF everysec), PostgreSQL (when installed) and the fleet
    (which runs the push-worker against its own fake FCM process)."""

    redis: RedisServer
    fleet: Fleet
    postgres: PostgresServer | None
    database_url: str
    partitions: dict[str, Partition]
    cluster: RedisClusterGroup | None = None
    sentinel: SentinelGroup | None = None

    @property
    def redis_url(self) -> str:
        """The URL the fleet was given: the one server's, the cluster's or the sentinels'."""
        return self.fleet.redis_url


PARTITIONED = {"partition-router": "router", "partition-gateway": "gateway-1"}
"""Scenarios that put a proxy (chaos.partition) between one service and Redis."""


@contextlib.asynccontextmanager
async def running_stack(
    workdir: Path, partitioned: str | None = None, topology: str = "single"
) -> AsyncIterator[Stack]:
    """Redis with AOF everysec, a durable PostgreSQL for history (SQLite where PostgreSQL is not
    installed), and the whole fleet on them; `partitioned` reaches Redis through a proxy that
    can cut it off. `topology` "cluster" puts the fleet on a Redis Cluster (3 masters, 3
    replicas), "sentinel" on a Sentinel group (master, replica, 3 sentinels), both without
    persistence: a replica takes over, nothing restarts from disk. Everything is stopped on exit."""
    cluster = await asyncio.to_thread(start_cluster) if topology == "cluster" else None
    sentinel = await asyncio.to_thread(start_sentinel) if topology == "sentinel" else None
    server: RedisServer
    if cluster is not None:
        server, redis_url = cluster.nodes[0], cluster.url
    elif sentinel is not None:
        server, redis_url = sentinel.data[0], sentinel.url
    else:
        server = await asyncio.to_thread(start_redis, appendonly=True)
        redis_url = server.url
    partitions: dict[str, Partition] = {}
    service_env: dict[str, dict[str, str]] = {}
    if partitioned is not None:
        partitions[partitioned] = await Partition(server.port).start()
        service_env[partitioned] = {"REDIS_URL": partitions[partitioned].url}
    postgres: PostgresServer | None = None
    database_url = f"sqlite:///{workdir / 'history.db'}"
    try:
        postgres, database_url = await asyncio.to_thread(start_postgres, durable=True, database="history")
    except PostgresMissing:
        pass
    fleet = Fleet(
        redis_url,
        workdir,
        gateways=2,
        extra_env=dict(SERVICE_ENV),
        service_env={**service_env, "history": {"DATABASE_URL": database_url}},
        fcm_keep_messages=1_000_000,  # the checker reads every push (load profile: ~15,000)
    )
    try:
        await asyncio.to_thread(fleet.start, 60.0)
        yield Stack(server, fleet, postgres, database_url, partitions, cluster, sentinel)
    finally:
        await asyncio.to_thread(fleet.stop)
        for proxy in partitions.values():
            await proxy.close()
        for group in (cluster, sentinel):
            if group is not None:
                await asyncio.to_thread(group.stop)
        if cluster is None and sentinel is None:
            await asyncio.to_thread(server.stop)
        if postgres is not None:
            await asyncio.to_thread(postgres.stop)


async def run_scenario(name: str, timing: Timing, workdir: Path, seed: int = 1) -> Outcome:
    """Run scenario `name` (a key of FAULTS) and check what every client saw."""
    topology = name.split("-", 1)[0] if name.startswith(("cluster-", "sentinel-")) else "single"
    async with running_stack(workdir, PARTITIONED.get(name), topology) as stack:
        return await _drive(name, timing, stack, seed)


async def _drive(name: str, timing: Timing, stack: Stack, seed: int) -> Outcome:
    server, fleet = stack.redis, stack.fleet
    rng = random.Random(seed)
    keys = Keys(fleet.key_prefix)
    client = (
        redis_async.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
        if stack.cluster is None and stack.sentinel is None
        else observe.open_client(stack.redis_url, 2)
    )
    users = make_users(rng, timing.online_users, timing.offline_users, timing.driver_share)
    for user in (*users.everyone(), CANARY_PUSH):
        await register_device(client, keys, user, device_token(user), "android")
    urls = [fleet.gateway_url(n) for n in sorted(fleet.gateway_ports)]
    stop_clients = asyncio.Event()
    stop_load = asyncio.Event()
    stop_watch = asyncio.Event()
    publisher = Publisher(
        client,
        keys,
        users,
        random.Random(seed + 1),
        name,
        timing.rate_per_s,
        broadcast_share=timing.broadcast_share,
    )
    target = Target(fleet, server, timing, publisher, stack.postgres, stack.database_url, stack.partitions)
    target.cluster, target.sentinel = stack.cluster, stack.sentinel
    readiness = observe.Readiness(fleet)
    # No connection cap: every client holds its socket for the whole run (load: 5,000).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        clients = [
            RecordingClient(session, u, roles, dev_token(u, list(roles)), urls, random.Random(f"{seed}:{u}"))
            for u, roles in users.online.items()
        ]
        canary = RecordingClient(session, CANARY, (), dev_token(CANARY), urls, random.Random(seed))
        for i, c in enumerate([*clients, canary]):
            c.start_on(i)
        tasks = [asyncio.create_task(c.run(stop_clients)) for c in [*clients, canary]]
        watcher = asyncio.create_task(readiness.run(stop_watch))
        try:
            await _wait_all(c.connected.wait() for c in [*clients, canary])
            load = asyncio.create_task(publisher.run(stop_load))
            churn = asyncio.create_task(_churn(clients, timing, random.Random(seed + 2), stop_load))
            await asyncio.sleep(timing.fault_at_s)
            healed_at = await FAULTS[name](target)
            push_probe = fleet if name == "fcm-unavailable" else None
            recovery_s = await _recovery(client, keys, canary, readiness, healed_at, push_probe)
            remaining = timing.load_s - timing.fault_at_s - (time.monotonic() - healed_at)
            await asyncio.sleep(max(2.0, remaining))
            stop_load.set()
            await asyncio.gather(load, churn)
            await _wait_all(c.connected.wait() for c in clients)
            verdict = await _settle(name, stack, target, client, keys, clients, timing, recovery_s)
        finally:
            stop_clients.set()
            stop_load.set()
            stop_watch.set()
            await asyncio.gather(*tasks, watcher, return_exceptions=True)
            await client.aclose()
    verdict.notes.append(f"publish retries={publisher.retries}")
    if target.promotion_s:
        verdict.notes.append(f"replica promoted after {target.promotion_s:.1f}s")
    if name == "fcm-unavailable":
        verdict.notes.append(f"fcm requests during the fault={target.fcm_requests_during_fault}")
    alive = {n: p.process is not None and p.process.poll() is None for n, p in fleet.processes.items()}
    return Outcome(verdict, target, readiness, alive, observe.log_events(fleet, "redis_unreachable"))


async def _wait_all(waits: Iterable[Awaitable[object]], timeout_s: float = 60.0) -> None:
    await asyncio.wait_for(asyncio.gather(*waits), timeout_s)


async def _churn(
    clients: list[RecordingClient], timing: Timing, rng: random.Random, stop: asyncio.Event
) -> None:
    """Clients drop their socket and come back a little later, as phones on a train do."""
    if timing.reconnects_per_s <= 0:
        return
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.expovariate(timing.reconnects_per_s))
        if not stop.is_set():
            await rng.choice(clients).drop(rng.uniform(0.5, 2.0))


async def _recovery(
    client: redis_async.Redis,
    keys: Keys,
    canary: RecordingClient,
    readiness: observe.Readiness,
    healed_at: float,
    push_fleet: Fleet | None = None,
    timeout_s: float = 120.0,
) -> float | None:
    """Seconds from the heal until every service is ready and a fresh event reaches a socket,
    or, with `push_fleet` (FCM outages), until a fresh push to an offline canary is accepted."""
    n = 0
    deadline = healed_at + timeout_s
    user = CANARY_PUSH if push_fleet is not None else CANARY
    while time.monotonic() < deadline:
        n += 1
        raw = (
            f'{{"id":"{user}-{n}","type":"chaos.canary","audience":{{"kind":"users","ids":["{user}"]}}}}'
        ).encode()
        with contextlib.suppress(Exception):
            await client.xadd(keys.ingress, {b"event": raw})
        probe_until = time.monotonic() + 1.0
        while time.monotonic() < probe_until:
            if await _canary_arrived(user, canary, push_fleet) and await readiness.all_ready():
                return time.monotonic() - healed_at
            await asyncio.sleep(0.2)
    return None


async def _canary_arrived(user: str, canary: RecordingClient, push_fleet: Fleet | None) -> bool:
    if push_fleet is None:
        return any(i.startswith(f"{user}-") for i in canary.ids)
    pushed = observe.pushed(await observe.fcm_messages(push_fleet))
    return any(u == user for u, _ in pushed)


async def _settle(
    name: str,
    stack: Stack,
    target: Target,
    client: redis_async.Redis,
    keys: Keys,
    clients: list[RecordingClient],
    timing: Timing,
    recovery_s: float | None,
) -> Verdict:
    """Check until everything is accounted for or `settle_s` runs out; the last check is the verdict."""
    # After an FCM outage, retries wait out their backoff and the circuit breaker (PUSH_RETRY_*,
    # BREAKER_*): give them longer before calling anything lost.
    stretch = 2.5 if name == "fcm-unavailable" else 1.0
    deadline = time.monotonic() + timing.settle_s * stretch
    progress: tuple[int, int, int, int] | None = None
    quiet_since = time.monotonic()
    while True:
        stored = await observe.stored(stack.fleet, stack.database_url)
        verdict = check(
            name,
            target.publisher.published,
            [c.log for c in clients],
            stored.ids,
            stored.inbox,
            observe.pushed(await observe.fcm_messages(stack.fleet)),
            [*target.dead_letters_wiped, *await observe.dead_letters(client, keys)],
            recovery_s,
        )
        if (verdict.lost == 0 and verdict.unstored == 0) or time.monotonic() > deadline:
            return verdict
        now = (verdict.delivered, verdict.pushed, verdict.dead_lettered, verdict.unstored)
        if now != progress:
            progress, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since > timing.quiet_s * stretch:
            return verdict  # nothing moved for quiet_s: what is missing now stays missing
        await asyncio.sleep(1.0)
