"""When to stop sending as a whole: the circuit breaker (FCM down) and the auth alarm.

Both only decide; the sender defers what they hold back to the durable retry schedule, so a
paused worker keeps every message and burns neither CPU nor quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from push_worker import metrics

State = Literal["closed", "open", "half_open"]
ALL_PLATFORMS = "*"
CREDENTIALS = "CREDENTIALS"


@dataclass
class Breaker:
    """Opens after `failures` consecutive FCM-unavailable answers; one probe batch after the pause."""

    failures: int
    open_s: float
    max_open_s: float
    clock: Callable[[], float] = time.monotonic
    state: State = "closed"
    consecutive: int = 0
    reopen_at: float = 0.0
    _pause_s: float = 0.0
    _probing: bool = False

    def allow(self) -> bool:
        """May a batch be sent now? In half-open state only one probe batch at a time."""
        if self.state == "closed":
            return True
        if self.state == "open" and self.clock() >= self.reopen_at:
            self.state, self._probing = "half_open", False
        if self.state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def wait_s(self) -> float:
        """Seconds until a batch may be sent (0 when closed or probing is due)."""
        if self.state == "closed":
            return 0.0
        return max(0.0, self.reopen_at - self.clock())

    def record(self, successes: int, down: int, retry_after_s: float | None = None) -> None:
        """Feed one batch's result: any success closes; FCM-down failures count towards opening."""
        if successes:
            if self.state != "closed":
                metrics.BREAKER_TRANSITIONS.labels(to="closed").inc()
                metrics.BREAKER_OPEN.set(0)
            self.state, self.consecutive, self._pause_s, self._probing = "closed", 0, 0.0, False
            return
        if not down:
            if self.state == "half_open":
                self._probing = False  # the probe told nothing about FCM: probe again
            return
        self.consecutive += down
        if self.state == "half_open":
            self._open(self._pause_s * 2, retry_after_s)
        elif self.state == "closed" and self.consecutive >= self.failures:
            self._open(self.open_s, retry_after_s)

    def _open(self, pause_s: float, retry_after_s: float | None) -> None:
        self._pause_s = min(self.max_open_s, max(self.open_s, pause_s))
        wait = max(self._pause_s, retry_after_s or 0.0)
        self.state, self._probing, self.reopen_at = "open", False, self.clock() + wait
        metrics.BREAKER_TRANSITIONS.labels(to="open").inc()
        metrics.BREAKER_OPEN.set(1)


@dataclass
class AuthAlarm:
    """Sending paused after an auth failure: for everyone (our credentials) or one platform."""

    retry_s: float
    clock: Callable[[], float] = time.monotonic
    paused: dict[str, tuple[str, float]] = field(default_factory=dict)
    """scope ("*" or a platform) -> (reason, monotonic time of the next probe)."""

    @property
    def alarmed(self) -> bool:
        return bool(self.paused)

    def reasons(self) -> dict[str, str]:
        return {scope: reason for scope, (reason, _) in self.paused.items()}

    def allows(self, platform: str) -> bool:
        """False while `platform` (or everything) is paused and its next probe is not due."""
        now = self.clock()
        for scope in (ALL_PLATFORMS, platform):
            held = self.paused.get(scope)
            if held is not None and now < held[1]:
                return False
        return True

    def wait_s(self, platform: str) -> float:
        now = self.clock()
        waits = [held[1] - now for s in (ALL_PLATFORMS, platform) if (held := self.paused.get(s))]
        return max([0.0, *waits])

    def trip(self, scope: str, reason: str) -> None:
        self.paused[scope] = (reason, self.clock() + self.retry_s)
        metrics.AUTH_FAILED.set(1)

    def clear(self, platform: str) -> None:
        """A send on `platform` succeeded: our credentials and that platform's work again."""
        cleared = [self.paused.pop(scope, None) for scope in (ALL_PLATFORMS, platform)]
        if any(cleared):
            metrics.AUTH_FAILED.set(1 if self.paused else 0)

    def credentials_work(self) -> None:
        """An OAuth refresh succeeded: lift a pause that a refused refresh put on everything."""
        held = self.paused.get(ALL_PLATFORMS)
        if held is not None and held[0].startswith(CREDENTIALS):
            del self.paused[ALL_PLATFORMS]
            metrics.AUTH_FAILED.set(1 if self.paused else 0)
