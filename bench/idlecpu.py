"""What idle sockets cost a gateway's CPU: one node holding N authenticated, silent sockets.

`python -m bench.idlecpu --connections 19800 --seconds 120` starts Redis and one gateway node
(its own process, production logging), connects N clients from worker processes (each process
has its own open-file limit), waits until every socket has been pinged once, then reads the
node's CPU seconds from /proc over the window. Prints the share of a core, per 1,000 sockets
(above the node's CPU with no socket, read first) and projected to 50,000 (the issue's target;
this box's open-file limit stops at ~19,800): no-socket share + 50 x the per-1,000 share.
`--pid-file` writes the node's pid when the window opens, for a profiler to attach to
(bench/FINDINGS.md F17). Not a scenario: S3 reports the same figure within its own run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.clients import ClientPool
from bench.fleetrun import fleet_run
from bench.procstats import cpu_split, raise_nofile_limit
from bench.s3_idle import FD_RESERVE, NODE, PER_WORKER, connect, node_socket_limit

PROJECTED_CONNECTIONS = 50_000
EMPTY_WINDOW_S = 30.0
"""How long the node's CPU is read before any socket connects: its fixed cost (heartbeats,
the ping wheel's ticks, the loop-lag probe, the consumer's blocking reads)."""


def cpu_pct(pid: int, seconds: float) -> float:
    """The share of a core (%) process `pid` uses over the next `seconds`."""
    before, started = sum(cpu_split(pid)), time.monotonic()
    time.sleep(seconds)
    return (sum(cpu_split(pid)) - before) / (time.monotonic() - started) * 100


def per_thousand(pct: float, connections: int) -> float:
    """Share of a core (%) per 1,000 idle sockets."""
    return pct / connections * 1000 if connections else 0.0


def measure(
    connections: int, seconds: float, ping_interval_s: float, pid_file: Path | None
) -> dict[str, Any]:
    env = {"PING_INTERVAL_S": str(ping_interval_s)}
    with tempfile.TemporaryDirectory(prefix="idlecpu-") as workdir:
        with fleet_run(Path(workdir), gateways=1, services=(), service_env={NODE: env}) as run:
            pid = run.gateway_pids()[NODE]
            n = min(connections, node_socket_limit(pid))
            run.settle()
            empty_pct = cpu_pct(pid, min(seconds, EMPTY_WINDOW_S))
            run.pool = ClientPool(max(2, math.ceil(n / PER_WORKER)))
            connect(run, run.pool, 0, n)
            run.settle()
            time.sleep(ping_interval_s)  # every socket pinged once: the wheel's steady state
            load_before = os.getloadavg()
            if pid_file is not None:
                pid_file.write_text(str(pid))
            user0, sys0 = cpu_split(pid)
            started = time.monotonic()
            time.sleep(seconds)
            user1, sys1 = cpu_split(pid)
            wall = time.monotonic() - started
            pool_connected = len(run.pool.connected)
    pct = (user1 - user0 + sys1 - sys0) / wall * 100
    per_1k = per_thousand(pct - empty_pct, n)
    return {
        "connections": n,
        "connected_at_end": pool_connected,
        "ping_interval_s": ping_interval_s,
        "window_s": round(wall, 1),
        "cpu_pct": round(pct, 2),
        "user_pct": round((user1 - user0) / wall * 100, 2),
        "system_pct": round((sys1 - sys0) / wall * 100, 2),
        "cpu_pct_no_sockets": round(empty_pct, 2),
        "cpu_pct_per_1k": round(per_1k, 4),
        "cpu_pct_50k_projected": round(empty_pct + per_1k * PROJECTED_CONNECTIONS / 1000, 2),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "fd_reserve": FD_RESERVE,
    }


def main_cli() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.idlecpu", description=__doc__)
    p.add_argument("--connections", type=int, default=19_800)
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--ping-interval-s", type=float, default=30.0)
    p.add_argument("--pid-file", type=Path, default=None)
    args = p.parse_args()
    raise_nofile_limit()
    print(json.dumps(measure(args.connections, args.seconds, args.ping_interval_s, args.pid_file), indent=1))


if __name__ == "__main__":
    main_cli()
