"""`python -m bench`: start the fleet, run the scenarios, write results, print the table."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    report,
    s1_unicast,
    s2_broadcast,
    s3_idle,
    s4_push,
    s5_history,
    s6_router,
    s7_saturation,
    s8_storm,
    s9_scaling,
)
from bench.fleetrun import fleet_run
from bench.procstats import machine, raise_nofile_limit
from bench.profiling import Profiler
from bench.sizes import BY_NAME, Sizes

ALL = ("s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8")
# Run only when named: S9 starts six fleets in turn for a scaling curve, not a target; s9_cluster
# is the same curve on a local Redis Cluster it starts (3 masters, 3 replicas).
ON_REQUEST = ("s9", "s9_cluster")
KNOWN = ALL + ON_REQUEST
# S2 and S3 run the delivery path only (router + gateways): history and push-worker read their
# own consumer groups, are measured in S4/S5, and would take the cores of the path under test.
DELIVERY_PATH = ("router",)
# S1 and S7 run the whole fleet as devstack does (history on SQLite, push-worker with the fake FCM
# idle): their CPU per notification is what the fleet spends, receipts and history rows included.
WHOLE_FLEET = ("router", "history", "push-worker")
WAIT_LOAD_S = 300.0
REPO = Path(__file__).resolve().parent.parent
LATEST = REPO / "bench" / "results" / "latest.json"
LATEST_PLOT = REPO / "bench" / "results" / "latest.png"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--size", choices=sorted(BY_NAME), default="full", help="full = the issue's sizes")
    p.add_argument(
        "--scenarios",
        default=",".join(ALL),
        help="comma-separated subset of s1…s8, or s9, s9_cluster (only when named)",
    )
    p.add_argument("--out", type=Path, default=None, help="result folder (default bench/out/<time>)")
    p.add_argument(
        "--wait-load",
        type=float,
        default=None,
        metavar="LOAD",
        help="first wait (up to 5 min) until the 1-minute load average is at most LOAD (shared machines)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the services under load (S1, S2, S4, S5, S6, S8, the first router of S9's steps)",
    )
    p.add_argument(
        "--record",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write bench/results/latest.json (default: a full run of every scenario); a run of "
        "some scenarios only replaces theirs and keeps the rest",
    )
    p.add_argument(
        "--redis-url",
        default=None,
        help="S9 only: run on this Redis (e.g. a cluster) instead of a throwaway one per step",
    )
    return p.parse_args(argv)


def wait_for_load(limit: float, max_wait_s: float) -> None:
    deadline = time.monotonic() + max_wait_s
    while os.getloadavg()[0] > limit and time.monotonic() < deadline:
        print(f"load {os.getloadavg()[0]:.2f} > {limit}: waiting…", file=sys.stderr, flush=True)
        time.sleep(10)


def _guarded(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.monotonic()
    print(f"running {name}…", file=sys.stderr, flush=True)
    try:
        result = fn()
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["wall_s"] = round(time.monotonic() - started, 2)
    return result


def run_scenarios(
    sizes: Sizes, chosen: list[str], workdir: Path, profiler: Profiler, redis_url: str | None = None
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    delivery_scenarios = [s for s in ("s3", "s2") if s in chosen]
    if delivery_scenarios:
        with fleet_run(
            workdir / "delivery-path",
            gateways=sizes.gateways,
            services=DELIVERY_PATH,
            client_workers=sizes.client_workers,
        ) as fr:
            for name in delivery_scenarios:
                match name:
                    case "s3":
                        results[name] = _guarded(name, lambda: s3_idle.run(fr, sizes))
                    case "s2":
                        results[name] = _guarded(name, lambda: s2_broadcast.run(fr, sizes, profiler))
    fleet_scenarios = [s for s in ("s1", "s7") if s in chosen]
    if fleet_scenarios:
        with fleet_run(
            workdir / "fleet",
            gateways=sizes.gateways,
            services=WHOLE_FLEET,
            client_workers=sizes.client_workers,
        ) as fr:
            for scenario in fleet_scenarios:
                match scenario:
                    case "s1":
                        results[scenario] = _guarded(scenario, lambda: s1_unicast.run(fr, sizes, profiler))
                    case "s7":
                        results[scenario] = _guarded(scenario, lambda: s7_saturation.run(fr, sizes))
    if "s4" in chosen:
        results["s4"] = _guarded("s4", lambda: s4_push.run(sizes, workdir / "s4", profiler))
    if "s5" in chosen:
        results["s5"] = _guarded("s5", lambda: s5_history.run(sizes, workdir / "s5", profiler))
    if "s6" in chosen:
        results["s6"] = _guarded("s6", lambda: s6_router.run(sizes, workdir / "s6", profiler))
    if "s8" in chosen:
        results["s8"] = _guarded("s8", lambda: s8_storm.run(sizes, workdir / "s8", profiler))
    if "s9" in chosen:
        results["s9"] = _guarded("s9", lambda: s9_scaling.run(sizes, workdir / "s9", profiler, redis_url))
    if "s9_cluster" in chosen:
        results["s9_cluster"] = _guarded(
            "s9_cluster", lambda: s9_scaling.run_on_cluster(sizes, workdir / "s9_cluster", profiler)
        )
    return {name: results[name] for name in KNOWN if name in results}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = BY_NAME[args.size]
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(chosen) - set(KNOWN)
    if unknown:
        print(
            f"unknown scenarios: {', '.join(sorted(unknown))} (choose from {', '.join(KNOWN)})",
            file=sys.stderr,
        )
        return 2
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir: Path = args.out or REPO / "bench" / "out" / stamp
    record = args.record if args.record is not None else (sizes.name == "full" and set(chosen) == set(ALL))
    raise_nofile_limit()
    if args.wait_load is not None:
        wait_for_load(args.wait_load, WAIT_LOAD_S)
    meta: dict[str, Any] = {
        "measured_at": stamp,
        "size": sizes.name,
        **report.git_commit(REPO),
        "machine": machine(),
    }
    started = time.monotonic()
    profiler = Profiler(out_dir / "profiles" if args.profile else None)
    # Service logs and databases stay beside the results, for a look after a surprising figure.
    results = run_scenarios(sizes, chosen, out_dir / "work", profiler, args.redis_url)
    meta["total_wall_s"] = round(time.monotonic() - started, 1)
    meta["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    if profiler.summaries:
        meta["profiles"] = profiler.summaries
    report.write_scenarios(out_dir, results, meta)
    title = f"{sizes.name} run {stamp}, commit {meta['commit'][:10]}, load {meta['machine']['loadavg']}"
    report.plot(out_dir / "latency.png", results, title)
    if record and set(chosen) >= set(ALL):
        report.write_latest(LATEST, results, meta, keep=ON_REQUEST)
        report.plot(LATEST_PLOT, results, title)
    elif record:
        # A failed scenario keeps its previous figures rather than recording its error.
        report.merge_latest(LATEST, {n: r for n, r in results.items() if "error" not in r}, meta)
    print(report.table(results))
    print(f"\nresults: {out_dir}" + (f" and {LATEST}" if record else ""))
    errors = {name: r["error"] for name, r in results.items() if "error" in r}
    for name, error in errors.items():
        print(f"{name} failed: {error}", file=sys.stderr)
    return 1 if errors else 0
