"""The collector policy: long-lived objects are frozen, everything is collected now and then."""

from __future__ import annotations

import asyncio
import gc

import structlog.testing
from devstack.polling import wait_until
from notify_common.gc_policy import keep_collections_short


async def test_survivors_are_frozen_and_a_full_collection_unfreezes_them_on_its_interval() -> None:
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(keep_collections_short(stop, freeze_every_s=0.02, full_every_s=0.1))
        try:
            await wait_until(lambda: gc.get_freeze_count() > 0)
            await wait_until(lambda: any(e["event"] == "gc_full_collection" for e in logs))
        finally:
            stop.set()
            await task
    assert gc.get_freeze_count() == 0  # stopping leaves the interpreter as it was
