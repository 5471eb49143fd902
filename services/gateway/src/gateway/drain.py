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

from gateway.closing import CLOSE_LINGER_S
from gateway.connection import CLOSE_GOING_AWAY, Connection, close
from gateway.node import Node

log = structlog.get_logger("gateway.drain")

MIN_RETRY_MS = 1000
"""Smallest reconnect hint, so that even a node drained at once spreads its clients' reconnects."""

TICK_S = 0.02
"""Closes due within this much of each other are made together (one timer, not one per socket)."""


def retry_ms(window_s: float) -> int:
    """The reconnect hint: the client waits a random 0..retry_ms ms (a second window at most)."""
    return max(MIN_RETRY_MS, round(window_s * 1000))


def going_away_reason(hint_ms: int) -> str:
    """The 1001 close reason (well under the 123 bytes a close reason may have)."""
    return f"node shutting down: reconnect to any node after a random 0..retry_ms wait; retry_ms={hint_ms}"


async def drain(node: Node) -> int:
    """Close every socket with 1001, evenly spread over the drain window; returns how many."""
    node.draining = True
    window = node.cfg.drain_window_s
    reason = going_away_reason(retry_ms(window))
    conns = [c for c in node.sockets.all() if not c.closing]
    loop = asyncio.get_running_loop()
    started = loop.time()
    closing: set[asyncio.Task[Any]] = set()
    for i, conn in enumerate(conns):
        delay = started + window * i / len(conns) - loop.time()
        if delay > TICK_S:
            await asyncio.sleep(delay)
        _close(conn, reason, closing)
    # Sockets whose handshake was under way when the drain began: at once, they were told nothing.
    for conn in node.sockets.all():
        _close(conn, reason, closing)
    if closing:
        await asyncio.wait(closing, timeout=CLOSE_LINGER_S + 1.0)
    log.info("gateway_drained", connections=len(conns), window_s=window)
    return len(conns)


def _close(conn: Connection, reason: str, closing: set[asyncio.Task[Any]]) -> None:
    if not conn.closing:
        conn.closing = True  # before the task runs: the stragglers' pass must not close it twice
        closing.add(asyncio.create_task(close(conn, CLOSE_GOING_AWAY, reason)))
