from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from notify_common.logging import redact

SCRIPT = """
import structlog
from notify_common.logging import configure_logging
configure_logging("router", "router-7", "{fmt}", "info")
log = structlog.get_logger("t")
with structlog.contextvars.bound_contextvars(notification_id="n-1"):
    log.info("routed", users=3)
log.debug("hidden")
"""

STDLIB_SCRIPT = """
import asyncio, logging, warnings
import structlog
from notify_common.logging import configure_logging
configure_logging("gateway", "gw-1", "{fmt}", "info")
configure_logging("gateway", "gw-1", "{fmt}", "info")  # a second call must not add a handler
logging.getLogger("aiohttp.access").info('10.0.0.1 "GET /ws?topics=a&token=eyJ.secret.sig HTTP/1.1" 101')
logging.getLogger("aiohttp.server").error("Error handling request", exc_info=ValueError("boom"))
logging.getLogger("redis").info("below WARNING: libraries stay quiet")
warnings.warn("old API", DeprecationWarning)
structlog.get_logger("t").info("structlog_line", header="Authorization: Bearer abc.def.ghi")

async def lost() -> None:
    raise RuntimeError("never awaited")

async def main() -> None:
    task = asyncio.get_running_loop().create_task(lost())
    await asyncio.sleep(0)
    del task

asyncio.run(main())
import gc; gc.collect()
"""


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "default", "-c", script], capture_output=True, text=True, timeout=30
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.strip().splitlines()]


def test_production_logs_are_json_lines_with_service_node_and_notification() -> None:
    result = run(SCRIPT.format(fmt="json"))
    assert result.returncode == 0, result.stderr
    [record] = json_lines(result.stderr)
    assert record["event"] == "routed"
    assert (record["service"], record["node"], record["notification_id"]) == ("router", "router-7", "n-1")
    assert record["level"] == "info"
    assert record["timestamp"].endswith("Z")


def test_console_logs_are_readable_text() -> None:
    result = run(SCRIPT.format(fmt="console"))
    assert "routed" in result.stderr
    assert "notification_id=n-1" in result.stderr
    assert not result.stderr.lstrip().startswith("{")


def test_stdlib_records_are_json_lines_with_level_timestamp_and_service() -> None:
    result = run(STDLIB_SCRIPT.format(fmt="json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    records = json_lines(result.stderr)  # raises on any line that is not JSON
    assert all({"level", "timestamp", "service", "node", "event"} <= set(r) for r in records), records
    loggers = [r.get("logger") for r in records]
    assert set(loggers) >= {"aiohttp.access", "aiohttp.server", "py.warnings", "asyncio"}
    assert loggers.count("aiohttp.access") == 1
    assert "redis" not in loggers


def test_stdlib_exception_is_one_json_line_with_its_traceback() -> None:
    records = json_lines(run(STDLIB_SCRIPT.format(fmt="json")).stderr)
    [error] = [r for r in records if r.get("logger") == "aiohttp.server"]
    assert (error["level"], error["event"]) == ("error", "Error handling request")
    assert "ValueError: boom" in error["exception"]


def test_tokens_never_reach_the_log() -> None:
    result = run(STDLIB_SCRIPT.format(fmt="json"))
    assert "eyJ.secret.sig" not in result.stderr
    assert "abc.def.ghi" not in result.stderr
    access = next(r for r in json_lines(result.stderr) if r.get("logger") == "aiohttp.access")
    assert "topics=a&token=[REDACTED]" in access["event"]


def test_console_format_renders_stdlib_records_too() -> None:
    result = run(STDLIB_SCRIPT.format(fmt="console"))
    assert "Error handling request" in result.stderr
    assert "eyJ.secret.sig" not in result.stderr
    assert "%(" not in result.stderr and "WARNING:" not in result.stderr


def test_an_uncaught_exception_is_one_critical_json_line() -> None:
    script = SCRIPT.format(fmt="json") + "\nraise SystemError('crash at start-up')\n"
    result = run(script)
    assert result.returncode == 1
    crash = json_lines(result.stderr)[-1]
    assert (crash["level"], crash["event"]) == ("critical", "uncaught_exception")
    assert "SystemError: crash at start-up" in crash["exception"]


def test_redact_masks_query_tokens_bearer_credentials_and_url_passwords() -> None:
    line = (
        "GET /events?access_token=t1&x=1&token=t2 Authorization: Bearer t3.abcdefgh "
        "redis://:t4@redis:6379/0 rediss://user:t5@host/1"
    )
    masked = redact(line)
    assert not any(secret in masked for secret in ("t1", "t2", "t3", "t4", "t5"))
    assert "x=1" in masked and "redis:6379/0" in masked and "user:[REDACTED]@host" in masked


def test_redact_leaves_ordinary_words_alone() -> None:
    line = "basic auth is disabled; the bearer scheme is used; tokens=3 token_count=2"
    assert redact(line) == line
