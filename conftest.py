"""Fixtures shared by every test in the repository.

Redis: a throwaway `redis-server` on a free port for the whole session (or a testcontainers
Redis when no binary exists but a Docker engine does; or the server in TEST_REDIS_URL, which is
flushed, so never point it at data you keep). The suite never touches a Redis it did not start
unless told to through TEST_REDIS_URL.

Redis Cluster and Sentinel (tests marked `cluster`, run by `make test-cluster`): `redis_cluster`
is a throwaway 3-master, 3-replica cluster for the session, `redis_sentinel` a throwaway master,
replica and 3 sentinels for one test (it may fail the master over); both always stopped.

PostgreSQL: `postgres_url` is a database in a throwaway cluster (initdb into a temp dir, a free
port, deleted at the end of the session), or the database in TEST_DATABASE_URL (tests wipe
what they create there). Tests that need it are skipped, with the reason, where no PostgreSQL
server binaries exist.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as redis_async
from notify_common.keys import Keys

if TYPE_CHECKING:
    from devstack.procs import Processes
    from devstack.redis_topologies import RedisClusterGroup, SentinelGroup


def _docker_redis() -> Iterator[str]:
    from testcontainers.redis import RedisContainer  # only where a Docker engine exists

    with RedisContainer("redis:7-alpine") as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(6379)
        yield f"redis://{host}:{port}/0"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a Redis server that this test session owns."""
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        yield given
        return
    if shutil.which("redis-server") is None and shutil.which("docker") is not None:
        yield from _docker_redis()
        return
    from devstack.redis_server import start_redis

    server = start_redis()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[redis_async.Redis]:
    """A client on the session's Redis, flushed before each test."""
    client = redis_async.Redis.from_url(redis_url)
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterGroup]:
    """A Redis Cluster this session owns (3 masters, 3 replicas, free ports, no persistence)."""
    from devstack.redis_topologies import start_cluster

    group = start_cluster()
    try:
        yield group
    finally:
        group.stop()


@pytest.fixture
def redis_sentinel() -> Iterator[SentinelGroup]:
    """A Sentinel group of the test's own: master, replica, 3 sentinels (quorum 2)."""
    from devstack.redis_topologies import start_sentinel

    group = start_sentinel()
    try:
        yield group
    finally:
        group.stop()


@pytest.fixture
def keys() -> Keys:
    """Key names under a per-test prefix, so leftovers of one test never leak into another."""
    return Keys(f"t{uuid.uuid4().hex[:8]}")


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Start service processes with `processes.start(proc)`; all are killed when the test ends."""
    from devstack.procs import Processes

    procs = Processes()
    try:
        yield procs
    finally:
        procs.kill_all()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL database that this test session owns (never the machine's own server)."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    from devstack.postgres_server import find_bin_dir, start_postgres

    if find_bin_dir() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql")
    server, url = start_postgres()
    try:
        yield url
    finally:
        server.stop()
