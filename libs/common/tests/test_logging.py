from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import structlog
from notify_common.logging import configure_logging
configure_logging("router", "router-7", "{fmt}", "info")
log = structlog.get_logger("t")
with structlog.contextvars.bound_contextvars(notification_id="n-1"):
    log.info("routed", users=3)
log.debug("hidden")
"""


def run(fmt: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(fmt=fmt)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_production_logs_are_json_lines_with_service_node_and_notification() -> None:
    [line] = run("json").strip().splitlines()
    record = json.loads(line)
    assert record["event"] == "routed"
    assert (record["service"], record["node"], record["notification_id"]) == ("router", "router-7", "n-1")
    assert record["level"] == "info"
    assert record["timestamp"].endswith("Z")


def test_console_logs_are_readable_text() -> None:
    out = run("console")
    assert "routed" in out
    assert "notification_id=n-1" in out
    assert not out.lstrip().startswith("{")
