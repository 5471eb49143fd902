"""The client SDKs against a real fleet: Node (and Chromium for the browser test) run the client
side; the fleet runs as the same local processes `make run` starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devstack.fleet import Fleet
from devstack.redis_server import RedisServer, start_redis


@pytest.fixture(scope="package")
def fleet_redis() -> Iterator[RedisServer]:
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def fleet(fleet_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two gateways, router, history, push-worker and the inbox page (its origin allowed), shared
    by the SDK and browser tests; a test that kills a node starts it again."""
    running = Fleet(fleet_redis.url, tmp_path_factory.mktemp("fleet"), gateways=2, inbox_page=True).start()
    try:
        yield running
    finally:
        running.stop()
