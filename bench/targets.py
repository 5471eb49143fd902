"""The issue's targets and the reference figures measured on the same kind of machine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    key: str
    """Dotted path into the results, e.g. `s1.p99_ms`."""
    op: str
    """`<=`, `>=`, or `` (reported, no target)."""
    value: float | None
    reference: str = ""

    def met(self, measured: float) -> bool:
        if self.value is None:
            return True
        return measured <= self.value if self.op == "<=" else measured >= self.value


TARGETS = (
    Target("s1.p50_ms", "", None),
    Target("s1.p99_ms", "<=", 5.0, "socket.io 6.5 ms, python-socketio 45 ms"),
    Target("s1.p999_ms", "<=", 15.0),
    Target("s1.lost", "<=", 0),
    Target("s1.duplicates", "<=", 0),
    Target("s1.fleet_cpu_us_per_notification", "<=", 300.0),
    Target("s2.p50_last_client_ms", "", None),
    Target("s2.p99_last_client_ms", "", None),
    Target("s2.deliveries_per_s", "", None, "python-socketio 13k of 25k/s"),
    Target("s2.gateway_cpu_us_per_delivery", "<=", 9.0, "socket.io 18 µs, python-socketio 116 µs"),
    Target("s2.lost", "<=", 0),
    Target("s3.kb_per_connection", "<=", 8.0, "socket.io 11.7 KB, python-socketio 30.5, bare aiohttp 14"),
    Target("s3.kb_per_connection_large", "<=", 8.0, "at s3.large_connections (50,000 if fds allow)"),
    Target("s3.idle_cpu_pct_large", "", None, "% of a core, at s3.large_connections, pings every 30 s"),
    Target("s3.idle_cpu_pct_per_1k", "", None, "% of a core per 1,000 idle sockets, above a node with none"),
    Target("s3.idle_cpu_pct_50k_projected", "<=", 2.0, "% of a core at 50,000: no-socket node + 50 x per 1k"),
    Target("s4.pushes_per_s", ">=", 5000),
    Target("s5.pg_rows_per_s", ">=", 20_000),
    Target("s5.sqlite_rows_per_s", "", None),
    Target("s5.sqlite_cpu_us_per_notification", "<=", 60.0),
    Target("s5.pg_cpu_us_per_notification", "<=", 60.0),
    Target("s5.inbox_p50_ms", "", None),
    Target("s5.inbox_p99_ms", "<=", 5.0),
    Target("s6.events_per_s", "", None),
    Target("s6.deliveries_per_s", ">=", 20_000),
    Target("s7.max_rate_per_s", ">=", 8000),
    Target("s8.catchup_p50_ms", "", None),
    Target("s8.catchup_p99_ms", "<=", 1000.0),
    Target("s8.lost", "<=", 0),
    Target("s8.duplicates", "<=", 0),
    Target("s8.room_reads_saved", "", None),
    Target("s8.drain.survivor_peak_attempts_per_s", "", None),
    Target("s8.drain.survivor_peak_connects_per_s", "", None),
    Target("s8.drain.catchup_p99_ms", "", None),
    Target("s8.drain.lost", "<=", 0),
)
