"""How long each phase of a scenario lasts: the CI profile (default) and the full-length one.

`CHAOS_PROFILE=long` selects the full durations of the reliability issue (30 s Redis and
PostgreSQL outages, 60 s of FCM 503s); the CI profile shortens outages so the tier fits its budget.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timing:
    name: str
    rate_per_s: float = 20.0
    """Events published per second."""
    load_s: float = 16.0
    """How long the publisher runs (the fault lands inside this window)."""
    fault_at_s: float = 5.0
    """Seconds after the load starts that the fault is injected."""
    down_s: float = 2.0
    """How long a SIGKILLed process stays dead before it is restarted."""
    outage_s: float = 10.0
    """Redis unreachable, full or partitioned from a service / PostgreSQL down or stalled."""
    frozen_s: float = 20.0
    """A gateway SIGSTOPped with its clients connected (longer than the node TTL, 15 s)."""
    fcm_unavailable_s: float = 20.0
    """Fake FCM answers 503 this long, then 429 with Retry-After."""
    settle_s: float = 60.0
    """After the load, how long the checker waits for every notification to be accounted for."""
    quiet_s: float = 30.0
    """…or until nothing has moved (deliveries, pushes, dead letters, rows) for this long."""
    online_users: int = 30
    offline_users: int = 10
    reconnects_per_s: float = 0.5
    """Clients that drop their socket and come back (phones losing signal)."""
    broadcast_share: float = 0.15
    """Of the events, role broadcasts (to every online driver)."""
    driver_share: float = 0.5
    """Of the online users, drivers (the role broadcasts go to)."""


CI = Timing("ci")
LONG = Timing(
    "long", load_s=60.0, fault_at_s=10.0, down_s=5.0, outage_s=30.0, fcm_unavailable_s=60.0, settle_s=120.0
)


LOAD = Timing(
    "load",
    rate_per_s=1000.0,
    load_s=40.0,
    fault_at_s=10.0,
    settle_s=120.0,
    online_users=5000,
    offline_users=1000,
    reconnects_per_s=10.0,
    broadcast_share=0.01,
    driver_share=0.02,
)
"""Production load (`make chaos-load`): 5,000 clients over both gateways, 1,000 events/s. Role
broadcasts are 1 % of the events to 2 % of the users (about 100 drivers), so deliveries stay
near 2,000 frames/s and the 2-core machine runs the fleet and every client in one go."""

PROFILES = {p.name: p for p in (CI, LONG, LOAD)}


def from_env() -> Timing:
    """CHAOS_PROFILE=ci (default), long or load."""
    name = os.environ.get("CHAOS_PROFILE", "ci")
    if name not in PROFILES:
        raise ValueError(f"CHAOS_PROFILE={name!r}: expected one of {sorted(PROFILES)}")
    return PROFILES[name]
