"""`python -m bench --size smoke --scenarios s9`: the scaling curve runs each step end to end; and
`s9_cluster`, the same on a local Redis Cluster (`make test-cluster`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]


def run_smoke(scenario: str, out: Path) -> dict[str, Any]:
    """The scenario's result from a smoke-size run (not recorded)."""
    command = [sys.executable, "-m", "bench", "--size", "smoke", "--scenarios", scenario, "--no-record"]
    proc = subprocess.run(
        [*command, "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=170, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result: dict[str, Any] = json.loads((out / f"{scenario}.json").read_text())[scenario]
    return result


def test_s9_runs_every_step_and_measures_the_redis_bytes_of_the_plan(tmp_path: Path) -> None:
    s9 = run_smoke("s9", tmp_path)
    assert [s["routers"] for s in s9["router_steps"]] == s9["steps"]
    assert [s["gateways"] for s in s9["gateway_steps"]] == s9["steps"]
    assert all(s["events_per_s"] > 0 for s in s9["router_steps"])
    assert all((s["lost"], s["duplicates"]) == (0, 0) for s in s9["gateway_steps"])
    assert {"router", "router-2"} <= set(s9["router_steps"][1]["cpu_s"])
    assert all(s9["redis_bytes"][k] > 0 for k in ("presence_per_socket", "feed_entry", "idempotency_key"))


@pytest.mark.cluster
def test_s9_cluster_spreads_router_events_over_every_ingress_shard(tmp_path: Path) -> None:
    s9 = run_smoke("s9_cluster", tmp_path)
    assert s9["stream_shards"] == 6
    assert sum(len(streams) for streams in s9["ingress_shards_by_master"].values()) == 6
    for step in s9["router_steps"]:
        assert len(step["ingress_entries_by_shard"]) == 6
        assert all(n > 0 for n in step["ingress_entries_by_shard"])
        assert sum(step["ingress_entries_by_shard"]) == step["events"]
        assert sum(1 for name in step["cpu_s"] if name.startswith("redis-master-")) == 3
    assert all((s["lost"], s["duplicates"]) == (0, 0) for s in s9["gateway_steps"])
