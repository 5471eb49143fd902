"""The e2e fleet runs on one throwaway redis-server, or with E2E_REDIS=cluster on a throwaway
Redis Cluster (3 masters, 3 replicas), or with E2E_REDIS=sentinel on a Sentinel group (master,
replica, 3 sentinels): `make test-cluster` runs the same tests on the last two."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.fleet import Fleet
from devstack.redis_server import RedisServer, start_redis
from devstack.redis_topologies import RedisClusterGroup, SentinelGroup, start_cluster, start_sentinel

TOPOLOGIES = {"single": start_redis, "cluster": start_cluster, "sentinel": start_sentinel}


@pytest.fixture(scope="module")
def fleet_redis() -> Iterator[RedisServer | RedisClusterGroup | SentinelGroup]:
    """A Redis of the module's own: a running fleet must not see other tests flush it."""
    server = TOPOLOGIES[os.environ.get("E2E_REDIS", "single")]()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fleet(
    fleet_redis: RedisServer | RedisClusterGroup | SentinelGroup, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    workdir: Path = tmp_path_factory.mktemp("fleet")
    running = Fleet(fleet_redis.url, workdir, gateways=2).start()
    try:
        yield running
    finally:
        statuses = running.stop()
        assert all(code == 0 for code in statuses.values()), statuses
