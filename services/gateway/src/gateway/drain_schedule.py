"""When a draining node closes each socket, and the reconnect hint it gives (pure functions)."""

from __future__ import annotations

import math

MIN_RETRY_MS = 1000
"""Smallest reconnect hint, so that even a node drained at once spreads its clients' reconnects."""

TICK_S = 0.02
"""The drain closes the sockets due every TICK_S (one timer, not one per socket)."""

CATCH_UP = 2.0
"""A drain behind its schedule closes at most this many times the planned rate."""

LATE_FACTOR = 1.5
"""A drain still not done after this many drain windows closes the rest at once."""


def retry_ms(window_s: float) -> int:
    """The reconnect hint: the client waits a random 0..retry_ms ms (a second window at most)."""
    return max(MIN_RETRY_MS, round(window_s * 1000))


def going_away_reason(hint_ms: int) -> str:
    """The 1001 close reason (well under the 123 bytes a close reason may have)."""
    return f"node shutting down: reconnect to any node after a random 0..retry_ms wait; retry_ms={hint_ms}"


def closes_due(count: int, done: int, elapsed_s: float, since_tick_s: float, window_s: float) -> int:
    """How many of `count` sockets should be closed `elapsed_s` into the drain (`done` are).

    A drain that fell behind its schedule (a starved loop) catches up at CATCH_UP times the rate,
    not in one burst onto the survivors; past LATE_FACTOR windows the rest go at once.
    """
    if window_s <= 0 or elapsed_s >= window_s * LATE_FACTOR:
        return count
    rate = count / window_s
    planned = min(count, int(elapsed_s * rate) + 1)
    catch_up = done + max(1, math.ceil(CATCH_UP * rate * min(since_tick_s, 10 * TICK_S)))
    return max(done, min(planned, catch_up))
