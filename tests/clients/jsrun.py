"""Running the client SDKs' Node tooling from pytest: find node, install locked packages, pass
the fleet's addresses."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from devstack.fleet import DEV_JWT_SECRET, DEV_SERVICE_TOKEN, Fleet

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "clients" / "js"


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (Debian/Ubuntu: apt-get install nodejs npm; .ci/run does it)")
    return node


def npm_ci(package: Path) -> None:
    """Install a package folder's locked dev dependencies once (what `.ci/run` does up front)."""
    if (package / "node_modules" / ".package-lock.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"npm is not installed: cannot install {package}'s dependencies (apt-get install npm)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=package, check=True, timeout=300)


def fleet_env(fleet: Fleet) -> dict[str, str]:
    """The fleet's addresses, as the Node tests read them."""
    return {
        **os.environ,
        "NOTIFY_GATEWAYS": ",".join(fleet.gateway_url(name) for name in fleet.gateway_ports),
        "NOTIFY_SSE": ",".join(f"http://127.0.0.1:{port}/events" for port in fleet.gateway_ports.values()),
        "NOTIFY_ROUTER": fleet.router_url(),
        "NOTIFY_SERVICE_TOKEN": DEV_SERVICE_TOKEN,
        "NOTIFY_INBOX": fleet.inbox_url(),
        "NOTIFY_DEVICES": fleet.push_url(),
        "NOTIFY_JWT_SECRET": DEV_JWT_SECRET,
    }
