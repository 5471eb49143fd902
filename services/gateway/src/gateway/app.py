"""Gateway process: wires the endpoints, the delivery consumer, heartbeats and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from notify_common import presence
from notify_common.clock import now_ms
from notify_common.consumer import ConsumerSettings, StreamConsumer, ensure_group
from notify_common.cors import enable_cors
from notify_common.fastpack import pack_with_hiredis
from notify_common.keys import GROUP_GATEWAY
from notify_common.lifecycle import periodic
from notify_common.ops import ReadinessCheck
from notify_common.presence.in_flight import room_routings_until
from notify_common.redis_conn import connect
from notify_common.service import READINESS, WORKERS, Worker, redis_check, run_service
from notify_common.trim import trim_loop
from prometheus_client import Gauge
from redis.exceptions import RedisError

from gateway import location, resync, sio_endpoint
from gateway.config import GatewayConfig
from gateway.delivery import deliver
from gateway.drain import drain
from gateway.node import Node
from gateway.pings import ping_loop
from gateway.sse import events
from gateway.websocket import WebSocketEndpoint

log = structlog.get_logger("gateway.app")

CONNECTIONS = Gauge("nf_gateway_connections", "Client connections (WebSocket and SSE) held by this node.")


HEARTBEAT_RETRY_S = 0.5
"""After a failed heartbeat, try again this soon: a Redis that came back empty is noticed at
once, not a whole heartbeat later, while the router finds this node's users offline."""


async def heartbeat_loop(node: Node, stop: asyncio.Event) -> None:
    """Refresh this node's liveness, announce its users again if Redis lost them, sweep others."""
    cfg = node.cfg
    intact_ms = now_ms()  # when a heartbeat last found this node's presence: resync replays from there
    resync_since: int | None = None

    async def beat() -> float:
        nonlocal intact_ms, resync_since
        interval = cfg.heartbeat_ms / 1000
        try:
            sent_ms = now_ms()
            if not await presence.heartbeat(node.client, node.keys, cfg.node_id, cfg.node_ttl_ms):
                if resync_since is None:
                    resync_since = intact_ms
                    log.warning("presence_lost", since_ms=intact_ms, connections=len(node.sockets))
                node.resyncing = True
            if resync_since is not None:
                await resync.rebuild(node, resync_since)
                resync_since = None
                node.resyncing = False
            intact_ms = sent_ms
            await presence.sweep_dead_nodes(node.client, node.keys, cfg.node_id, cfg.node_ttl_ms)
        except (RedisError, OSError) as exc:
            log.warning("heartbeat_failed", error=repr(exc))
            interval = min(interval, HEARTBEAT_RETRY_S)
        CONNECTIONS.set(len(node.sockets))
        return interval

    await periodic("heartbeat", beat, cfg.heartbeat_ms / 1000, stop, backoff_cap_s=HEARTBEAT_RETRY_S)


async def shutdown(node: Node) -> None:
    """Close every socket with 1001 over the drain window (drain.py), then remove this node's presence."""
    await drain(node)
    for task in list(node.close_tasks):
        task.cancel()
    with contextlib.suppress(RedisError, OSError):
        await presence.remove_node(node.client, node.keys, node.cfg.node_id)
    log.info("gateway_left")


NODE = web.AppKey("node", Node)


def build(cfg: GatewayConfig) -> web.Application:
    """The gateway node: its endpoints, the delivery consumer, heartbeats, pings, trimming and the
    paced drain, opened and closed with the application (production and tests alike)."""
    client = connect(cfg.redis_url, block_ms=cfg.consumer_block_ms)
    # presence writes and catch-up reads: batches of thousands of replies in a reconnect storm,
    # each batch bounded as a whole instead of every reply timed
    batch_client = pack_with_hiredis(connect(cfg.redis_url, per_read_timeout=False))
    node = Node.create(cfg, client, batch_client)
    keys = node.keys
    stream = keys.node_deliveries(cfg.node_id)
    settings = ConsumerSettings.from_config(cfg, stream, GROUP_GATEWAY, "$")
    consumer = StreamConsumer(client, settings, functools.partial(deliver, node))
    drained = asyncio.Event()

    app = web.Application()
    app[NODE] = node

    async def announced(_: web.Application) -> AsyncIterator[None]:
        # The group exists before the node is announced alive, so no delivery is written unseen.
        await ensure_group(client, stream, GROUP_GATEWAY, "$")
        await presence.mark_alive(client, keys, cfg.node_id)
        node.accepting_from_ms = await room_routings_until(client, keys)
        if node.accepting_from_ms > now_ms():
            log.info("node_starting", takes_clients_in_ms=node.accepting_from_ms - now_ms())
        try:
            yield
        finally:
            with contextlib.suppress(RedisError, OSError):
                await node.pubsub.aclose()
            await batch_client.aclose()
            await client.aclose()

    async def leave(_: web.Application) -> None:
        await shutdown(node)

    # first in, last out: Redis stays open until socket.io's own cleanup is done
    app.cleanup_ctx.append(announced)
    app.on_shutdown.append(leave)  # sockets closed before the server waits for their handlers
    app.router.add_get("/ws", WebSocketEndpoint(node).handle)
    app.router.add_get("/events", functools.partial(events, node))
    enable_cors(app, cfg.allowed_origins)
    sio_endpoint.attach(app, node)

    async def consume(stop: asyncio.Event) -> None:
        await consumer.run(drained)  # sockets still open during the drain keep getting deliveries

    async def drain_on_stop(stop: asyncio.Event) -> None:
        await stop.wait()
        try:
            await drain(node)
        finally:
            drained.set()

    async def trim(stop: asyncio.Event) -> None:
        await trim_loop(client, {stream: [GROUP_GATEWAY]}, stop)

    workers: list[Worker] = [
        consume,
        drain_on_stop,
        functools.partial(heartbeat_loop, node),
        functools.partial(ping_loop, node),
        functools.partial(location.forward_loop, node),
        trim,
    ]
    app[WORKERS] = workers
    checks: dict[str, ReadinessCheck] = {
        "redis": redis_check(client),
        "presence": lambda: not node.resyncing,
        "started": node.started,
        "consumer": lambda: consumer.healthy(cfg.consumer_block_ms / 1000 + 10),
    }
    app[READINESS] = checks
    return app


async def main(cfg: GatewayConfig) -> int:
    return await run_service(cfg, "gateway", build(cfg), cfg.host, cfg.port, cfg.listen_backlog)
