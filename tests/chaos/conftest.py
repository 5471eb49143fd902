"""A fleet of the module's own on a Redis with AOF (hostile-input tests); probes are in chaos.probes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from devstack.fleet import Fleet
from devstack.redis_server import RedisServer, start_redis


@pytest.fixture(scope="module")
def aof_redis() -> Iterator[RedisServer]:
    server = start_redis(appendonly=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fleet(aof_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    workdir: Path = tmp_path_factory.mktemp("hostile")
    running = Fleet(aof_redis.url, workdir, gateways=2, extra_env={"LOG_FORMAT": "json"}).start(60.0)
    try:
        yield running
    finally:
        statuses = running.stop()
        assert all(code == 0 for code in statuses.values()), statuses


@pytest.fixture
def sync_redis(fleet: Fleet) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(fleet.redis_url)
    try:
        yield client
    finally:
        client.close()
