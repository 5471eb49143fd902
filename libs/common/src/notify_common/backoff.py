"""Backoff as a pure function, shared by every retry loop in the fleet."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int, *, base: float = 0.1, cap: float = 5.0, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry `attempt` (1-based): exponential with full jitter.

    Full jitter spreads reconnecting replicas apart, so a Redis restart is not met by a herd.
    """
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)
