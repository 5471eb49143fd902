"""The JavaScript SDK (clients/js): its committed build matches its source, and its own tests
(`node --test`) pass against a real fleet."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import pytest
from devstack.fleet import Fleet

from tests.clients.jsrun import JS_DIR, fleet_env, node_or_skip, npm_ci

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_committed_build_is_what_the_source_compiles_to(tmp_path: Path) -> None:
    node = node_or_skip()
    npm_ci(JS_DIR)
    tsc = JS_DIR / "node_modules" / "typescript" / "bin" / "tsc"
    subprocess.run([node, str(tsc), "-p", str(JS_DIR), "--outDir", str(tmp_path)], check=True, timeout=120)
    compared = filecmp.dircmp(tmp_path, JS_DIR / "dist")
    stale = compared.left_only + compared.right_only + compared.diff_files
    assert not stale, f"clients/js/dist is stale ({stale}): run `npm run build` in clients/js and commit dist"


@pytest.mark.timeout(120)
def test_sdk_tests_pass_against_the_fleet(fleet: Fleet) -> None:
    node = node_or_skip()
    # Node 20 has a browser-like WebSocket behind a flag (22 without); older Node uses `ws`.
    flag = subprocess.run([node, "--experimental-websocket", "-e", ""], capture_output=True, timeout=30)
    websocket = ["--experimental-websocket"] if flag.returncode == 0 else []
    result = subprocess.run(
        [node, *websocket, "--test"],
        cwd=JS_DIR,
        env=fleet_env(fleet),
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " pass " in result.stdout, result.stdout[-3000:]
