"""A real fleet (router, history, push-worker, two gateways) on a Redis of the module's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.fleet import Fleet
from devstack.redis_server import RedisServer, start_redis


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    server: RedisServer = start_redis()
    workdir: Path = tmp_path_factory.mktemp("fleet")
    # The token notice is 60 s in production; 3 s lets a test see token.expiring quickly.
    running = Fleet(server.url, workdir, gateways=2, extra_env={"TOKEN_NOTICE_S": "3"}).start()
    try:
        yield running
    finally:
        statuses = running.stop()
        server.stop()
        assert all(code == 0 for code in statuses.values()), statuses
