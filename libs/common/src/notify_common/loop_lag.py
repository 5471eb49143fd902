"""Event-loop lag: how late a sleeping task wakes, the first sign of a blocked or saturated loop.

A callback that runs for 5 ms delays every socket write, stream read and timer behind it by 5 ms;
CPU graphs do not show that, the lag does. One wake-up every `INTERVAL_S`: tens of µs of CPU
each on a virtual machine, so not more often than that.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Histogram

from notify_common.metrics import EVENT_LOOP_LAG_SECONDS

INTERVAL_S = 0.1
"""Sampling period: 10 samples a second, 600 a minute, enough for a p99 over a minute of
Prometheus rate(); each sample is a wake-up of an otherwise idle process (bench/FINDINGS.md F17)."""


async def monitor_loop_lag(
    stop: asyncio.Event, interval_s: float = INTERVAL_S, histogram: Histogram = EVENT_LOOP_LAG_SECONDS
) -> None:
    """Sleep `interval_s` at a time until `stop` is set; observe how late each wake-up came."""
    # time.monotonic, not loop.time(): uvloop's clock is cached per loop iteration in whole
    # milliseconds, which would hide the lag of callbacks that ran earlier in the same iteration.
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(interval_s)
        # asyncio may fire a timer up to its clock resolution early: a negative lag is no lag.
        histogram.observe(max(0.0, time.monotonic() - started - interval_s))
