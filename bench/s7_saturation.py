"""S7 saturation: S1's unicast load on the whole fleet, stepped up until it no longer keeps up.

Each step publishes at one rate for a fixed time (the same 5,000 clients as S1, each event to one
random user), waits for the frames, then for the fleet to be idle again, so steps do not overlap.
A step holds its rate when the publisher reached it (95%), p99 stayed within 50 ms and nothing was
lost; `max_rate_per_s` is the highest rate held. Stepping stops after the first step that fails
badly (p99 over 1 s, or notifications lost after the drain): higher rates would only fail worse.
"""

from __future__ import annotations

import random
from typing import Any

from bench import looplag
from bench.fleetrun import FleetRun
from bench.procstats import CpuMeter, fleet_cpu
from bench.publisher import Planned, publish_paced
from bench.sizes import Sizes
from bench.waiting import wait_for_frames

SEED = 7
HELD_P99_MS = 50.0
HELD_PUBLISH_SHARE = 0.95
"""The publisher shares the cores with the fleet: a step it could not publish at was not held."""
GIVE_UP_P99_MS = 1000.0
DRAIN_DEADLINE_S = 180.0
"""A saturated step leaves a backlog in the streams; wait this long for it to be delivered."""


def run(run: FleetRun, sizes: Sizes) -> dict[str, Any]:
    assert run.pool is not None
    run.ensure_clients(sizes.s1_clients)
    rng = random.Random(SEED)
    steps: list[dict[str, Any]] = []
    for rate in sizes.s7_rates:
        steps.append(_step(run, sizes, rng, rate))
        if steps[-1]["gave_up"]:
            break  # the rates above would only fail worse, and take long to drain
    return {
        "clients": sizes.s1_clients,
        "gateways": sizes.gateways,
        "step_s": sizes.s7_step_s,
        "rates_per_s": list(sizes.s7_rates),
        "max_rate_per_s": max((s["rate_per_s"] for s in steps if s["held"]), default=0),
        "held_p99_ms": HELD_P99_MS,
        "held_when": f"published >= {HELD_PUBLISH_SHARE:.0%} of rate, p99 <= {HELD_P99_MS:g} ms, none lost",
        "services": sorted(run.fleet.processes),
        "steps": steps,
    }


def _step(run: FleetRun, sizes: Sizes, rng: random.Random, rate: int) -> dict[str, Any]:
    assert run.pool is not None
    total = int(rate * sizes.s7_step_s)
    prefix = f"s7-{rate}-"
    users = sizes.s1_clients
    plan = [
        Planned(f"{prefix}{i}", {"kind": "users", "ids": [f"u{rng.randrange(users)}"]}, "bench.unicast")
        for i in range(total)
    ]
    settled_s = run.settle()
    run.pool.reset()
    lag_before = looplag.scrape_all(run.metrics_urls())
    meter = CpuMeter(run.pids()).start()
    published = publish_paced(run.client, run.keys, plan, rate)
    wait_for_frames(run.pool, total, sizes.drain_quiet_s, DRAIN_DEADLINE_S)
    lag_after = looplag.scrape_all(run.metrics_urls())
    tail_s = run.settle()
    cpu = meter.stop()
    got = run.pool.report()
    delivered = sum(1 for nid in got.receivers if nid.startswith(prefix))
    latency = got.latency.summary_ms()
    lost = total - delivered
    held = (
        published.rate_per_s >= HELD_PUBLISH_SHARE * rate and latency["p99_ms"] <= HELD_P99_MS and lost == 0
    )
    return {
        "rate_per_s": rate,
        "published": published.count,
        "publish_rate_per_s": published.rate_per_s,
        "delivered": delivered,
        **latency,
        "lost": lost,
        "duplicates": got.duplicates,
        "held": held,
        "gave_up": lost > 0 or latency["p99_ms"] > GIVE_UP_P99_MS,
        **fleet_cpu(cpu, run.fleet_pids(), delivered),
        "loop_lag_p99_ms": looplag.p99_by_service(lag_before, lag_after),
        "settle_s": settled_s,
        "fleet_idle_after_s": tail_s,
        "cpu_s": cpu,
    }
