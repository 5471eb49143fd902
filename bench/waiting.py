"""Wait for clients to receive what was published: poll with a deadline, never a fixed sleep."""

from __future__ import annotations

import time

from bench.clients import ClientPool

POLL_S = 0.05


def wait_for_frames(pool: ClientPool, expected: int, quiet_s: float, deadline_s: float = 120.0) -> int:
    """Frames received once `expected` arrived, nothing new came for `quiet_s`, or the deadline."""
    deadline = time.monotonic() + deadline_s
    last_count = -1
    last_change = time.monotonic()
    while True:
        count = pool.frames()
        now = time.monotonic()
        if count != last_count:
            last_count, last_change = count, now
        if count >= expected or now - last_change > quiet_s or now > deadline:
            return count
        time.sleep(POLL_S)
