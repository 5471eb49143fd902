"""`python -m bench --size smoke --scenarios s9`: the scaling curve runs each step end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]


def test_s9_runs_every_step_and_measures_the_redis_bytes_of_the_plan(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--size",
            "smoke",
            "--scenarios",
            "s9",
            "--no-record",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s9 = json.loads((tmp_path / "s9.json").read_text())["s9"]
    assert [s["routers"] for s in s9["router_steps"]] == s9["steps"]
    assert [s["gateways"] for s in s9["gateway_steps"]] == s9["steps"]
    assert all(s["events_per_s"] > 0 for s in s9["router_steps"])
    assert all((s["lost"], s["duplicates"]) == (0, 0) for s in s9["gateway_steps"])
    assert {"router", "router-2"} <= set(s9["router_steps"][1]["cpu_s"])
    assert all(s9["redis_bytes"][k] > 0 for k in ("presence_per_socket", "feed_entry", "idempotency_key"))
