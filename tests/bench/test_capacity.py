"""bench.capacity's arithmetic on small hand-computed inputs, and how it reads latest.json."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench import capacity, report
from bench.capacity import Assumptions, Measured, Settings

MEASURED = Measured(
    gateway_kb_per_socket=10.0,
    gateway_baseline_mb=100.0,
    gateway_idle_core_per_socket=1e-6,
    gateway_us_per_delivery=50.0,
    gateway_us_per_broadcast_delivery=10.0,
    router_us_per_event=100.0,
    router_cluster_cost_factor=1.0,
    redis_us_per_notification=50.0,
    history_us_per_notification=25.0,
    pg_rows_per_s=10_000.0,
    push_ms_per_push=2.0,
    pushes_per_s_measured=100.0,
    presence_bytes_per_socket=1000.0,
    feed_entry_bytes=500.0,
    idempotency_key_bytes=100.0,
    stream_entry_bytes=500.0,
    peak_connects_per_s_per_node=1000.0,
    held_rate_per_s=8000.0,
)
ASSUMED = Assumptions(
    gateway_pod_memory_mb=1100.0,
    memory_usable_share=1.0,
    cpu_target=0.5,
    offline_share=0.5,
    devices_per_offline_user=2.0,
    users_per_socket=2.0,
    rooms=4.0,
    key_overhead_bytes=50.0,
    stream_lag_s=70.0,
    redis_master_data_gb=1.0,
    pg_bytes_per_row=100.0,
    min_replicas=1,
)
SETTINGS = Settings(
    feed_maxlen=10,
    room_feed_maxlen=100,
    idempotency_ttl_s=100,
    push_dedup_ttl_s=10,
    catchup_window_s=86_400,
    retention_days=1.0,
    retention_batch=1000,
    retention_interval_s=3600.0,
    trim_interval_s=30.0,
)


@pytest.fixture
def plan() -> capacity.Plan:
    return capacity.plan(MEASURED, ASSUMED, SETTINGS, sockets=204_800, rate_per_s=10_000)


def test_gateway_pods_are_the_larger_of_memory_and_cpu(plan: capacity.Plan) -> None:
    # (1100 MB - 100 MB) * 1024 / 10 KB = 102,400 sockets; 0.5 core / 1e-6 = 500,000 sockets.
    assert plan.sockets_per_pod_by_memory == 102_400
    assert plan.sockets_per_pod_by_cpu == 500_000
    assert plan.deliveries_per_s_per_pod == 10_000  # 0.5 / 50 µs
    assert plan.deliveries_per_s == 5000  # half the recipients are online
    assert plan.gateway_pods_by_memory == 2
    # 204,800 * 1e-6 + 5,000 * 50e-6 = 0.4548 cores, / 0.5 = 0.91: one pod.
    assert plan.gateway_pods_by_cpu == 1
    assert plan.gateway_pods == 2


def test_replicas_follow_cpu_per_unit_at_the_target_share(plan: capacity.Plan) -> None:
    assert plan.router_replicas == 2  # 10,000 * 100 µs = 1 core = exactly 2 at 0.5
    assert plan.pushes_per_s == 10_000  # 10,000 * 0.5 offline * 2 devices
    assert plan.push_replicas == 40  # 0.5 core / 2 ms = 250 pushes/s each
    assert plan.history_replicas == 1  # 0.25 core


def test_router_replicas_pay_the_cluster_factor_past_one_master() -> None:
    on_cluster = replace(MEASURED, router_cluster_cost_factor=3.0)
    five_masters = capacity.plan(on_cluster, ASSUMED, SETTINGS, sockets=204_800, rate_per_s=10_000)
    assert five_masters.redis_masters == 5
    assert five_masters.router_replicas == 6  # 10,000 * 100 µs * 3 = 3 cores, / 0.5
    one_master = capacity.plan(on_cluster, ASSUMED, SETTINGS, sockets=10, rate_per_s=2000)
    assert one_master.redis_masters == 1
    assert one_master.router_replicas == 1  # 2,000 * 100 µs = 0.2 cores: no factor on one Redis


def test_every_service_keeps_min_replicas_however_small_the_load() -> None:
    small = capacity.plan(MEASURED, Assumptions(), SETTINGS, sockets=10, rate_per_s=1)
    assert (small.gateway_pods, small.router_replicas, small.push_replicas, small.history_replicas) == (
        2,
        2,
        2,
        2,
    )
    assert small.redis_masters == 1


def test_redis_memory_adds_presence_feeds_claims_dedup_and_streams(plan: capacity.Plan) -> None:
    assert plan.redis_presence_gb == pytest.approx(0.22528)  # 204,800 * (1,000 B + 2 keys * 50 B)
    assert plan.redis_feeds_gb == pytest.approx(2.048)  # 204,800 * 2 users * 10 entries * 500 B
    assert plan.redis_room_feeds_gb == pytest.approx(0.0002)  # 4 rooms * 100 entries * 500 B
    assert plan.redis_idempotency_gb == pytest.approx(0.15)  # 10,000/s * 100 s * (100 B + 50 B)
    assert plan.redis_push_dedup_gb == pytest.approx(0.015)  # 10,000/s * 10 s * 150 B
    assert plan.redis_streams_gb == pytest.approx(1.75)  # 35,000 entries/s * 100 s * 500 B
    assert plan.redis_total_gb == pytest.approx(4.18848)
    assert plan.notifications_per_s_per_master == 10_000  # 0.5 core / 50 µs
    assert plan.redis_masters_by_cpu == 1  # 0.5 core of one master
    assert plan.redis_masters_by_memory == 5  # 4.19 GB at 1 GB each
    assert plan.redis_masters == 5


def test_postgres_rows_instances_and_what_retention_keeps(plan: capacity.Plan) -> None:
    assert plan.pg_rows_per_s == 30_000
    assert plan.pg_instances == 3
    assert plan.pg_rows_retained == 30_000 * 86_400
    assert plan.pg_retained_tb == pytest.approx(0.2592)
    assert plan.retention_delete_per_s == 30_000


def results(s9: dict[str, Any] | None = None) -> dict[str, Any]:
    step = {"rate_per_s": 2000, "held": True}
    body: dict[str, Any] = {
        "s2": {"gateway_cpu_us_per_delivery": 9.0},
        "s3": {
            "kb_per_connection_large": 12.0,
            "rss_before_mb": 70.0,
            "idle_cpu_pct_large": 2.0,
            "large_connections": 20_000,
        },
        "s4": {"push_worker_cpu_ms_per_push": 1.5, "pushes_per_s": 150.0},
        "s5": {"pg_cpu_us_per_notification": 50.0, "pg_rows_per_s": 80_000.0},
        "s7": {
            "steps": [
                {**step, "fleet_cpu_us_per_notification_by_process": {"router": 90.0}},
                {
                    "rate_per_s": 4000,
                    "held": True,
                    "fleet_cpu_us_per_notification_by_process": {
                        "gateway-1": 20.0,
                        "gateway-2": 21.0,
                        "router": 40.0,
                        "redis-server": 30.0,
                        "history": 50.0,
                    },
                },
                {
                    "rate_per_s": 8000,
                    "held": False,
                    "fleet_cpu_us_per_notification_by_process": {"router": 1.0},
                },
            ]
        },
        "s8": {"peak_connects_per_s": 3000},
    }
    if s9 is not None:
        body["s9"] = s9
    return body


def test_measured_reads_the_highest_held_s7_step_and_names_each_source() -> None:
    m, sources = capacity.measured(results())
    assert m.router_us_per_event == 40.0  # 4,000/s held; 8,000/s was not
    assert m.gateway_us_per_delivery == 41.0  # both gateways
    assert m.redis_us_per_notification == 30.0
    assert m.gateway_idle_core_per_socket == pytest.approx(1e-6)  # 2 % of a core / 20,000
    assert m.peak_connects_per_s_per_node == 1500
    assert sources["router_us_per_event"] == "s7 step 4000/s: router"
    assert sources["feed_entry_bytes"].startswith("assumed")  # no S9 yet


def test_measured_takes_redis_bytes_from_s9_when_recorded() -> None:
    s9 = {
        "redis_bytes": {
            "presence_per_socket": 700.0,
            "feed_entry": 300.0,
            "idempotency_key": 90.0,
            "ingress_entry": 350.0,
        }
    }
    m, sources = capacity.measured(results(s9))
    assert (m.presence_bytes_per_socket, m.feed_entry_bytes) == (700.0, 300.0)
    assert (m.idempotency_key_bytes, m.stream_entry_bytes) == (90.0, 350.0)
    assert sources["feed_entry_bytes"] == "s9.redis_bytes.feed_entry"


def test_cluster_factor_is_s9_cluster_over_s9_for_one_router() -> None:
    body = results({"router_steps": [{"router_cpu_us_per_event": 200.0}]})
    assert capacity.measured(body)[0].router_cluster_cost_factor == 1.0  # no cluster curve yet
    body["s9_cluster"] = {"router_steps": [{"router_cpu_us_per_event": 500.0}]}
    m, sources = capacity.measured(body)
    assert m.router_cluster_cost_factor == 2.5
    assert sources["router_cluster_cost_factor"].startswith("s9_cluster / s9")


def test_write_replaces_only_the_generated_part(tmp_path: Path) -> None:
    doc = tmp_path / "scaling.md"
    doc.write_text(f"# prose before\n\n{capacity.BEGIN}\nold\n{capacity.END}\n\nprose after\n")
    capacity.write_between_markers(doc, "new table")
    assert (
        doc.read_text()
        == f"# prose before\n\n{capacity.BEGIN}\n\nnew table\n\n{capacity.END}\n\nprose after\n"
    )


def test_the_committed_document_is_what_the_script_generates() -> None:
    doc = capacity.REPO / "docs" / "scaling.md"
    generated = capacity.generate(json.loads(capacity.LATEST.read_text()))
    assert generated in doc.read_text(), "docs/scaling.md is stale: run `make capacity`"


def test_merge_latest_replaces_only_the_scenarios_run(tmp_path: Path) -> None:
    latest = tmp_path / "latest.json"
    latest.write_text(json.dumps({"commit": "old", "s1": {"p99_ms": 3.0}, "s9": {"stale": True}}))
    meta = {
        "measured_at": "T",
        "commit": "new",
        "dirty": False,
        "size": "full",
        "machine": {"loadavg": [1.0]},
    }
    report.merge_latest(
        latest, {"s9": {"steps": [1, 2, 4], "latency_curve": [1]}}, {**meta, "loadavg_after": [2.0]}
    )
    body = json.loads(latest.read_text())
    assert body["commit"] == "old"
    assert body["s1"] == {"p99_ms": 3.0}
    assert body["s9"]["steps"] == [1, 2, 4]
    assert "stale" not in body["s9"] and "latency_curve" not in body["s9"]
    assert body["s9"]["run"]["commit"] == "new"
    assert body["s9"]["run"]["loadavg_before"] == [1.0]


def test_a_full_run_keeps_the_scenarios_run_only_when_named(tmp_path: Path) -> None:
    latest = tmp_path / "latest.json"
    latest.write_text(json.dumps({"commit": "old", "s1": {"p99_ms": 3.0}, "s9": {"steps": [1, 2, 4]}}))
    report.write_latest(latest, {"s1": {"p99_ms": 2.0}}, {"commit": "new"}, keep=("s9",))
    assert json.loads(latest.read_text()) == {
        "commit": "new",
        "s1": {"p99_ms": 2.0},
        "s9": {"steps": [1, 2, 4]},
    }
