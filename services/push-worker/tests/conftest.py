from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis_async
from notify_common.keys import Keys

# Tests import their shared helpers (push_testkit) by name; pytest's importlib mode does not.
sys.path.insert(0, str(Path(__file__).parent))

from push_testkit import TEST_ENV, FakeFcm, Worker, push_config


@pytest.fixture(scope="session")
def fake_fcm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeFcm]:
    """The fake FCM on a thread of its own, for the whole session."""
    fake = FakeFcm.start(tmp_path_factory.mktemp("fcm"))
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fcm(fake_fcm: FakeFcm) -> FakeFcm:
    """The fake, all-ok and with nothing received."""
    fake_fcm.reset()
    return fake_fcm


@pytest.fixture
async def worker(redis: redis_async.Redis, keys: Keys, fcm: FakeFcm) -> AsyncIterator[Worker]:
    cfg = push_config(
        keys, FIREBASE_CREDENTIALS=str(fcm.service_account), FCM_BASE_URL=fcm.base_url, **TEST_ENV
    )
    running = Worker(cfg, redis, keys)
    try:
        yield running
    finally:
        await running.close()
