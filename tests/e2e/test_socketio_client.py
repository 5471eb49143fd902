"""An unmodified socket.io-client 4.x app (clients/socketio-check, run with Node) against a
gateway of the fleet: it connects with `auth: { token }`, receives a published notification as
`notification:new`, acknowledges it and marks it read; the receipts reach the fleet."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_async
from devstack.fleet import Fleet, dev_token
from notify_common.keys import Keys
from notify_common.publish import build_event, publish

pytestmark = pytest.mark.e2e

CHECK_DIR = Path(__file__).resolve().parents[2] / "clients" / "socketio-check"


def node_ready() -> str:
    """Node, with the package's locked dependencies installed (.ci/run runs `npm ci` up front)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (Debian/Ubuntu: apt-get install nodejs npm; .ci/run does it)")
    if not (CHECK_DIR / "node_modules" / ".package-lock.json").exists():
        npm = shutil.which("npm")
        assert npm is not None, "npm is not installed: apt-get install npm"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CHECK_DIR, check=True, timeout=300)
    return node


async def next_step(proc: asyncio.subprocess.Process, timeout: float = 20.0) -> dict[str, Any]:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    assert line, "the socket.io-client app exited early"
    step: dict[str, Any] = json.loads(line)
    return step


async def receipt_kinds(client: redis_async.Redis, keys: Keys, nid: str) -> set[str]:
    found = [json.loads(f[b"receipt"]) for _, f in await client.xrange(keys.receipts)]
    return {r["kind"] for r in found if r["notification_id"] == nid}


async def test_socketio_client_receives_acks_and_marks_read(fleet: Fleet) -> None:
    node = node_ready()
    gateway = fleet.gateway_url("gateway-2").replace("ws://", "http://").removesuffix("/ws")
    env = {**os.environ, "GATEWAY": gateway, "TOKEN": dev_token("sio-7"), "EXPECT_ID": "sio-e2e-1"}
    proc = await asyncio.create_subprocess_exec(
        node, "check.mjs", cwd=CHECK_DIR, env=env, stdout=asyncio.subprocess.PIPE
    )
    client = redis_async.Redis.from_url(fleet.redis_url)
    keys = Keys(fleet.key_prefix)
    try:
        ready = await next_step(proc)
        assert ready["event"] == "ready", ready
        event = build_event(
            id="sio-e2e-1", type="note", title="Hello Socket.IO", audience={"kind": "users", "ids": ["sio-7"]}
        )
        await publish(client, event, prefix=fleet.key_prefix)
        assert await next_step(proc) == {"event": "received", "id": "sio-e2e-1", "title": "Hello Socket.IO"}
        assert await next_step(proc) == {"event": "read", "answer": {"type": "ok"}}
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        deadline = time.monotonic() + 10
        while not {"delivered", "acked", "read"} <= await receipt_kinds(client, keys, "sio-e2e-1"):
            assert time.monotonic() < deadline, await receipt_kinds(client, keys, "sio-e2e-1")
            await asyncio.sleep(0.05)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await client.aclose()
