"""run_until_stopped: a failed worker stops the others and is logged with its traceback."""

from __future__ import annotations

import asyncio

from notify_common.lifecycle import run_until_stopped
from structlog.testing import capture_logs


async def test_failed_worker_is_logged_with_its_traceback_and_stops_the_rest() -> None:
    stop = asyncio.Event()

    async def failing() -> None:
        raise AttributeError("'NoneType' object has no attribute 'writelines'")

    async def waiting() -> None:
        await stop.wait()

    with capture_logs() as logs:
        status = await run_until_stopped([failing(), waiting()], stop, grace_s=5)
    assert status == 1
    assert stop.is_set()
    [failed] = [e for e in logs if e["event"] == "worker_failed"]
    assert isinstance(failed["exc_info"], AttributeError)
    assert failed["exc_info"].__traceback__ is not None
