"""Paced drain: on SIGTERM the node closes its sockets spread over DRAIN_WINDOW_S, not at once.

Closing every socket in the same instant sends every client of the node to the surviving nodes in
the same instant, each with a catch-up read: a self-inflicted reconnect storm on every deploy. Here
the closes are spread evenly over the window, and each close (1001) carries a reconnect hint the
client waits a random part of before reconnecting (docs/protocol.md, close codes), so a survivor
takes about connections / window reconnects a second.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from gateway.connection import CLOSE_GOING_AWAY, Connection, close
from gateway.drain_schedule import TICK_S, closes_due, going_away_reason, retry_ms
from gateway.node import Node
from gateway.ws_protocol import CLOSE_LINGER_S

log = structlog.get_logger("gateway.drain")


async def drain(node: Node) -> int:
    """Close every socket with 1001, evenly spread over the drain window; returns how many."""
    node.draining = True
    window = node.cfg.drain_window_s
    reason = going_away_reason(retry_ms(window))
    conns = [c for c in node.sockets.all() if not c.closing]
    if not conns and not node.sockets.all() and not node.opening:
        return 0  # drained already (SIGTERM drains before the workers stop; shutdown checks again)
    loop = asyncio.get_running_loop()
    started = last_tick = loop.time()
    closing: set[asyncio.Task[Any]] = set()
    done = 0
    while done < len(conns):
        now = loop.time()
        target = closes_due(len(conns), done, now - started, now - last_tick, window)
        for conn in conns[done:target]:
            _close(conn, reason, closing)
        done, last_tick = target, now
        if done < len(conns):
            await asyncio.sleep(TICK_S)
    behind_s = max(0.0, loop.time() - started - window)
    # Sockets that finished their handshake after the drain began (not in `conns`): at once.
    for conn in node.sockets.all():
        _close(conn, reason, closing)
    # Sockets still opening (an auth frame awaited, a catch-up read): the same 1001, not the
    # abort their cancelled handler would end in.
    for socket in list(node.opening):
        closing.add(asyncio.create_task(socket.close(CLOSE_GOING_AWAY, reason.encode())))
    if closing:
        await asyncio.wait(closing, timeout=CLOSE_LINGER_S + 1.0)
    log.info("gateway_drained", connections=len(conns), window_s=window, behind_s=round(behind_s, 3))
    return len(conns)


def _close(conn: Connection, reason: str, closing: set[asyncio.Task[Any]]) -> None:
    if not conn.closing:
        conn.closing = True  # before the task runs: the stragglers' pass must not close it twice
        closing.add(asyncio.create_task(close(conn, CLOSE_GOING_AWAY, reason)))
