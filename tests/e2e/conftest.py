from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.fleet import Fleet
from devstack.redis_server import RedisServer, start_redis


@pytest.fixture(scope="module")
def fleet_redis() -> Iterator[RedisServer]:
    """A Redis of the module's own: a running fleet must not see other tests flush it."""
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fleet(fleet_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    workdir: Path = tmp_path_factory.mktemp("fleet")
    running = Fleet(fleet_redis.url, workdir, gateways=2).start()
    try:
        yield running
    finally:
        statuses = running.stop()
        assert all(code == 0 for code in statuses.values()), statuses
