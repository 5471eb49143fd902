"""The Grafana dashboard is importable: unique panel ids, a Prometheus query per target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "deploy/grafana/notification-fleet.json").read_text())
    return loaded


def test_panels_have_unique_ids_and_a_place_on_the_grid() -> None:
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all({"h", "w", "x", "y"} <= set(p["gridPos"]) for p in panels)


def test_every_target_queries_the_chosen_prometheus_data_source() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard()["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


def test_dashboard_covers_the_operators_questions() -> None:
    exprs = " ".join(t["expr"] for p in dashboard()["panels"] for t in p["targets"])
    for metric in (
        "nf_gateway_connections",
        "nf_router_deliveries_total",
        "nf_stream_group_lag",
        "nf_dead_letters_total",
        "nf_push_fcm_errors_total",
    ):
        assert metric in exprs
