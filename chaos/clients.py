"""WebSocket clients that record every frame they receive and reconnect when their node goes away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from dataclasses import dataclass, field

import aiohttp

HELLO_TIMEOUT_S = 10.0
RETRY_HINT = re.compile(r"retry_ms=(\d+)")


def reconnect_delay_s(code: int | None, reason: str, failures: int, rng: random.Random) -> float:
    """What docs/protocol.md asks of a client: full jitter over the 1001 hint (or 1 s without one);
    after a refusal or a lost connection, full jitter over an exponential base (0.25 s to 5 s)."""
    if code == 1001:
        found = RETRY_HINT.search(reason)
        return rng.uniform(0, int(found.group(1)) / 1000 if found else 1.0)
    return rng.uniform(0, min(5.0, 0.25 * 2**failures))


@dataclass(frozen=True, slots=True)
class Received:
    """One notification frame as a client saw it."""

    id: str
    connection: int
    """Which connection of this client (1, 2, …) received it."""
    at: float
    """time.monotonic() on arrival."""


@dataclass
class ClientLog:
    """Everything one client saw, for the checker."""

    user_id: str
    roles: tuple[str, ...]
    frames: list[Received] = field(default_factory=list)
    connections: int = 0
    frames_without_id: int = 0
    closes: list[str] = field(default_factory=list)


class RecordingClient:
    """One user's client: connects to the first gateway that answers, reconnects on any close."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        user_id: str,
        roles: tuple[str, ...],
        token: str,
        urls: list[str],
        rng: random.Random,
    ) -> None:
        self.session = session
        self.token = token
        self.urls = urls
        self.rng = rng
        self.log = ClientLog(user_id, roles)
        self.connected = asyncio.Event()
        self.ids: set[str] = set()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pause_s = 0.0
        self._hinted_s = 0.0
        self._next_url = 0
        self.last_id: str | None = None
        """The last notification id received: sent as `last_id` on reconnect, for catch-up."""

    def start_on(self, index: int) -> None:
        """Prefer gateway `index` for the first connection (spreads clients over nodes)."""
        self._next_url = index % len(self.urls)

    async def drop(self, offline_s: float) -> None:
        """Close the socket as a phone losing signal would, and stay away for `offline_s`."""
        self._pause_s = offline_s
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            url = self.urls[self._next_url]
            try:
                await self._session_on(url, stop)
                failures = 0
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                failures += 1
                self.log.closes.append(f"connect {url}: {type(exc).__name__}")
                # A node that refuses is dead for now: try the next one.
                self._next_url = (self._next_url + 1) % len(self.urls)
            self.connected.clear()
            delay = self._pause_s or self._hinted_s or self.rng.uniform(0.05, min(2.0, 0.2 * 2**failures))
            self._pause_s = self._hinted_s = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session_on(self, url: str, stop: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        params = {"last_id": self.last_id} if self.last_id else None
        async with self.session.ws_connect(url, headers=headers, params=params, heartbeat=None) as ws:
            self._ws = ws
            hello = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT_S)
            if hello.type != aiohttp.WSMsgType.TEXT:
                self.log.closes.append(f"refused by {url}: {hello.data} {hello.extra}")
                return
            self.log.connections += 1
            connection = self.log.connections
            self.connected.set()
            # One watcher per connection closes it on stop (not two futures per frame: the load
            # profile's 5,000 clients receive thousands of frames a second).
            closer = asyncio.create_task(_close_on(stop, ws))
            try:
                while True:
                    msg = await ws.receive()
                    if stop.is_set():
                        return
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        self.log.closes.append(f"{url}: {msg.type.name} {msg.data} {msg.extra or ''}")
                        if msg.type == aiohttp.WSMsgType.CLOSE:
                            # A graceful node asks us to go elsewhere: the next node, after a
                            # random part of its reconnect hint (docs/protocol.md, close codes).
                            self._next_url = (self._next_url + 1) % len(self.urls)
                            self._hinted_s = reconnect_delay_s(msg.data, msg.extra or "", 0, self.rng)
                        return
                    self._record(msg.data, connection)
            finally:
                closer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await closer
                self._ws = None

    def _record(self, text: str, connection: int) -> None:
        frame = json.loads(text)
        if frame.get("type") != "notification":
            return
        notification = frame.get("notification") or {}
        nid = notification.get("id")
        if not isinstance(nid, str) or not nid:
            self.log.frames_without_id += 1
            return
        self.ids.add(nid)
        self.last_id = nid
        self.log.frames.append(Received(nid, connection, time.monotonic()))


async def _close_on(stop: asyncio.Event, ws: aiohttp.ClientWebSocketResponse) -> None:
    await stop.wait()
    await ws.close()
