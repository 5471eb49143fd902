"""One set of ports in every way to run the fleet: docs/operations.md's table (#ports) against the
Config defaults, `make run` (devstack), docker-compose.yml, the rendered Kubernetes overlays, the
compose Prometheus and the Dockerfile's health check."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from devstack.configref import PUBLIC_PORT_VARS, SERVICE_PACKAGES
from devstack.fleet import Fleet
from devstack.kustomize import build
from devstack.ports import default_port
from fcm_fake.runner import DEFAULT_PORT as FCM_FAKE_PORT
from notifyctl.config import CtlConfig

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ["dev", "prod"]
DEPLOYED = [*SERVICE_PACKAGES, "stream-exporter"]
MODULES = {**SERVICE_PACKAGES, "stream-exporter": "notifyctl", "fcm-fake": "fcm_fake"}


@dataclass(frozen=True)
class PortRow:
    service: str
    name: str
    variable: str
    default: int


@functools.cache
def table() -> tuple[PortRow, ...]:
    """The rows of the first table under `## Ports` in docs/operations.md."""
    text = (ROOT / "docs/operations.md").read_text()
    section = text.split("\n## Ports\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    parsed = []
    for line in rows:
        service, name, _, variable, default = [cell.strip() for cell in line.strip("|").split("|")]
        parsed.append(PortRow(service, name, variable.strip("`"), int(default)))
    return tuple(parsed)


def port(service: str, name: str) -> PortRow:
    (row,) = [r for r in table() if (r.service, r.name) == (service, name)]
    return row


def rows_of(services: list[str]) -> list[PortRow]:
    return [r for r in table() if r.service in services]


def test_table_covers_every_service_with_an_http_and_an_ops_port() -> None:
    for service in SERVICE_PACKAGES:
        assert port(service, "http").variable == PUBLIC_PORT_VARS[service]
        assert port(service, "ops").variable == "OPS_PORT"
    assert port("stream-exporter", "ops").variable == "OPS_PORT"
    numbers = [r.default for r in table()]
    assert len(numbers) == len(set(numbers)), "two rows share a port"


@pytest.mark.parametrize("row", rows_of(list(SERVICE_PACKAGES)), ids=str)
def test_config_default_is_the_documented_port(row: PortRow) -> None:
    assert default_port(row.service, row.variable) == row.default


def test_exporter_and_fake_fcm_defaults_are_the_documented_ports() -> None:
    ctl = {f.name: f.default for f in msgspec.structs.fields(CtlConfig)}
    assert ctl["ops_port"] == port("stream-exporter", "ops").default
    assert FCM_FAKE_PORT == port("fcm-fake", "http").default


def test_make_run_listens_on_the_documented_ports(tmp_path: Path) -> None:
    fleet = Fleet("redis://127.0.0.1:6379/0", tmp_path, fixed_ports=True, inbox_page=True)
    assigned = fleet.assign_ports()
    expected = {f"{r.service} {r.variable}": r.default for r in rows_of(["router", "history", "push-worker"])}
    expected["fcm-fake --port"] = port("fcm-fake", "http").default
    expected["inbox-page --port"] = port("inbox-page", "http").default
    expected["gateway-1 PORT"] = port("gateway", "http").default
    expected["gateway-1 OPS_PORT"] = port("gateway", "ops").default
    assert {k: v for k, v in assigned.items() if not k.startswith("gateway-2")} == expected
    others = {v for k, v in assigned.items() if not k.startswith("gateway-2")}
    assert {assigned["gateway-2 PORT"], assigned["gateway-2 OPS_PORT"]}.isdisjoint(others)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded["services"]


@pytest.mark.parametrize("row", rows_of(DEPLOYED), ids=str)
def test_compose_sets_the_documented_port(row: PortRow) -> None:
    assert compose()[row.service]["environment"][row.variable] == str(row.default)


@pytest.mark.parametrize("service", [*SERVICE_PACKAGES, "fcm-fake", "redis"])
def test_compose_publishes_the_documented_port_on_the_same_host_port(service: str) -> None:
    documented = port(service, "redis" if service == "redis" else "http").default
    for mapping in compose()[service]["ports"]:
        host, container = mapping.rsplit(":", 1)
        assert int(container) == documented, mapping
        assert host.rsplit(":", 1)[-1].split("-")[0] == str(documented), mapping


def test_compose_fake_fcm_listens_on_the_documented_port() -> None:
    command = " ".join(compose()["fcm-fake"]["command"])
    assert f"--port {port('fcm-fake', 'http').default}" in command


def test_compose_prometheus_scrapes_each_service_on_its_ops_port() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    scraped = {
        name: sd["port"]
        for job in config["scrape_configs"]
        for sd in job["dns_sd_configs"]
        for name in sd["names"]
    }
    assert scraped == {s: port(s, "ops").default for s in DEPLOYED}


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(build(ROOT / "deploy/k8s/overlays" / overlay))


def of_kind(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in rendered(overlay) if r["kind"] == kind}


def env_of(overlay: str, deployment: dict[str, Any]) -> dict[str, Any]:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    maps = of_kind(overlay, "ConfigMap")
    env: dict[str, Any] = {}
    for source in c.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]]["data"])
    env.update({e["name"]: e.get("value") for e in c.get("env", [])})
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("row", rows_of(DEPLOYED), ids=str)
def test_kubernetes_pod_listens_and_is_reached_on_the_documented_port(overlay: str, row: PortRow) -> None:
    deployment = of_kind(overlay, "Deployment")[row.service]
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    assert env_of(overlay, deployment)[row.variable] == str(row.default)
    assert {p["name"]: p["containerPort"] for p in c["ports"]}[row.name] == row.default
    service_ports = {p["name"]: p for p in of_kind(overlay, "Service")[row.service]["spec"]["ports"]}
    assert (service_ports[row.name]["port"], service_ports[row.name]["targetPort"]) == (row.default, row.name)
    if row.name == "ops":
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(row.default)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_name_only_documented_ports(overlay: str) -> None:
    names = {r.name for r in table()}
    numbers = {r.default for r in table()}
    for policy in of_kind(overlay, "NetworkPolicy").values():
        for rule in policy["spec"].get("ingress", []):
            for p in rule.get("ports", []):
                assert p["port"] in names or p["port"] in numbers, policy["metadata"]["name"]


def test_dev_overlay_redis_listens_on_the_documented_port() -> None:
    (redis_port,) = of_kind("dev", "Service")["redis"]["spec"]["ports"]
    assert redis_port["port"] == port("redis", "redis").default


def test_image_health_check_falls_back_to_each_modules_documented_ops_port() -> None:
    text = (ROOT / "Dockerfile").read_text()
    in_image = {m: int(p) for m, p in re.findall(r"(\w+)\) port=(\d+) ;;", text)}
    ops = {MODULES[r.service]: r.default for r in table() if r.service in MODULES and r.name == "ops"}
    ops["fcm_fake"] = port("fcm-fake", "http").default  # the fake answers /healthz on its one port
    assert in_image == ops
