"""Keep the garbage collector's full collections short on long-running servers.

A full (generation 2) collection walks every tracked object of the process. A gateway holding
5,000 sockets has a quarter of a million of them, and each full collection stopped its event
loop for 40 to 200 ms, a dozen times in a 20 s load test: the whole latency tail. Objects that have
lived a few seconds (sockets, their sessions, caches) are rarely garbage, so they are frozen
(`gc.freeze()`: out of every collection's way; reference counting still frees them) and a full
collection then walks only what is newer. Garbage cycles among frozen objects are reclaimed by
one complete collection every `full_every_s`: one pause of that length per interval instead of
several a minute.
"""

from __future__ import annotations

import asyncio
import gc
import time

import structlog

from notify_common.lifecycle import sleep_unless_stopped

log = structlog.get_logger("notify_common.gc_policy")

FREEZE_EVERY_S = 5.0
FULL_EVERY_S = 600.0


async def keep_collections_short(
    stop: asyncio.Event, freeze_every_s: float = FREEZE_EVERY_S, full_every_s: float = FULL_EVERY_S
) -> None:
    """Freeze survivors every `freeze_every_s`; collect everything every `full_every_s`."""
    next_full = time.monotonic() + full_every_s
    try:
        while not await sleep_unless_stopped(stop, freeze_every_s):
            if time.monotonic() >= next_full:
                next_full = time.monotonic() + full_every_s
                gc.unfreeze()
                started = time.perf_counter()
                found = gc.collect()
                log.info(
                    "gc_full_collection", unreachable=found, ms=round((time.perf_counter() - started) * 1000)
                )
            gc.freeze()
    finally:
        gc.unfreeze()  # leave the interpreter as it was found (tests run many services in one)
