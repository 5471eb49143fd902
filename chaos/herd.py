"""Thousands of reconnecting clients in one process, cheap enough to hold 5,000 sockets.

Each member is one user's socket on the bench's lean protocol (bench/wsclient.py: frames parsed
in `data_received`, no task per socket while connected). A member that is closed reconnects to
the other node as the protocol asks: after a random part of the 1001 close's `retry_ms` hint,
with backoff after a refusal, always with `last_id`. The herd records when each connect
succeeded and on which node (the connect rate a surviving node sees) and every notification id
each member received (what was lost, what was duplicated).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import msgspec

from bench.wsclient import OP_CLOSE, OnText, WsClient
from chaos.clients import reconnect_delay_s

HELLO_TIMEOUT_S = 20.0


class HerdSocket(WsClient):
    """The bench's client protocol, keeping the close code and reason the server sent."""

    close_code: int | None = None
    close_reason = ""

    def _on_frame(self, opcode: int, payload: bytes, now_ns: int) -> None:
        if opcode == OP_CLOSE and self.close_code is None:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close_reason = payload[2:].decode(errors="replace")
        super()._on_frame(opcode, payload, now_ns)


class _Notification(msgspec.Struct):
    id: str


class _Frame(msgspec.Struct):
    type: str
    notification: _Notification | None = None


@dataclass
class Member:
    user_id: str
    token: str
    node: int
    last_id: str | None = None
    ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    socket: HerdSocket | None = None


@dataclass
class Herd:
    urls: list[str]
    rng: random.Random
    members: list[Member] = field(default_factory=list)
    reconnects: list[tuple[float, int]] = field(default_factory=list)
    """(time.monotonic(), node index) each reconnect after a 1001 close is due: the storm a drain
    offers the surviving node (retries after refusals are not in it). Taken when the close is seen
    plus the chosen delay, so a stall of this process's own loop does not read as a burst."""
    connects: list[tuple[float, int]] = field(default_factory=list)
    """(time.monotonic(), node index) of every connect that got its hello."""
    closes: Counter[int] = field(default_factory=Counter)
    """Close codes the server sent (0: the connection ended without a close frame)."""
    refusals: int = 0
    _decoder: msgspec.json.Decoder[_Frame] = field(default_factory=lambda: msgspec.json.Decoder(_Frame))

    def connected(self, node: int | None = None) -> int:
        return sum(
            1
            for m in self.members
            if m.socket is not None and not m.socket.closed.done() and (node is None or m.node == node)
        )

    async def run(self, member: Member, stop: asyncio.Event, first: asyncio.Semaphore) -> None:
        """Keep `member` connected until `stop` (then `close_all`); the first connect waits its
        turn at `first`."""
        async with first:
            failures = await self._session_start(member, 0)
        while not stop.is_set():
            code, reason = None, ""
            if member.socket is not None:
                await member.socket.closed
                code, reason = member.socket.close_code, member.socket.close_reason
                member.socket = None
                if stop.is_set():
                    break
                self.closes[code or 0] += 1
                member.node = 1 - member.node  # the node that closed it is going away: the other one
            if stop.is_set():
                break
            delay = reconnect_delay_s(code, reason, failures, self.rng)
            if code == 1001:
                self.reconnects.append((time.monotonic() + delay, member.node))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if not stop.is_set():
                failures = await self._session_start(member, failures)

    async def _session_start(self, member: Member, failures: int) -> int:
        """Connect `member` to its node; on refusal switch nodes. Returns the failure count."""
        url = urlsplit(self.urls[member.node])
        host, port = url.hostname or "127.0.0.1", url.port or 80
        path = url.path + (f"?last_id={quote(member.last_id)}" if member.last_id else "")
        loop = asyncio.get_running_loop()
        try:
            _, sock = await loop.create_connection(
                lambda: HerdSocket(f"{host}:{port}", path, member.token, self._receiver(member)), host, port
            )
            hello = await asyncio.wait_for(sock.first_text, HELLO_TIMEOUT_S)
        except (OSError, TimeoutError, ConnectionError):
            self.refusals += 1
            member.socket = None
            member.node = 1 - member.node
            return failures + 1
        if b'"hello"' not in hello:
            sock.close()
            member.socket = None
            return failures + 1
        member.socket = sock
        self.connects.append((time.monotonic(), member.node))
        return 0

    def _receiver(self, member: Member) -> OnText:
        def on_text(payload: bytes, _now_ns: int) -> None:
            frame = self._decoder.decode(payload)
            if frame.type != "notification" or frame.notification is None:
                return
            nid = frame.notification.id
            if nid in member.ids:
                member.duplicates += 1
            member.ids.add(nid)
            member.last_id = nid

        return on_text

    def close_all(self) -> None:
        for member in self.members:
            if member.socket is not None:
                member.socket.close()


def per_second(times: list[float], start: float, end: float) -> list[int]:
    """Events in each one-second bin of [start, end)."""
    bins: Counter[int] = Counter(int(t - start) for t in times if start <= t < end)
    return [bins[i] for i in range(int(end - start) + 1)]
