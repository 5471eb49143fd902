"""Scenario sizes: `full` is the fixed benchmark of the issue; `smoke` runs each in seconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    name: str
    gateways: int
    client_workers: int
    s1_clients: int
    s1_rate_per_s: int
    s1_seconds: float
    s2_interval_s: float
    s2_seconds: float
    s3_connections: int
    s3_large_connections: int
    """S3's second, larger step, all on one node (capped by the node's open-file limit)."""
    s3_idle_cpu_s: float
    """How long S3 reads the node's CPU while it holds the large step's idle sockets."""
    s4_pushes: int
    s4_window_s: float
    """S4 stops waiting for first attempts after this long (a bounded run even when slow)."""
    s4_backlog_pushes: int
    """Pushes queued at once for S4's backlog run (rounds of one notification to every device)."""
    s5_events: int
    s5_users_per_event: int
    s5_inbox_rows: int
    s5_inbox_queries: int
    s5_paced_rate_per_s: int
    s5_paced_seconds: float
    s6_users: int
    s6_nodes: int
    s6_events: int
    s6_users_per_event: int
    s7_rates: tuple[int, ...]
    """S7 unicast rates (events/s), stepped up in order."""
    s7_step_s: float
    drain_quiet_s: float
    """Stop waiting for stragglers after this long without a new frame."""
    s8_clients: int
    s8_storm_s: float
    """S8 reconnects every client within this many seconds."""
    s8_missed_unicasts: int
    """Unicasts each S8 client misses while disconnected (plus the broadcasts, for drivers)."""
    s8_missed_broadcasts: int
    s8_drain_rate_per_s: int
    """Unicasts per second to the drained node's clients while it drains."""
    s8_drain_publish_s: float
    s9_steps: tuple[int, ...]
    """S9: router processes, then gateway nodes, of each step of the scaling curve."""
    s9_router_events: int
    """Events of S6's shape (s6_users_per_event users each) routed at each router step."""
    s9_clients: int
    s9_broadcasts: int
    """Role broadcasts published at once to the S9 clients at each gateway step."""


FULL = Sizes(
    name="full",
    gateways=2,
    client_workers=2,
    s1_clients=5000,
    s1_rate_per_s=1000,
    s1_seconds=20.0,
    s2_interval_s=0.2,
    s2_seconds=10.0,
    s3_connections=10_000,
    s3_large_connections=50_000,
    s3_idle_cpu_s=120.0,
    s4_pushes=10_000,
    s4_window_s=45.0,
    s4_backlog_pushes=100_000,
    s5_events=2_000,
    s5_users_per_event=50,
    s5_inbox_rows=1_000_000,
    s5_inbox_queries=2_000,
    s5_paced_rate_per_s=1000,
    s5_paced_seconds=15.0,
    s6_users=10_000,
    s6_nodes=4,
    s6_events=10_000,
    s6_users_per_event=10,
    s7_rates=(1000, 2000, 4000, 8000, 16_000),
    s7_step_s=10.0,
    drain_quiet_s=5.0,
    s8_clients=10_000,
    s8_storm_s=5.0,
    s8_missed_unicasts=2,
    s8_missed_broadcasts=3,
    s8_drain_rate_per_s=500,
    s8_drain_publish_s=6.0,
    s9_steps=(1, 2, 4),
    s9_router_events=20_000,
    s9_clients=4000,
    s9_broadcasts=40,
)

SMOKE = Sizes(
    name="smoke",
    gateways=2,
    client_workers=2,
    s1_clients=40,
    s1_rate_per_s=100,
    s1_seconds=1.0,
    s2_interval_s=0.2,
    s2_seconds=1.0,
    s3_connections=60,
    s3_large_connections=120,
    s3_idle_cpu_s=2.0,
    s4_pushes=200,
    s4_window_s=30.0,
    s4_backlog_pushes=1_000,
    s5_events=50,
    s5_users_per_event=4,
    s5_inbox_rows=2_000,
    s5_inbox_queries=50,
    s5_paced_rate_per_s=200,
    s5_paced_seconds=1.0,
    s6_users=200,
    s6_nodes=2,
    s6_events=300,
    s6_users_per_event=10,
    s7_rates=(100, 200),
    s7_step_s=2.0,
    drain_quiet_s=3.0,
    s8_clients=200,
    s8_storm_s=1.0,
    s8_missed_unicasts=2,
    s8_missed_broadcasts=2,
    s8_drain_rate_per_s=100,
    s8_drain_publish_s=1.0,
    s9_steps=(1, 2),
    s9_router_events=300,
    s9_clients=40,
    s9_broadcasts=5,
)

BY_NAME = {s.name: s for s in (FULL, SMOKE)}
