"""docs/configuration.md is generated from the Config structs and must not go stale."""

from __future__ import annotations

from pathlib import Path

from devstack.configref import SERVICE_PACKAGES, render, service_fields

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_matches_the_config_structs() -> None:
    current = (ROOT / "docs/configuration.md").read_text()
    assert current == render(), "docs/configuration.md is stale: run `make docs`"


def test_every_service_reads_the_common_variables() -> None:
    for service in SERVICE_PACKAGES:
        names = {f.env for f in service_fields(service)}
        assert {"REDIS_URL", "OPS_PORT", "SHUTDOWN_GRACE_S"} <= names, service


def test_every_service_directory_is_covered() -> None:
    directories = {p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists()}
    assert directories == set(SERVICE_PACKAGES)
