"""A throwaway Redis and the fleet on it (through devstack), with client workers attached."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from devstack.fleet import Fleet, dev_token
from devstack.redis_server import RedisServer, start_redis
from notify_common.keys import Keys

from bench.clients import ClientPool, ClientSpec
from bench.procstats import cpu_seconds, rss_bytes
from bench.redis_clients import sync_client

BENCH_ROLE = "driver"
IDLE_CORE_SHARE = 0.05
"""A service using less than this share of one core is idle (heartbeats and pings only)."""
SETTLE_WINDOW_S = 1.0
SETTLE_DEADLINE_S = 60.0
# Production-like logging: JSON at info level (the console renderer costs more per line). The
# per-user rate limit is raised from 60 to 1,000 a minute, still counted as in production: S7
# sends a user up to 32 notifications in 10 s, and what the limit drops (by design, with a
# `dropped` receipt) would read as lost.
SERVICE_ENV = {"LOG_FORMAT": "json", "LOG_LEVEL": "info", "RATE_LIMIT_PER_USER": "1000"}


@dataclass
class FleetRun:
    """Everything a scenario drives: Redis, the services, a Redis client and the client pool."""

    redis_server: RedisServer | None
    """None when the fleet runs on a Redis given by URL (not started here)."""
    fleet: Fleet
    client: redis.Redis
    keys: Keys
    pool: ClientPool | None = None
    redis_pids: dict[str, int] = field(default_factory=dict)
    """The redis-servers of a Redis given by URL whose CPU is read (e.g. a cluster's nodes)."""

    def fleet_pids(self) -> dict[str, int]:
        """Every service and redis-server: what a notification costs the fleet to deliver.

        Not the load generator (clients, publisher) and not the fake FCM, which stands in for
        Google's servers."""
        pids = dict(self.fleet.pids())
        if self.redis_server is not None and self.redis_server.process is not None:
            # Popen runs the redis-server binary itself (no shell in between): this is its pid.
            pids["redis-server"] = self.redis_server.process.pid
        return {**pids, **self.redis_pids}

    def pids(self) -> dict[str, int]:
        """The fleet, the fake FCM if it runs, and the client workers (every CPU reading)."""
        pids = self.fleet_pids()
        if self.fleet.fcm is not None and self.fleet.fcm.process is not None:
            pids["fcm-fake"] = self.fleet.fcm.process.pid
        if self.pool is not None:
            pids.update(self.pool.pids)
        return pids

    def metrics_urls(self) -> dict[str, str]:
        """/metrics of every service, by name."""
        return {n: f"http://127.0.0.1:{p.ops_port}/metrics" for n, p in self.fleet.processes.items()}

    def gateway_pids(self) -> dict[str, int]:
        return {n: p for n, p in self.fleet.pids().items() if n.startswith("gateway")}

    def gateway_rss(self) -> dict[str, int]:
        return {n: rss_bytes(p) for n, p in self.gateway_pids().items()}

    def client_specs(self, first: int, count: int) -> list[ClientSpec]:
        """Users u<first>…; user i on gateway (i // workers) % gateways, so each worker uses both."""
        assert self.pool is not None
        workers = len(self.pool.pipes)
        names = sorted(self.fleet.gateway_ports)
        return [
            ClientSpec(
                user_id=f"u{i}",
                url=self.fleet.gateway_url(names[(i // workers) % len(names)]),
                token=dev_token(f"u{i}", [BENCH_ROLE], ttl_s=3600),
            )
            for i in range(first, first + count)
        ]

    def settle(self) -> float:
        """Wait until every service is idle again (a connect or close wave leaves work behind:
        presence writes, catch-up, receipts), so a scenario measures only its own load.
        Returns the seconds waited."""
        pids = self.fleet.pids()
        started = time.monotonic()
        while time.monotonic() - started < SETTLE_DEADLINE_S:
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            time.sleep(SETTLE_WINDOW_S)
            busiest = max(cpu_seconds(pid) - before[name] for name, pid in pids.items())
            if busiest / SETTLE_WINDOW_S < IDLE_CORE_SHARE:
                break
        return round(time.monotonic() - started, 1)

    def ensure_clients(self, count: int) -> dict[str, Any]:
        """Exactly users u0…u<count-1> connected; returns the connect report of new ones."""
        assert self.pool is not None
        have = len(self.pool.connected)
        if have > count:
            self.pool.disconnect([f"u{i}" for i in range(count, have)])
            return {"connected": count, "failures": 0}
        report = self.pool.connect(self.client_specs(have, count - have)) if count > have else {}
        if report and report["failures"]:
            raise RuntimeError(f"{report['failures']} clients failed to connect: {report['first_failures']}")
        return report


@contextmanager
def fleet_run(
    workdir: Path,
    *,
    gateways: int,
    services: tuple[str, ...],
    client_workers: int = 0,
    service_env: dict[str, dict[str, str]] | None = None,
    redis_url: str | None = None,
    key_prefix: str = "nf",
    stream_shards: int | None = None,
    redis_pids: dict[str, int] | None = None,
) -> Iterator[FleetRun]:
    """Start Redis, the chosen services and `client_workers` client processes; stop all after.

    With `redis_url` (any REDIS_URL form, a `redis+cluster://` one too) the fleet runs on that
    Redis instead of a throwaway one; give each run its own `key_prefix` there, as earlier runs'
    keys stay, and the servers' pids in `redis_pids` to read their CPU. `stream_shards` is the
    fleet's STREAM_SHARDS (default: this process's, as devstack's)."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = start_redis() if redis_url is None else None
    url = server.url if server is not None else str(redis_url)
    fleet = Fleet(
        url,
        workdir,
        gateways=gateways,
        key_prefix=key_prefix,
        services=services,
        extra_env=dict(SERVICE_ENV),
        service_env=service_env or {},
    )
    if stream_shards is not None:
        fleet.stream_shards = stream_shards
    client = sync_client(url)
    pool: ClientPool | None = None
    try:
        fleet.start(timeout_s=60)
        pool = ClientPool(client_workers) if client_workers else None
        yield FleetRun(server, fleet, client, fleet.keys, pool, dict(redis_pids or {}))
    finally:
        if pool is not None:
            pool.close()
        fleet.stop()
        client.close()
        if server is not None:
            server.stop()
