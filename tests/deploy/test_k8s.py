"""deploy/k8s: every overlay renders, validates against the Kubernetes schemas offline, and keeps
in step with the Config structs, the stream names in keys.py and the alert rules."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kubernetes_validate
import msgspec
import pytest
import yaml
from devstack.configref import PUBLIC_PORT_VARS, SERVICE_PACKAGES, service_fields
from devstack.kustomize import build, load_yaml
from notify_common.keys import GROUP_HISTORY, GROUP_PUSH, GROUP_ROUTER, Keys
from notifyctl.config import CtlConfig

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
KUBERNETES_VERSION = "1.30"
OVERLAYS = ["dev", "prod"]
CRD_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"}


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(build(K8S / "overlays" / overlay))


def of_kind(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in rendered(overlay) if r["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def write_overlay(directory: Path, overlay: str, config_maps: dict[str, dict[str, str]]) -> None:
    """A copy of an overlay in `directory` whose ConfigMaps get the given data merged in."""
    source = K8S / "overlays" / overlay
    spec = yaml.safe_load((source / "kustomization.yaml").read_text())
    spec["resources"] = [str((source / r).resolve()) for r in spec.get("resources", [])]
    spec["components"] = [str((source / c).resolve()) for c in spec.get("components", [])]
    spec["patches"] = [{"path": str((source / p["path"]).resolve())} for p in spec.get("patches", [])]
    for name, data in config_maps.items():
        patch = directory / f"{name}.yaml"
        patch.write_text(
            yaml.safe_dump(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
            )
        )
        spec["patches"].append({"path": patch.name})
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(spec))


def env_of(overlay: str, name: str) -> dict[str, Any]:
    """Every variable a service's container gets: ConfigMaps in envFrom, then explicit env."""
    c = container(of_kind(overlay, "Deployment")[name])
    maps = of_kind(overlay, "ConfigMap")
    env: dict[str, Any] = {}
    for source in c.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]]["data"])
    env.update({e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])})
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_validates_against_the_kubernetes_schema(overlay: str) -> None:
    errors = []
    for resource in rendered(overlay):
        if resource["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{resource['kind']}/{resource['metadata']['name']}: {exc.message}")
    assert errors == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_lands_in_the_overlay_namespace(overlay: str) -> None:
    namespaces = {r["metadata"].get("namespace") for r in rendered(overlay) if r["kind"] != "Namespace"}
    assert namespaces == {"notify-dev" if overlay == "dev" else "notify"}


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", list(SERVICE_PACKAGES))
def test_service_gets_only_variables_its_config_reads(overlay: str, service: str) -> None:
    known = {f.env for f in service_fields(service)}
    assert set(env_of(overlay, service)) - known == set()


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", list(SERVICE_PACKAGES))
def test_service_gets_every_required_variable(overlay: str, service: str) -> None:
    required = {f.env for f in service_fields(service) if f.default is None}
    assert required - set(env_of(overlay, service)) == set()


@pytest.mark.parametrize("service", list(SERVICE_PACKAGES))
def test_probes_use_the_ops_port_and_health_endpoints(service: str) -> None:
    c = container(of_kind("prod", "Deployment")[service])
    ops = {p["name"]: p["containerPort"] for p in c["ports"]}["ops"]
    assert int(env_of("prod", service)["OPS_PORT"]) == ops
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}


@pytest.mark.parametrize("service", list(SERVICE_PACKAGES))
def test_termination_grace_covers_pre_stop_and_shutdown_grace(service: str) -> None:
    deployment = of_kind("prod", "Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    pre_stop = float(container(deployment)["lifecycle"]["preStop"]["exec"]["command"][-1])
    grace = float(env_of("prod", service)["SHUTDOWN_GRACE_S"])
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + grace + 5


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_fleet_pod_runs_as_non_root_with_resources(overlay: str) -> None:
    for name, deployment in of_kind(overlay, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        resources = container(deployment)["resources"]
        assert {"requests", "limits"} <= set(resources), name


@pytest.mark.parametrize("service", list(SERVICE_PACKAGES))
def test_each_service_has_a_service_and_a_disruption_budget_selecting_its_pods(service: str) -> None:
    pods = of_kind("prod", "Deployment")[service]["spec"]["template"]["metadata"]["labels"]
    selectors = [of_kind("prod", "Service")[service]["spec"]["selector"]]
    selectors.append(of_kind("prod", "PodDisruptionBudget")[service]["spec"]["selector"]["matchLabels"])
    assert all(sel.items() <= pods.items() for sel in selectors)


def test_gateway_service_needs_no_sticky_sessions() -> None:
    assert of_kind("prod", "Service")["gateway"]["spec"].get("sessionAffinity", "None") == "None"


def test_published_port_matches_the_port_the_service_listens_on() -> None:
    for service, var in PUBLIC_PORT_VARS.items():
        ports = {
            p["name"]: p["containerPort"] for p in container(of_kind("prod", "Deployment")[service])["ports"]
        }
        assert ports["http"] == int(env_of("prod", service)[var]), service


def test_prod_has_no_secret_values() -> None:
    assert of_kind("prod", "Secret") == {}


def test_dev_generates_every_secret_the_deployments_reference() -> None:
    secret = of_kind("dev", "Secret")["notify-secrets"]
    for deployment in of_kind("dev", "Deployment").values():
        for e in container(deployment).get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref and not ref.get("optional"):
                assert ref["key"] in secret["data"], e["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_is_denied_by_default(overlay: str) -> None:
    deny = of_kind(overlay, "NetworkPolicy")["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["ingress"] == [] and deny["policyTypes"] == ["Ingress"]


def test_gateway_autoscaler_targets_the_gateway_deployment_on_cpu() -> None:
    hpa = of_kind("prod", "HorizontalPodAutoscaler")["gateway"]["spec"]
    assert hpa["scaleTargetRef"]["name"] in of_kind("prod", "Deployment")
    assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["metrics"])


def test_keda_scales_each_consumer_on_the_lag_of_its_own_group() -> None:
    keys = Keys(env_of("prod", "router")["KEY_PREFIX"])
    expected = {
        "router": {(keys.ingress, GROUP_ROUTER)},
        "push-worker": {(keys.push_jobs, GROUP_PUSH)},
        "history": {(keys.ingress, GROUP_HISTORY), (keys.receipts, GROUP_HISTORY)},
    }
    scaled = of_kind("prod", "ScaledObject")
    assert set(scaled) == set(expected)
    auth = of_kind("prod", "TriggerAuthentication")
    for name, obj in scaled.items():
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        spec = obj["spec"]
        assert spec["scaleTargetRef"]["name"] in of_kind("prod", "Deployment")
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        triggers = spec["triggers"]
        assert all(t["type"] == "redis-streams" and t["authenticationRef"]["name"] in auth for t in triggers)
        assert all(isinstance(v, str) for t in triggers for v in t["metadata"].values())
        assert {(t["metadata"]["stream"], t["metadata"]["consumerGroup"]) for t in triggers} == expected[name]


def test_service_monitor_scrapes_the_ops_port_of_fleet_services() -> None:
    (monitor,) = of_kind("prod", "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    services = [
        s for s in of_kind("prod", "Service").values() if selector.items() <= s["metadata"]["labels"].items()
    ]
    assert {s["metadata"]["name"] for s in services} >= set(SERVICE_PACKAGES)
    assert all(ports <= {p["name"] for p in s["spec"]["ports"]} for s in services)


def overlay_settings(overlay: str) -> dict[str, str]:
    (settings,) = [
        r for r in load_yaml(K8S / "overlays" / overlay / "settings.yaml") if r["kind"] == "ConfigMap"
    ]
    data: dict[str, str] = settings["data"]
    return data


def test_prometheus_rule_carries_the_alert_rules_file_with_the_overlay_runbook_base() -> None:
    (rule,) = of_kind("prod", "PrometheusRule").values()
    base = overlay_settings("prod")["RUNBOOK_BASE_URL"]
    expected = (ROOT / "deploy/prometheus/alerts.yml").read_text()
    expected = expected.replace("https://github.com/ORG/REPO/blob/main/docs/operations.md#", f"{base}#")
    assert rule["spec"] == yaml.safe_load(expected)


def test_runbook_base_is_one_setting_and_stays_out_of_the_cluster(tmp_path: Path) -> None:
    write_overlay(
        tmp_path, "prod", {"overlay-settings": {"RUNBOOK_BASE_URL": "https://git.example.org/ops.md"}}
    )
    resources = build(tmp_path)
    (rule,) = [r for r in resources if r["kind"] == "PrometheusRule"]
    urls = [r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert urls and all(u.startswith("https://git.example.org/ops.md#") for u in urls)
    assert "overlay-settings" not in {r["metadata"]["name"] for r in resources}


def test_optional_connections_autoscaling_component_renders_over_the_base(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [str(K8S / "base")],
                "components": [str(K8S / "components/gateway-connections-hpa")],
            }
        )
    )
    (hpa,) = [r for r in build(tmp_path) if r["kind"] == "HorizontalPodAutoscaler"]
    kubernetes_validate.validate(hpa, KUBERNETES_VERSION, strict=True)
    assert {m["type"] for m in hpa["spec"]["metrics"]} == {"Resource", "Pods"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_stream_exporter_gets_only_notifyctl_variables(overlay: str) -> None:
    known = {f.name.upper() for f in msgspec.structs.fields(CtlConfig)}
    assert set(env_of(overlay, "stream-exporter")) - known == set()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_renderer_prints_what_kustomize_prints(overlay: str) -> None:
    printed = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=60
    )
    assert printed.returncode == 0, printed.stderr

    def by_name(resources: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["kind"], r["metadata"]["name"]): r for r in resources if r}

    assert by_name(rendered(overlay)) == by_name(yaml.safe_load_all(printed.stdout))


def fleet_deployments(overlay: str) -> dict[str, dict[str, Any]]:
    return {
        name: d
        for name, d in of_kind(overlay, "Deployment").items()
        if d["metadata"]["labels"].get("app.kubernetes.io/part-of") == "notify"
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_fleet_pod_runs_as_its_own_service_account_without_an_api_token(overlay: str) -> None:
    accounts = of_kind(overlay, "ServiceAccount")
    for name, deployment in fleet_deployments(overlay).items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == name
        # None of the services talks to the Kubernetes API.
        assert pod["automountServiceAccountToken"] is False
        assert accounts[name]["automountServiceAccountToken"] is False


def test_prod_push_worker_account_carries_the_workload_identity_placeholder() -> None:
    annotations = of_kind("prod", "ServiceAccount")["push-worker"]["metadata"]["annotations"]
    email = annotations["iam.gke.io/gcp-service-account"]
    assert email.endswith(".iam.gserviceaccount.com") and "PROJECT_ID" in email
    assert "annotations" not in of_kind("prod", "ServiceAccount")["gateway"]["metadata"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_fleet_deployment_spreads_its_pods_over_zones_and_hosts(overlay: str) -> None:
    for name, deployment in fleet_deployments(overlay).items():
        pod = deployment["spec"]["template"]["spec"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
        assert set(spread) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, name
        for constraint in spread.values():
            assert constraint["labelSelector"]["matchLabels"].items() <= labels.items(), name
            # ScheduleAnyway: a one-node dev cluster or a lost zone must still schedule the pods.
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway" and constraint["maxSkew"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_startup_probe_on_healthz_holds_liveness_back_until_the_service_answers(overlay: str) -> None:
    for name, deployment in fleet_deployments(overlay).items():
        c = container(deployment)
        startup = c["startupProbe"]
        assert startup["httpGet"] == {"path": "/healthz", "port": "ops"}, name
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, name
        assert "initialDelaySeconds" not in c["livenessProbe"], name


def test_gateway_ingress_keeps_websockets_and_sse_open_behind_tls() -> None:
    ingress = of_kind("prod", "Ingress")["gateway"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    spec = ingress["spec"]
    host = overlay_settings("prod")["GATEWAY_HOST"]
    assert spec["tls"] == [{"hosts": [host], "secretName": "gateway-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == host
    assert {p["path"] for p in rule["http"]["paths"]} == {"/ws", "/events"}
    service_ports = {p["name"] for p in of_kind("prod", "Service")["gateway"]["spec"]["ports"]}
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        assert backend["name"] == "gateway" and backend["port"]["name"] in service_ports


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_stream_exporter_and_keda_follow_the_key_prefix(tmp_path: Path, overlay: str) -> None:
    write_overlay(tmp_path, overlay, {"notify-common": {"KEY_PREFIX": "acme"}})
    resources = build(tmp_path)
    exporter = next(r for r in resources if r["metadata"]["name"] == "stream-exporter-config")
    assert exporter["data"]["KEY_PREFIX"] == "acme"
    keys = Keys("acme")
    streams = {
        t["metadata"]["stream"]
        for r in resources
        if r["kind"] == "ScaledObject"
        for t in r["spec"]["triggers"]
    }
    assert streams == (set() if overlay == "dev" else {keys.ingress, keys.push_jobs, keys.receipts})


def test_keda_uses_tls_when_the_overlay_says_redis_does(tmp_path: Path) -> None:
    assert {
        t["metadata"]["enableTLS"]
        for s in of_kind("prod", "ScaledObject").values()
        for t in s["spec"]["triggers"]
    } == {overlay_settings("prod")["REDIS_TLS"]}
    write_overlay(tmp_path, "prod", {"overlay-settings": {"REDIS_TLS": "true"}})
    triggers = [t for r in build(tmp_path) if r["kind"] == "ScaledObject" for t in r["spec"]["triggers"]]
    assert triggers and all(t["metadata"]["enableTLS"] == "true" for t in triggers)


def test_keda_authenticates_with_the_secret_the_services_read() -> None:
    (auth,) = of_kind("prod", "TriggerAuthentication").values()
    refs = auth["spec"]["secretTargetRef"]
    redis_url = env_of("prod", "router")["REDIS_URL"]["secretKeyRef"]
    assert {r["name"] for r in refs} == {redis_url["name"]}
    assert {r["parameter"] for r in refs} == {"address", "password"}
    for scaled in of_kind("prod", "ScaledObject").values():
        for trigger in scaled["spec"]["triggers"]:
            assert not {"address", "host", "password", "passwordFromEnv"} & set(trigger["metadata"])
