"""Test kit for the gateway: a real node in the test's loop on a free port, and helpers that
speak its protocol over real sockets (imported by the tests next to it)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from gateway.app import NODE, build
from gateway.config import GatewayConfig
from gateway.node import Node
from notify_common.keys import Keys
from notify_common.schemas import FIELD_DELIVERY, NodeDelivery, Notification, encode
from notify_common.service import Running, start

SECRET = "test-secret-0123456789abcdef-0123456789"


def make_token(user_id: str, roles: list[str] | None = None, ttl_s: float = 3600, **extra: Any) -> str:
    now = time.time()
    claims = {"sub": user_id, "roles": roles or [], "exp": int(now + ttl_s), **extra}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@dataclass
class RunningGateway:
    """A gateway assembled by `gateway.app.build`, as `python -m gateway` runs it."""

    running: Running

    @property
    def node(self) -> Node:
        return self.running.app[NODE]

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def stop(self) -> asyncio.Event:
        return self.running.stop

    @property
    def keys(self) -> Keys:
        return self.node.keys

    def url(self, path: str = "/ws") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def http_url(self, path: str = "/events") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def deliver(
        self, nid: str, user_ids: list[str] | None = None, rooms: list[str] | None = None, **fields: Any
    ) -> Notification:
        """Write a delivery entry as the router does (and nothing else)."""
        n = Notification(id=nid, type="test", created_ms=int(time.time() * 1000), **fields)
        entry = NodeDelivery(notification=n, user_ids=user_ids or [], rooms=rooms or [])
        await self.node.client.xadd(
            self.keys.node_deliveries(self.node.cfg.node_id), {FIELD_DELIVERY: encode(entry)}
        )
        return n

    async def close(self) -> None:
        await self.running.close()


async def start_gateway(
    redis_url: str, keys: Keys, node_id: str = "gw-test", **settings: Any
) -> RunningGateway:
    settings.setdefault("drain_window_s", 0.0)  # a test that ends with sockets open: close them at once
    cfg = GatewayConfig(
        redis_url=redis_url,
        key_prefix=keys.prefix,
        node_id=node_id,
        jwt_secret=SECRET,
        **{"consumer_block_ms": 200, "heartbeat_ms": 200, **settings},
    )
    app = build(cfg)
    return RunningGateway(await start(app, "127.0.0.1", 0, grace_s=cfg.shutdown_grace_s))


GatewayFactory = Callable[..., Awaitable[RunningGateway]]


async def next_frame(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10.0) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
    frame: dict[str, Any] = json.loads(msg.data)
    return frame


async def frame_of_type(
    ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 10.0
) -> dict[str, Any]:
    """The next frame of `kind`, skipping others."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await next_frame(ws, max(0.1, deadline - time.monotonic()))
        if frame["type"] == kind:
            return frame


async def connect_live(
    http: aiohttp.ClientSession, gw: RunningGateway, token: str, query: str = ""
) -> aiohttp.ClientWebSocketResponse:
    """A socket past hello and catch-up (ready for live frames)."""
    ws = await http.ws_connect(gw.url() + query, headers={"Authorization": f"Bearer {token}"})
    assert (await next_frame(ws))["type"] == "hello"
    await frame_of_type(ws, "catchup.done")
    return ws
