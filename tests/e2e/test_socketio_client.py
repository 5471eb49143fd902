"""An unmodified socket.io-client 4.x app (clients/socketio-check, run with Node) against the
fleet's Socket.IO endpoint: it connects with `auth: { token }`, receives a published notification
as `notification:new`, acknowledges it and marks it read; then its gateway node is killed, it
moves to the other node with its last id, catches up what was published meanwhile, and shows
nothing twice. The receipts reach the fleet."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_async
from devstack.fleet import Fleet, dev_token
from devstack.redis_server import start_redis
from notify_common.keys import Keys
from notify_common.publish import build_event, publish
from notify_common.redis_conn import connect

pytestmark = pytest.mark.e2e

CHECK_DIR = Path(__file__).resolve().parents[2] / "clients" / "socketio-check"


@pytest.fixture(scope="module")
def killable_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A fleet of this module's own: the test kills one of its gateways."""
    server = start_redis()
    running = Fleet(server.url, tmp_path_factory.mktemp("fleet"), gateways=2).start()
    try:
        yield running
    finally:
        statuses = running.stop()
        server.stop()
        assert all(code == 0 for name, code in statuses.items() if name != "gateway-2"), statuses


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
    """The app's next line, skipping connect errors (expected while its node is down)."""
    assert proc.stdout is not None
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        assert line, "the socket.io-client app exited early"
        step: dict[str, Any] = json.loads(line)
        if step["event"] != "connect_error":
            return step


async def steps_until_exit(proc: asyncio.subprocess.Process, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every further line of the app until it exits (connect errors left out)."""
    assert proc.stdout is not None
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    steps = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return [step for step in steps if step["event"] != "connect_error"]


async def receipt_kinds(client: redis_async.Redis, keys: Keys, nid: str) -> set[str]:
    found = [
        json.loads(f[b"receipt"]) for stream in keys.receipt_shards for _, f in await client.xrange(stream)
    ]
    return {r["kind"] for r in found if r["notification_id"] == nid}


def http_base(fleet: Fleet, name: str) -> str:
    return fleet.gateway_url(name).replace("ws://", "http://").removesuffix("/ws")


async def test_socketio_client_receives_acks_reads_and_survives_its_node_being_killed(
    killable_fleet: Fleet,
) -> None:
    fleet = killable_fleet
    node = node_ready()
    env = {
        **os.environ,
        "GATEWAYS": f"{http_base(fleet, 'gateway-2')},{http_base(fleet, 'gateway-1')}",
        "TOKEN": dev_token("sio-7"),
        "EXPECT": "sio-e2e-1,sio-e2e-2",
    }
    proc = await asyncio.create_subprocess_exec(
        node, "check.mjs", cwd=CHECK_DIR, env=env, stdout=asyncio.subprocess.PIPE
    )
    client = connect(fleet.redis_url)
    keys = fleet.keys
    audience = {"kind": "users", "ids": ["sio-7"]}
    try:
        assert await next_step(proc) == {"event": "hello", "node": "gateway-2"}
        assert (await next_step(proc))["event"] == "ready"
        first = build_event(id="sio-e2e-1", type="note", title="Hello Socket.IO", audience=audience)
        await publish(client, first, prefix=fleet.key_prefix)
        assert await next_step(proc) == {"event": "received", "id": "sio-e2e-1", "title": "Hello Socket.IO"}
        assert await next_step(proc) == {"event": "read", "id": "sio-e2e-1", "answer": {"type": "ok"}}

        fleet.processes["gateway-2"].kill()
        second = build_event(id="sio-e2e-2", type="note", title="While you moved", audience=audience)
        await publish(client, second, prefix=fleet.key_prefix)
        rest = await steps_until_exit(proc)
        # replayed by catch-up (it came before the marker) or live: once either way
        assert rest[0] == {"event": "hello", "node": "gateway-1"}, rest
        received = [s for s in rest if s["event"] == "received"]
        assert received == [{"event": "received", "id": "sio-e2e-2", "title": "While you moved"}], rest
        assert {"event": "read", "id": "sio-e2e-2", "answer": {"type": "ok"}} in rest
        assert not [s for s in rest if s["event"] in ("duplicate", "timeout")], rest
        assert [s["gap"] for s in rest if s["event"] == "ready"] == [False]
        assert proc.returncode == 0
        deadline = time.monotonic() + 10
        for nid in ("sio-e2e-1", "sio-e2e-2"):
            while not {"acked", "read"} <= await receipt_kinds(client, keys, nid):
                assert time.monotonic() < deadline, await receipt_kinds(client, keys, nid)
                await asyncio.sleep(0.05)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await client.aclose()
