"""Wall-clock time as the fleet writes it into Redis: unix milliseconds."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Wall-clock unix milliseconds (shared across hosts, unlike monotonic time)."""
    return int(time.time() * 1000)
