"""docker-compose.yml: valid against the compose specification, in step with the Config structs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
import yaml
from devstack.configref import PUBLIC_PORT_VARS, SERVICE_PACKAGES, service_fields
from notifyctl.config import CtlConfig

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((ROOT / "deploy/schemas/compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(compose())


@pytest.mark.parametrize("service", list(SERVICE_PACKAGES))
def test_service_sets_only_variables_its_config_reads(service: str) -> None:
    env = compose()["services"][service]["environment"]
    known = {f.env for f in service_fields(service)}
    assert set(env) - known == set()


@pytest.mark.parametrize("service", list(SERVICE_PACKAGES))
def test_service_sets_every_required_variable(service: str) -> None:
    env = compose()["services"][service]["environment"]
    required = {f.env for f in service_fields(service) if f.default is None}
    assert required - set(env) == set()


@pytest.mark.parametrize("service", list(SERVICE_PACKAGES))
def test_service_image_installs_its_own_package_and_module(service: str) -> None:
    args = compose()["services"][service]["build"]["args"]
    assert args == {"PACKAGE": f"notify-{service}", "MODULE": SERVICE_PACKAGES[service]}


def test_stream_exporter_sets_only_notifyctl_variables() -> None:
    env = compose()["services"]["stream-exporter"]["environment"]
    known = {f.name.upper() for f in msgspec.structs.fields(CtlConfig)}
    assert set(env) - known == set()


def test_two_gateway_replicas() -> None:
    assert compose()["services"]["gateway"]["deploy"]["replicas"] == 2


def test_redis_keeps_an_append_only_file() -> None:
    command = compose()["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


def test_fake_fcm_runs_only_in_the_dev_profile_and_prometheus_only_in_monitoring() -> None:
    services = compose()["services"]
    assert services["fcm-fake"]["profiles"] == ["dev"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert all("profiles" not in services[s] for s in [*SERVICE_PACKAGES, "redis", "postgres"])


def test_published_port_of_each_service_is_the_one_it_listens_on() -> None:
    services = compose()["services"]
    for service, port_var in PUBLIC_PORT_VARS.items():
        listening = services[service]["environment"][port_var]
        assert all(p.endswith(f":{listening}") for p in services[service]["ports"]), service


def test_compose_prometheus_scrapes_every_fleet_service_and_loads_the_alert_rules() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    names = {n for job in config["scrape_configs"] for sd in job["dns_sd_configs"] for n in sd["names"]}
    assert names == {*SERVICE_PACKAGES, "stream-exporter"} and names <= set(compose()["services"])
    mounts = compose()["services"]["prometheus"]["volumes"]
    assert any(m.startswith("./deploy/prometheus/alerts.yml:") for m in mounts)
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
