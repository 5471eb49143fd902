"""Gateway process: WebSocket endpoint, presence, and delivery from this node's stream."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Sequence

import redis.asyncio as redis_async
import structlog
from aiohttp import WSMsgType, web
from notify_common.consumer import ConsumerSettings, Entry, Outcome, StreamConsumer, ensure_group
from notify_common.jwt_auth import AuthError, JwtSettings, Principal, verify_token
from notify_common.keys import GROUP_GATEWAY, Keys
from notify_common.ops import start_site
from notify_common.presence import heartbeat
from notify_common.redis_conn import connect
from notify_common.schemas import BadEntry, decode_delivery
from notify_common.service import redis_check, run_service
from notify_common.trim import trim_loop

from gateway import presence_writer
from gateway.config import GatewayConfig
from gateway.frames import control_frame, notification_frame
from gateway.sockets import LocalSockets

log = structlog.get_logger("gateway.app")

CLOSE_UNAUTHORIZED = 4401
CLOSE_GOING_AWAY = 1001


class Gateway:
    """State of one gateway node."""

    def __init__(self, cfg: GatewayConfig, client: redis_async.Redis) -> None:
        self.cfg = cfg
        self.client = client
        self.keys = Keys(cfg.key_prefix)
        self.sockets = LocalSockets()
        self.jwt = JwtSettings(
            secret=cfg.jwt_secret, algorithms=tuple(cfg.jwt_algorithms), leeway_s=cfg.jwt_leeway_s
        )
        self.all_ws: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    def token_from(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :].strip()
        return request.query.get("token")

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=self.cfg.max_frame_bytes, heartbeat=None)
        await ws.prepare(request)
        token = self.token_from(request)
        if token is None:
            await ws.close(
                code=CLOSE_UNAUTHORIZED,
                message=b"missing token: send Authorization: Bearer <jwt> or ?token=<jwt>",
            )
            return ws
        try:
            principal = verify_token(token, self.jwt)
        except AuthError as exc:
            await ws.close(code=CLOSE_UNAUTHORIZED, message=str(exc).encode()[:120])
            return ws
        await self.serve(ws, principal)
        return ws

    async def serve(self, ws: web.WebSocketResponse, principal: Principal) -> None:
        rooms = [f"role:{r}" for r in principal.roles] + ["all"]
        self.sockets.add(principal.user_id, rooms, ws)
        self.all_ws.add(ws)
        await presence_writer.connected(self.client, self.keys, self.cfg.node_id, principal.user_id)
        try:
            await ws.send_frame(
                control_frame("hello", user_id=principal.user_id, node=self.cfg.node_id), WSMsgType.TEXT
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and msg.data.strip() in ('{"type":"ping"}', '{"type": "ping"}'):
                    await ws.send_frame(control_frame("pong"), WSMsgType.TEXT)
        finally:
            self.sockets.remove(principal.user_id, rooms, ws)
            await presence_writer.disconnected(self.client, self.keys, self.cfg.node_id, principal.user_id)

    async def deliver(self, entries: Sequence[Entry]) -> Outcome:
        outcome = Outcome()
        for entry in entries:
            try:
                delivery = decode_delivery(entry.fields)
            except BadEntry as exc:
                outcome.dead[entry.id] = str(exc)
                continue
            frame = notification_frame(delivery.notification)
            for ws in self.sockets.targets(delivery.user_ids, delivery.rooms):
                if not ws.closed:
                    with contextlib.suppress(ConnectionError):
                        await ws.send_frame(frame, WSMsgType.TEXT)
        return outcome

    async def heartbeat_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await heartbeat(self.client, self.keys, self.cfg.node_id)
            except (ConnectionError, OSError, redis_async.ConnectionError) as exc:
                log.warning("heartbeat_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.cfg.heartbeat_ms / 1000)

    async def shutdown(self) -> None:
        for ws in list(self.all_ws):
            await ws.close(code=CLOSE_GOING_AWAY, message=b"node shutting down: reconnect")
        with contextlib.suppress(Exception):
            await presence_writer.leave(self.client, self.keys, self.cfg.node_id)


def build_app(gateway: Gateway) -> web.Application:
    app = web.Application()
    app.router.add_get("/ws", gateway.websocket)
    return app


async def main(cfg: GatewayConfig) -> int:
    client = connect(cfg.redis_url, block_ms=cfg.consumer_block_ms)
    gateway = Gateway(cfg, client)
    keys = gateway.keys
    # The group exists before the node is announced alive, so no delivery is written unseen.
    await ensure_group(client, keys.node_deliveries(cfg.node_id), GROUP_GATEWAY, "$")
    await heartbeat(client, keys, cfg.node_id)
    settings = ConsumerSettings(
        stream=keys.node_deliveries(cfg.node_id),
        group=GROUP_GATEWAY,
        consumer=cfg.node_id,
        dead_letter_stream=keys.dead_letters,
        batch=cfg.consumer_batch,
        block_ms=cfg.consumer_block_ms,
        claim_idle_ms=cfg.claim_idle_ms,
        max_deliveries=cfg.max_deliveries,
        start_id="$",
    )
    consumer = StreamConsumer(client, settings, gateway.deliver)
    runner, port = await start_site(build_app(gateway), cfg.host, cfg.port)
    log.info("gateway_listening", port=port, path="/ws")

    async def consume(stop: asyncio.Event) -> None:
        await consumer.run(stop)

    async def trim(stop: asyncio.Event) -> None:
        await trim_loop(client, {keys.node_deliveries(cfg.node_id): [GROUP_GATEWAY]}, stop)

    try:
        return await run_service(
            cfg,
            "gateway",
            [consume, gateway.heartbeat_loop, trim],
            {
                "redis": redis_check(client),
                "consumer": lambda: consumer.healthy(cfg.consumer_block_ms / 1000 + 10),
            },
        )
    finally:
        await gateway.shutdown()
        await runner.cleanup()
        await client.aclose()
