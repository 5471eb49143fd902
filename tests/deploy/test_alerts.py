"""The alert rules: valid PromQL that behaves as intended (promtool unit tests), only metrics
the code defines, one namespace at a time, and a runbook URL whose anchor is a real heading."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/alerts.yml"
RUNBOOK_BASE = "https://github.com/ORG/REPO/blob/main/docs/operations.md"
AGGREGATION = re.compile(r"\b(?:sum|max|min|avg|count)\b(?:\s*by\s*\(([^)]*)\))?")


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def runbook_anchors() -> set[str]:
    text = (ROOT / "docs/operations.md").read_text()
    return {github_anchor(h) for h in re.findall(r"^#{2,4} (.+)$", text, flags=re.MULTILINE)}


def test_operators_get_the_target_latency_and_gateway_alerts() -> None:
    names = {rule["alert"] for rule in rules()}
    assert {
        "NotifyTargetDown",
        "NotifyPublishToSocketSlow",
        "NotifyGatewayConnectionsDropped",
        "NotifySlowClientsClosed",
        "NotifyGatewayNodeStreamLag",
    } <= names


def test_every_alert_links_its_runbook_under_the_one_base_url() -> None:
    anchors = runbook_anchors()
    for rule in rules():
        base, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert base == RUNBOOK_BASE, rule["alert"]
        assert anchor in anchors, f"{rule['alert']}: docs/operations.md has no heading for #{anchor}"


def test_every_alert_names_only_metrics_a_service_defines(defined_metrics: set[str]) -> None:
    queried = {name for rule in rules() for name in re.findall(r"\bnf_[a-z0-9_]+", rule["expr"])}
    assert queried - defined_metrics == set()


def test_every_aggregation_keeps_namespaces_apart() -> None:
    for rule in rules():
        for by in AGGREGATION.findall(rule["expr"]):
            assert "namespace" in by.replace(" ", "").split(","), (rule["alert"], rule["expr"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Prometheus) is not installed")
def test_alert_rules_pass_their_promtool_unit_tests() -> None:
    result = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
