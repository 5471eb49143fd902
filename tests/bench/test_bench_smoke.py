"""`python -m bench --size smoke`: every scenario runs end to end at tiny size (seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "smoke", "--no-record", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,  # S4 starts four small fleets (HTTP/1.1, HTTP/2, two processes, backlog)
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def result(out: Path, scenario: str) -> dict[str, Any]:
    body = json.loads((out / f"{scenario}.json").read_text())
    assert body["machine"]["cpu_count"] >= 1
    assert "error" not in body[scenario], body[scenario]
    return body[scenario]  # type: ignore[no-any-return]


def test_s1_delivers_every_unicast_exactly_once_and_reports_latency(smoke: Path) -> None:
    s1 = result(smoke, "s1")
    assert (s1["lost"], s1["duplicates"]) == (0, 0)
    assert s1["received"] == s1["published"]
    assert 0 < s1["p50_ms"] <= s1["p99_ms"] <= s1["p999_ms"] <= s1["max_ms"]
    assert set(s1["cpu_s"]) >= {"router", "gateway-1", "gateway-2", "bench-clients-1", "bench-clients-2"}


def test_s1_runs_on_the_whole_fleet_and_reports_its_cpu_per_notification(smoke: Path) -> None:
    s1 = result(smoke, "s1")
    assert set(s1["services"]) == {"router", "history", "push-worker", "gateway-1", "gateway-2"}
    assert set(s1["fleet_cpu_share"]) == {*s1["services"], "redis-server"}
    assert s1["fleet_cpu_us_per_notification"] is not None


def test_every_service_reports_its_event_loop_lag(smoke: Path) -> None:
    s1 = result(smoke, "s1")
    assert set(s1["loop_lag_p99_ms"]) == set(s1["services"])
    assert all(p99 is not None for p99 in s1["loop_lag_p99_ms"].values())


def test_s2_reaches_every_client_with_each_role_broadcast(smoke: Path) -> None:
    s2 = result(smoke, "s2")
    assert (s2["lost"], s2["duplicates"]) == (0, 0)
    assert s2["deliveries"] == s2["broadcasts"] * s2["clients"]
    assert s2["gateway_cpu_us_per_delivery"] is not None  # CPU clock ticks are 10 ms: may read 0
    assert s2["p50_last_client_ms"] > 0


def test_s3_measures_gateway_memory_per_idle_connection(smoke: Path) -> None:
    s3 = result(smoke, "s3")
    assert s3["connections"] > 0
    assert s3["kb_per_connection"] is not None


def test_s4_pushes_every_device_once_retries_503_and_drops_unregistered_tokens(smoke: Path) -> None:
    s4 = result(smoke, "s4")
    for name, http2_share in (("h1", 0.0), ("h2", 1.0), ("h2_2_processes", 1.0)):
        run = s4["runs"][name]
        assert run["completed"] and run["retries_done"], name
        assert run["fake_outcomes"]["outcome:ok"] == s4["devices"] - s4["unregistered"], name
        assert run["fake_outcomes"]["outcome:unavailable"] == s4["flaky_503_once"], name
        assert run["unregistered_tokens_left"] == 0, name
        assert run["http2_share"] == http2_share, name
    assert s4["pushes_per_s_h1"] > 0 and s4["pushes_per_s_h2"] > 0 and s4["pushes_per_s_2_processes"] > 0
    assert s4["pushes_per_s"] == s4["pushes_per_s_h2"]


def test_s4_drains_a_backlog_of_every_device_times_several_notifications(smoke: Path) -> None:
    s4 = result(smoke, "s4")
    backlog = s4["runs"]["backlog"]
    assert s4["backlog_completed"] and backlog["fake_outcomes"] == {"outcome:ok": s4["backlog_pushes"]}
    assert s4["backlog_100k_s"] > 0


def test_s5_stores_one_row_per_recipient_in_sqlite_and_postgresql(smoke: Path) -> None:
    s5 = result(smoke, "s5")
    assert s5["sqlite"]["rows"] == s5["events"] * s5["users_per_event"]
    assert s5["sqlite_rows_per_s"] > 0
    assert s5.get("pg", {}).get("rows") == s5["events"] * s5["users_per_event"] or s5["pg_skipped"]


def test_s5_reads_history_cpu_and_commits_at_a_steady_rate(smoke: Path) -> None:
    paced = result(smoke, "s5")["sqlite"]["paced"]
    assert paced["notifications"] > 0 and paced["rate_per_s"] > 0
    assert paced["cpu_us_per_notification"] is not None  # CPU clock ticks are 10 ms: may read 0
    # the write window: a few commits a second per stream, not one per entry
    assert 0 < paced["commits_per_s"] < paced["rate_per_s"]


def test_s5_inbox_pages_of_bulk_loaded_users_are_timed(smoke: Path) -> None:
    s5 = result(smoke, "s5")
    if "pg" not in s5:
        pytest.skip(s5["inbox_skipped"])
    inbox = s5["pg"]["inbox"]
    assert inbox["empty_pages"] == 0
    assert inbox["count"] == inbox["queries"]
    assert 0 < s5["inbox_p50_ms"] <= s5["inbox_p99_ms"]


def test_s6_router_writes_a_delivery_for_every_addressed_online_user(smoke: Path) -> None:
    s6 = result(smoke, "s6")
    assert s6["deliveries"] == s6["events"] * s6["users_per_event"]
    assert s6["deliveries_per_s"] > 0


def test_s7_steps_up_the_rate_and_delivers_every_step(smoke: Path) -> None:
    s7 = result(smoke, "s7")
    steps = s7["steps"]
    assert [step["rate_per_s"] for step in steps] == s7["rates_per_s"]
    assert all((step["lost"], step["duplicates"]) == (0, 0) for step in steps)
    assert all(step["fleet_cpu_us_per_notification"] is not None for step in steps)
    assert s7["max_rate_per_s"] == max((step["rate_per_s"] for step in steps if step["held"]), default=0)


def test_s8_storm_replays_exactly_what_each_client_missed_with_shared_room_reads(smoke: Path) -> None:
    s8 = result(smoke, "s8")
    assert s8["catchups"] == s8["clients"] and s8["connect_failures"] == 0
    assert (s8["lost"], s8["duplicates"], s8["gaps"], s8["replayed_already_seen"]) == (0, 0, 0, 0)
    assert s8["replayed"] == s8["missed_deliveries_expected"]
    assert 0 < s8["catchup_p50_ms"] <= s8["catchup_p99_ms"]
    # every catch-up reads its user's feed; the room feeds are read at most once per catch-up
    assert s8["catchup_reads"]["user/read"] == s8["clients"]
    assert s8["redis_xrevrange_calls"] <= 3 * s8["clients"] - s8["room_reads_saved"]


def test_s8_drain_moves_the_stopped_nodes_clients_without_loss(smoke: Path) -> None:
    drain = result(smoke, "s8")["drain"]
    assert drain["drained_exit_code"] == 0
    assert drain["reconnected"] == drain["moved_clients"] and drain["reconnect_failures"] == 0
    assert (drain["lost"], drain["duplicates"]) == (0, 0)
    assert drain["survivor_peak_connects_per_s"] > 0


def test_latency_plot_is_written(smoke: Path) -> None:
    assert (smoke / "latency.png").stat().st_size > 1000
