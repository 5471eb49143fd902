"""The development inbox page in a real browser (headless Chromium driven by playwright-core):
live delivery, surviving a SIGKILLed gateway node without duplicates, read state across tabs.

The script (tests/clients/browser/inbox.mjs) takes the README's screenshot; it replaces
docs/img/inbox.png when that is missing or INBOX_SCREENSHOT=update is set (it changes every run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from devstack.fleet import Fleet

from tests.clients.jsrun import ROOT, fleet_env, node_or_skip, npm_ci

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BROWSER_DIR = Path(__file__).parent / "browser"
SCREENSHOT = ROOT / "docs" / "img" / "inbox.png"


def chromium_or_skip() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (Debian/Ubuntu: apt-get install chromium; .ci/run does it)")
    return path


def restart_killed_gateways(fleet: Fleet) -> None:
    """The fleet is shared with the SDK tests: bring back the node the script killed."""
    for name, proc in fleet.processes.items():
        if name.startswith("gateway-") and proc.process is not None and proc.process.poll() is not None:
            proc.start().wait_ready(30)


@pytest.mark.timeout(150)
def test_inbox_page_receives_live_survives_a_killed_node_and_syncs_reads(
    fleet: Fleet, tmp_path: Path
) -> None:
    node = node_or_skip()
    chromium = chromium_or_skip()
    npm_ci(BROWSER_DIR)
    shot = tmp_path / "inbox.png"
    pids = ",".join(f"{name}={pid}" for name, pid in fleet.pids().items() if name.startswith("gateway-"))
    env = {
        **fleet_env(fleet),
        "NOTIFY_PAGE": fleet.page_url(),
        "NOTIFY_GATEWAY_PIDS": pids,
        "CHROMIUM_PATH": chromium,
        "SCREENSHOT": str(shot),
    }
    try:
        result = subprocess.run(
            [node, "inbox.mjs"], cwd=BROWSER_DIR, env=env, capture_output=True, text=True, timeout=110
        )
    finally:
        restart_killed_gateways(fleet)
    logs = "\n".join(p.tail(15) for p in fleet.processes.values())
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:] + "\n" + logs
    assert shot.exists()
    if not SCREENSHOT.exists() or os.environ.get("INBOX_SCREENSHOT") == "update":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
