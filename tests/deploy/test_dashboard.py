"""The Grafana dashboard is importable: unique panel ids, a Prometheus query per target, every
query scoped to the chosen namespace and pods, and only metrics the code defines."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# A metric selector: the name, then its label matchers if any (not a function call like rate().
SELECTOR = re.compile(r"\b(nf_[a-z0-9_]+|up)\b(?:\{([^}]*)\})?(?!\s*\()")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "deploy/grafana/notification-fleet.json").read_text())
    return loaded


def expressions() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]


def test_panels_have_unique_ids_and_a_place_on_the_grid() -> None:
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all({"h", "w", "x", "y"} <= set(p["gridPos"]) for p in panels)


def test_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for cell in itertools.product(range(g["x"], g["x"] + g["w"]), range(g["y"], g["y"] + g["h"])):
            assert cell not in cells, (panel["title"], cells.get(cell))
            cells[cell] = panel["title"]


def test_every_target_queries_the_chosen_prometheus_data_source() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard()["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


def test_namespace_is_one_choice_and_pod_a_filter_within_it() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    namespace, pod = variables["namespace"], variables["pod"]
    # One namespace at a time: dev and prod in one Prometheus must never be summed together.
    assert namespace["type"] == "query" and not namespace["multi"] and not namespace["includeAll"]
    assert pod["type"] == "query" and pod["includeAll"] and pod["allValue"] == ".*"
    assert 'namespace=~"$namespace"' in pod["definition"]


def test_every_query_is_scoped_to_the_chosen_namespace_and_pods() -> None:
    for expr in expressions():
        selectors = SELECTOR.findall(expr)
        assert selectors, expr
        for name, matchers in selectors:
            assert 'namespace=~"$namespace"' in matchers and 'pod=~"$pod"' in matchers, (name, expr)


def test_every_queried_metric_is_defined_by_a_service(defined_metrics: set[str]) -> None:
    queried = {name for e in expressions() for name, _ in SELECTOR.findall(e)}
    assert queried - {"up"} - defined_metrics == set()


def test_dashboard_covers_the_operators_questions() -> None:
    exprs = " ".join(expressions())
    for metric in (
        "nf_gateway_connections",
        "nf_router_deliveries_total",
        "nf_stream_group_lag",
        "nf_dead_letters_total",
        "nf_push_fcm_errors_total",
        "nf_gateway_publish_to_socket_seconds_bucket",
        "nf_router_http_request_seconds_bucket",
        "nf_history_api_request_seconds_bucket",
        "nf_router_http_rejected_total",
        "nf_gateway_slow_clients_closed_total",
        "nf_router_events_total",
    ):
        assert metric in exprs, metric
