"""Probes for hostile-input tests: does every process still run, answer ready, and deliver?"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import redis.asyncio as redis_async
from devstack.fleet import Fleet, dev_token
from notify_common.keys import Keys


def readiness(fleet: Fleet) -> dict[str, int]:
    """Each service's /readyz status (0 = no answer)."""
    statuses = {}
    for name, proc in fleet.processes.items():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{proc.ops_port}/readyz", timeout=5) as resp:
                statuses[name] = resp.status
        except urllib.error.HTTPError as exc:
            statuses[name] = exc.code
        except OSError:
            statuses[name] = 0
    return statuses


def assert_fleet_healthy(fleet: Fleet) -> None:
    """Every process still runs and answers ready."""
    exited = {
        n: p.process.returncode
        for n, p in fleet.processes.items()
        if p.process and p.process.poll() is not None
    }
    assert not exited, f"exited: {exited}"
    assert set(readiness(fleet).values()) == {200}, readiness(fleet)


async def delivers_to_a_fresh_client(
    fleet: Fleet, gateway: str = "gateway-1", timeout_s: float = 30.0
) -> None:
    """The next good event reaches a socket: the fleet did not stall on what came before."""
    user = f"probe-{uuid.uuid4().hex[:8]}"
    nid = f"probe-{uuid.uuid4().hex[:8]}"
    client = redis_async.Redis.from_url(fleet.redis_url)
    headers = {"Authorization": f"Bearer {dev_token(user)}"}
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(fleet.gateway_url(gateway), headers=headers) as ws,
        ):
            hello = await asyncio.wait_for(ws.receive(), 10)
            assert hello.type == aiohttp.WSMsgType.TEXT, hello
            event = {"id": nid, "type": "probe", "audience": {"kind": "users", "ids": [user]}}
            await client.xadd(Keys(fleet.key_prefix).ingress, {b"event": json.dumps(event).encode()})
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                msg = await asyncio.wait_for(ws.receive(), deadline - time.monotonic())
                if msg.type == aiohttp.WSMsgType.TEXT and nid in msg.data:
                    return
            raise AssertionError(f"{nid} not delivered within {timeout_s}s")
    finally:
        await client.aclose()


def documented_close_codes(protocol_md: Path) -> set[int]:
    """WebSocket close codes listed in the gateway's section of docs/protocol.md (plus 1000)."""
    text = protocol_md.read_text()
    section = text.split("## 4. WebSocket protocol", 1)[-1].split("\n## 5.", 1)[0]
    codes = {1000}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.split("|")]
        code = re.match(r"(\d{4})\b", cells[1]) if len(cells) > 2 else None
        if code:
            codes.add(int(code.group(1)))
    return codes


FLOOD_BATCH = 20
"""Frames a flooding client writes between two turns of its event loop (its reader runs between)."""
FLOOD_FRAME = '{"type":"ping","pad":"' + "x" * 900 + '"}'


async def flood_until_closed(
    http: aiohttp.ClientSession, url: str, first: str | None = None, headers: dict[str, str] | None = None
) -> int | None:
    """The close code a client gets that writes `first`, then frames without pause, until its reader
    sees the close, as client libraries do (1006: the close frame never arrived)."""
    ws = await http.ws_connect(url, headers=headers or {}, max_msg_size=0)

    async def write() -> None:
        try:
            if first is not None:
                await ws.send_str(first)
            while not ws.closed:
                for _ in range(FLOOD_BATCH):
                    await ws.send_str(FLOOD_FRAME)
                await asyncio.sleep(0)  # the reader's turn
        except (ConnectionError, aiohttp.ClientError, RuntimeError):
            pass  # the socket is closing: the reader reports how

    writer = asyncio.create_task(write())
    try:
        while True:
            msg = await ws.receive(timeout=15)
            if msg.type == aiohttp.WSMsgType.CLOSE:
                return int(msg.data)
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                return ws.close_code
    finally:
        await ws.close()
        await writer
