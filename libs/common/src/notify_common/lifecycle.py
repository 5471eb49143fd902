"""Process lifecycle: a signal only sets an Event; main drains within a bound, then cancels."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import structlog

from notify_common.backoff import backoff_delay

log = structlog.get_logger("notify_common.lifecycle")


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set `stop`; everything else reacts to the event."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def run_until_stopped(
    workers: Sequence[Coroutine[Any, Any, None]], stop: asyncio.Event, grace_s: float
) -> int:
    """Run workers until `stop` is set (or one fails); give them `grace_s` to finish, then cancel.

    Returns the exit status: 0 after a clean stop, 1 if a worker failed.
    """
    tasks = [asyncio.create_task(w) for w in workers]
    stopper = asyncio.create_task(stop.wait())
    status = 0
    try:
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and not task.cancelled() and (failure := task.exception()) is not None:
                # the traceback too: a library's error (a redis-py race) names no line of ours
                log.error("worker_failed", error=repr(failure), exc_info=failure)
                status = 1
        stop.set()
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        if pending:
            log.warning("shutdown_grace_exceeded", cancelled=len(pending), grace_s=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    finally:
        stopper.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(stopper, *tasks, return_exceptions=True)
    return status


def spawn_owned(owner: set[asyncio.Task[Any]], work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run `work` as a task kept in `owner` until it ends (the owner cancels and awaits it at
    shutdown), so no task is left without one."""
    task = asyncio.get_running_loop().create_task(work)
    owner.add(task)
    task.add_done_callback(owner.discard)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task[None]) -> None:
    # Retrieving the exception here is what keeps a failed task from ending as asyncio's
    # "exception was never retrieved" at garbage collection, long after the fact and unlogged.
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("task_failed", task=getattr(task.get_coro(), "__qualname__", "?"), exc_info=error)


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` or until `stop` is set; True if it was set (the caller's loop should end)."""
    # A timeout around the wait, not wait_for: no task per call, one loop iteration fewer
    # (every background loop sleeps here, and an idle node's CPU is its wake-ups: bench/FINDINGS.md F17).
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True


Step = Callable[[], Awaitable[float | None]]
"""One pass of a background loop; returns the seconds until the next pass (None: the interval)."""


async def periodic(
    name: str,
    step: Step,
    interval_s: float,
    stop: asyncio.Event,
    *,
    backoff_base_s: float = 0.1,
    backoff_cap_s: float = 5.0,
) -> None:
    """Run `step` every `interval_s` until `stop` is set; the shape of every background loop.

    A step that raises is logged with its traceback (`loop_failed`, loop=`name`) and run again
    after a jittered backoff that grows with consecutive failures; only `stop` ends the loop.
    A step handles the errors it can act on itself and returns a shorter wait if it wants one.
    """
    failures = 0
    while not stop.is_set():
        try:
            wait_s = await step()
            failures = 0
        except Exception:
            failures += 1
            wait_s = backoff_delay(failures, base=backoff_base_s, cap=backoff_cap_s)
            log.exception("loop_failed", loop=name, failures=failures, retry_in_s=round(wait_s, 3))
        wait_s = interval_s if wait_s is None else wait_s
        if wait_s > 0:
            await sleep_unless_stopped(stop, wait_s)
        else:
            await asyncio.sleep(0)  # a loop with work waiting still lets the others run
