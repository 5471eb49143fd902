"""S8 reconnect storm and drain: N clients reconnect within a few seconds, each with the `last_id`
of the last notification it saw; then one gateway is stopped (SIGTERM) with its clients on it.

It runs on the delivery path only (router + gateways, as S2 and S3): catch-up reads the feeds the
router writes and nothing else; history and push-worker would take the cores the gateways need.

Storm: connect every client, publish one unicast to each and broadcasts to the `driver` role
(half of them hold it, the other half are `rider`s), disconnect all, publish a few more unicasts
per client and more broadcasts, then reconnect all within `s8_storm_s` with their `last_id`.
Measured: connect start to `catchup.done` (p50/p99), lost, duplicates, gaps, and the Redis reads
the catch-ups made (XREVRANGE calls) against those single flight saved.

Drain: SIGTERM gateway-1 while unicasts keep going to its clients; each client reconnects to
gateway-2 after a 1001: at once when the reason has no hint (a gateway without the paced drain),
else after a random 0..retry_ms wait (clients.reconnect_delay_s, docs/protocol.md). Measured:
gateway-2's peak reconnect attempts per second (what the clients offer: the drain's pacing) and
peak connects served per second (to `catchup.done`), the reconnects' catch-up p99, and
lost/duplicated notifications of the drain.
"""

from __future__ import annotations

import signal
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import redis
from devstack.fleet import dev_token
from notify_common.keys import GROUP_ROUTER, Keys
from prometheus_client.parser import text_string_to_metric_families

from bench.clients import ClientSpec
from bench.fleetrun import FleetRun, fleet_run
from bench.procstats import CpuMeter
from bench.profiling import Profiler
from bench.publisher import Planned, publish_paced
from bench.sizes import Sizes
from bench.waiting import wait_for_frames

DELIVERY_PATH = ("router",)
BROADCAST_ROLE = "driver"
QUIET_ROLE = "rider"
PUBLISH_RATE_PER_S = 4000
DEADLINE_S = 120.0
DRAINED = "gateway-1"
SURVIVOR = "gateway-2"


def run(sizes: Sizes, workdir: Path, profiler: Profiler) -> dict[str, Any]:
    with fleet_run(workdir, gateways=2, services=DELIVERY_PATH, client_workers=sizes.client_workers) as fr:
        specs = storm_specs(fr, sizes.s8_clients)
        storm = run_storm(fr, sizes, specs, profiler)
        drain = run_drain(fr, sizes, specs)
    return {**storm, "drain": drain, "services": ["router", "gateway-1", "gateway-2"]}


def storm_specs(fr: FleetRun, count: int) -> list[ClientSpec]:
    """User i: role driver if even, on gateway-1 or -2 alternately per worker, the other as fallback."""
    assert fr.pool is not None
    workers = len(fr.pool.pipes)
    first, second = fr.fleet.gateway_url(DRAINED), fr.fleet.gateway_url(SURVIVOR)
    specs = []
    for i in range(count):
        url, fallback = (first, second) if (i // workers) % 2 == 0 else (second, first)
        role = BROADCAST_ROLE if i % 2 == 0 else QUIET_ROLE
        specs.append(ClientSpec(f"s8u{i}", url, dev_token(f"s8u{i}", [role], ttl_s=3600), fallback))
    return specs


def plan_round(name: str, specs: list[ClientSpec], unicasts: int, broadcasts: int) -> list[Planned]:
    plan = [
        Planned(f"s8-{name}-u{k}-{s.user_id}", {"kind": "users", "ids": [s.user_id]}, "bench.unicast")
        for k in range(unicasts)
        for s in specs
    ]
    plan += [
        Planned(f"s8-{name}-b{k}", {"kind": "role", "role": BROADCAST_ROLE}, "bench.broadcast")
        for k in range(broadcasts)
    ]
    return plan


def expected_receivers(plan: list[Planned], specs: list[ClientSpec]) -> dict[str, int]:
    drivers = sum(1 for i in range(len(specs)) if i % 2 == 0)
    return {p.id: drivers if p.audience["kind"] == "role" else 1 for p in plan}


def run_storm(fr: FleetRun, sizes: Sizes, specs: list[ClientSpec], profiler: Profiler) -> dict[str, Any]:
    pool = fr.pool
    assert pool is not None
    report = pool.connect(specs)
    if report["failures"]:
        raise RuntimeError(f"{report['failures']} clients failed to connect: {report['first_failures']}")
    before = plan_round("seen", specs, 1, 2)
    publish_paced(fr.client, fr.keys, before, PUBLISH_RATE_PER_S)
    wait_for_frames(pool, sum(expected_receivers(before, specs).values()), sizes.drain_quiet_s)
    pool.disconnect([s.user_id for s in specs])
    fr.settle()
    missed = plan_round("missed", specs, sizes.s8_missed_unicasts, sizes.s8_missed_broadcasts)
    publish_paced(fr.client, fr.keys, missed, PUBLISH_RATE_PER_S)
    wait_routed(fr.client, fr.keys)
    fr.settle()
    pool.reset()
    reads_before, xrevrange_before = catchup_reads(fr), xrevrange_calls(fr.client)
    meter = CpuMeter(fr.pids()).start()
    profiled = ("gateway-1", "gateway-2", "bench-clients-1")
    with profiler.attach("s8", fr.pids(), sizes.s8_storm_s * 3, profiled):
        storm = pool.storm(specs, sizes.s8_storm_s)
        wait_for_catchups(fr, len(specs))
    cpu = meter.stop()
    expected = expected_receivers(missed, specs)
    wait_for_frames(pool, sum(expected.values()), sizes.drain_quiet_s)
    got = pool.report()
    reads_after, xrevrange_after = catchup_reads(fr), xrevrange_calls(fr.client)
    reads = {k: reads_after.get(k, 0) - reads_before.get(k, 0) for k in reads_after}
    return {
        "clients": len(specs),
        "storm_s": sizes.s8_storm_s,
        "connect_seconds": storm["seconds"],
        "connect_failures": storm["failures"],
        "first_failures": storm["first_failures"],
        "catchups": got.catchups,
        "catchup_p50_ms": got.catchup.quantile_ms(0.5),
        "catchup_p99_ms": got.catchup.quantile_ms(0.99),
        "catchup_max_ms": round(got.catchup.max_us / 1000, 3),
        "peak_connects_per_s": peak_per_second(got.connected_at),
        "missed_published": len(missed),
        "missed_deliveries_expected": sum(expected.values()),
        "replayed": got.replayed,
        "gaps": got.gaps,
        "lost": sum(max(0, n - got.receivers.get(nid, 0)) for nid, n in expected.items()),
        "duplicates": got.duplicates,
        "replayed_already_seen": sum(n for nid, n in got.receivers.items() if nid not in expected),
        "redis_xrevrange_calls": xrevrange_after - xrevrange_before,
        "catchup_reads": reads,
        "room_reads_saved": reads.get("room/shared", 0),
        "cpu_s": cpu,
        "catchup_curve": got.catchup.percentile_curve(),
    }


def run_drain(fr: FleetRun, sizes: Sizes, specs: list[ClientSpec]) -> dict[str, Any]:
    """SIGTERM gateway-1 with its clients connected; its clients move to gateway-2."""
    pool = fr.pool
    assert pool is not None
    drained_url = fr.fleet.gateway_url(DRAINED)
    moving = [s for s in specs if s.url == drained_url]
    plan = [
        Planned(f"s8-drain-{k}", {"kind": "users", "ids": [moving[k % len(moving)].user_id]}, "bench.unicast")
        for k in range(int(sizes.s8_drain_rate_per_s * sizes.s8_drain_publish_s))
    ]
    pool.reset()
    process = fr.fleet.processes[DRAINED]
    sent_at = time.time()
    process.signal(signal.SIGTERM)
    publish_paced(fr.client, fr.keys, plan, sizes.s8_drain_rate_per_s)
    exit_code = process.process.wait(DEADLINE_S) if process.process is not None else None
    stopped_s = time.time() - sent_at
    settled = pool.settle(DEADLINE_S)
    wait_for_catchups(fr, len(moving))
    wait_routed(fr.client, fr.keys)
    wait_for_frames(pool, len(plan), sizes.drain_quiet_s)
    got = pool.report()
    return {
        "moved_clients": len(moving),
        "reconnected": got.catchups,
        "reconnect_failures": got.reconnect_failures,
        "first_reconnect_failures": got.first_reconnect_errors[:3],
        "failed_attempts": got.failed_attempts,
        "still_reconnecting": settled["reconnecting"],
        "connected_after": settled["connected"],
        "drained_exit_code": exit_code,
        "drained_stop_s": round(stopped_s, 2),
        "survivor_peak_connects_per_s": peak_per_second(got.connected_at),
        "survivor_peak_attempts_per_s": peak_per_second(got.opened_at),
        "reconnect_span_s": round(max(got.connected_at) - sent_at, 2) if got.connected_at else None,
        "catchup_p50_ms": got.catchup.quantile_ms(0.5),
        "catchup_p99_ms": got.catchup.quantile_ms(0.99),
        "published": len(plan),
        "lost": sum(1 for p in plan if got.receivers.get(p.id, 0) == 0),
        "duplicates": got.duplicates,
        "gaps": got.gaps,
    }


def peak_per_second(stamps: list[float]) -> int:
    """The most events within any one-second bucket of wall-clock time."""
    return max(Counter(int(t) for t in stamps).values(), default=0)


def wait_routed(client: redis.Redis, keys: Keys) -> None:
    """Until the router's group has read and acknowledged every ingress entry (poll, deadline)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        groups = client.xinfo_groups(keys.ingress)
        router = next((g for g in groups if g["name"].decode() == GROUP_ROUTER), None)
        if router is not None and router["pending"] == 0 and router.get("lag") == 0:
            return
        time.sleep(0.05)
    raise TimeoutError("router did not catch up with ingress")


def wait_for_catchups(fr: FleetRun, count: int) -> None:
    assert fr.pool is not None
    deadline = time.monotonic() + DEADLINE_S
    while fr.pool.progress()["catchups"] < count and time.monotonic() < deadline:
        time.sleep(0.05)


def xrevrange_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_xrevrange", {}).get("calls", 0))


def catchup_reads(fr: FleetRun) -> dict[str, float]:
    """nf_gateway_catchup_reads_total summed over the gateways, by `feed/shared`."""
    totals: dict[str, float] = {}
    for name, url in fr.metrics_urls().items():
        if not name.startswith("gateway") or fr.fleet.processes[name].process is None:
            continue
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        for family in text_string_to_metric_families(text):
            if family.name != "nf_gateway_catchup_reads":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    served = "shared" if sample.labels["shared"] == "true" else "read"
                    key = f"{sample.labels['feed']}/{served}"
                    totals[key] = totals.get(key, 0) + sample.value
    return totals
