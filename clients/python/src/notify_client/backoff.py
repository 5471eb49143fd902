"""When to reconnect after a close, by close code (docs/protocol.md "Close codes"): never at
once, a random delay under a base that depends on the code (full jitter)."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_ABNORMAL = 1006
"""No close frame: network loss, node killed, ping unanswered, refused upgrade."""
CLOSE_TOO_BIG = 1009
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4408
CLOSE_RATE_LIMITED = 4429


@dataclass(frozen=True)
class Backoff:
    """Bases of the reconnect delay, in seconds."""

    base_s: float = 0.5
    """After a dropped connection or failed attempt (1006); doubles per attempt."""
    refused_base_s: float = 1.0
    """After 4401 (fresh token), 4408 (too slow) and 1009."""
    max_s: float = 30.0
    rate_limited_s: float = 5.0
    """After 4429, doubling per 4429 in a row."""
    rate_limited_max_s: float = 60.0
    going_away_s: float = 1.0
    """After 1001 when the reason carries no `retry_ms` hint."""
    max_hint_s: float = 60.0


@dataclass(frozen=True)
class ReconnectPlan:
    delay_s: float
    fresh_token: bool
    """Ask get_token() for a new token first (4401)."""


def jittered(base_s: float, attempt: int, cap_s: float, rand: Callable[[], float] = random.random) -> float:
    """Uniform between 0 and the base doubled per attempt (capped), so clients spread out."""
    return float(rand() * min(cap_s, base_s * 2.0 ** min(attempt, 30)))


_KEYED = re.compile(r"(?:reconnect|retry)[_-]?(?:after|within|in)?[_-]?(ms|s)\s*[=:]\s*(\d+(?:\.\d+)?)", re.I)
_SPOKEN = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?)\b", re.I)


def reconnect_hint_s(reason: str, max_hint_s: float = Backoff.max_hint_s) -> float | None:
    """The reconnect window a draining node gives in its 1001 reason (`…; retry_ms=5000`), in
    seconds, or None. Read defensively: `retry_ms: 2500` or `retry in 2.5 s` work too, and
    anything unreadable or out of range is ignored."""
    keyed = _KEYED.search(reason or "")
    spoken = _SPOKEN.search(reason or "")
    if keyed:
        seconds = float(keyed.group(2)) / (1000 if keyed.group(1).lower() == "ms" else 1)
    elif spoken:
        seconds = float(spoken.group(1)) / (1000 if spoken.group(2).lower().startswith("m") else 1)
    else:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, max_hint_s)


def plan_reconnect(
    code: int,
    reason: str,
    attempt: int,
    backoff: Backoff | None = None,
    rand: Callable[[], float] = random.random,
    rate_limited: int = 0,
) -> ReconnectPlan:
    """What to do after a close with `code`. `attempt` counts failed attempts since the last
    hello; `rate_limited` counts 4429 closes in a row before this one."""
    backoff = backoff or Backoff()
    if code == CLOSE_GOING_AWAY:
        window = reconnect_hint_s(reason, backoff.max_hint_s)
        return ReconnectPlan(rand() * (backoff.going_away_s if window is None else window), False)
    if code == CLOSE_UNAUTHORIZED:
        return ReconnectPlan(jittered(backoff.refused_base_s, attempt, backoff.max_s, rand), True)
    if code in (CLOSE_TOO_SLOW, CLOSE_TOO_BIG):
        return ReconnectPlan(jittered(backoff.refused_base_s, attempt, backoff.max_s, rand), False)
    if code == CLOSE_RATE_LIMITED:
        return ReconnectPlan(
            jittered(backoff.rate_limited_s, rate_limited, backoff.rate_limited_max_s, rand), False
        )
    return ReconnectPlan(jittered(backoff.base_s, attempt, backoff.max_s, rand), False)
