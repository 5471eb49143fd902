"""The development secrets are one set: `make run`, docker compose and the dev overlay agree, so a
token that works against one works against the others."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from devstack.fleet import DEV_ADMIN_TOKEN, DEV_JWT_SECRET, DEV_SERVICE_TOKEN

ROOT = Path(__file__).resolve().parents[2]
DEV_VALUES = {
    "JWT_SECRET": DEV_JWT_SECRET,
    "SERVICE_TOKENS": DEV_SERVICE_TOKEN,
    "ADMIN_TOKEN": DEV_ADMIN_TOKEN,
}


def compose_defaults() -> dict[str, set[str]]:
    """Each variable's `${VAR:-default}` fallbacks across the compose services."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    found: dict[str, set[str]] = {}
    for service in services.values():
        for name, value in (service.get("environment") or {}).items():
            match = re.fullmatch(r"\$\{(\w+):-(.*)\}", str(value))
            if match and match.group(1) == name:
                found.setdefault(name, set()).add(match.group(2))
    return found


@pytest.mark.parametrize("variable", list(DEV_VALUES))
def test_compose_falls_back_to_the_make_run_value(variable: str) -> None:
    assert compose_defaults()[variable] == {DEV_VALUES[variable]}


def test_dev_overlay_secret_holds_the_make_run_values() -> None:
    kustomization = yaml.safe_load((ROOT / "deploy/k8s/overlays/dev/kustomization.yaml").read_text())
    (secret,) = [g for g in kustomization["secretGenerator"] if g["name"] == "notify-secrets"]
    literals = dict(item.split("=", 1) for item in secret["literals"])
    assert {k: literals[k] for k in DEV_VALUES} == DEV_VALUES
