"""periodic(): the one shape of every background loop."""

from __future__ import annotations

import asyncio

from devstack.polling import wait_until
from notify_common.lifecycle import periodic
from structlog.testing import capture_logs


async def test_a_failing_step_is_logged_with_its_traceback_and_run_again() -> None:
    stop = asyncio.Event()
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError("boom")
        stop.set()

    with capture_logs() as logs:
        await asyncio.wait_for(periodic("demo", step, 60.0, stop, backoff_base_s=0.01, backoff_cap_s=0.02), 5)
    failed = [e for e in logs if e["event"] == "loop_failed"]
    assert [e["failures"] for e in failed] == [1, 2]
    assert all(e["loop"] == "demo" and e["exc_info"] for e in failed)
    assert calls == 3


async def test_the_wait_a_step_returns_replaces_the_interval_and_stop_ends_the_wait() -> None:
    stop = asyncio.Event()
    calls = 0

    async def step() -> float | None:
        nonlocal calls
        calls += 1
        return 0 if calls < 5 else None  # work waiting: at once; then the (long) interval

    loop = asyncio.create_task(periodic("demo", step, 3600.0, stop))
    await wait_until(lambda: calls == 5)
    stop.set()
    await asyncio.wait_for(loop, 2)
    assert calls == 5
