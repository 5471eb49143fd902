"""WebSocket clients in worker processes: connect, record what arrives, report back.

Each worker is a separate process (so the load generator is not the bottleneck on two cores)
running one asyncio loop that holds its share of the connections. The parent sends commands
over a pipe; every reply is plain data (picklable).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing as mp
import random
import re
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import quote, urlsplit

import msgspec

from bench.histogram import Histogram
from bench.procstats import raise_nofile_limit
from bench.wsclient import WsClient, dial

# Handshakes (and closes) in flight per worker process: a steady reconnect wave, not a thundering
# herd (a herd once exhausted the gateway's Redis pool; the pool now waits instead).
CONNECT_CONCURRENCY = 24
HELLO_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 10.0
CLOSE_GOING_AWAY = 1001
RECONNECT_ATTEMPTS = 3
RECONNECT_BACKOFF_S = 0.5
# The reconnect hint of a 1001 close reason (docs/protocol.md, close codes): "...; retry_ms=5000".
# The client waits a uniformly random 0..retry_ms ms. A reason without a hint (a gateway without
# the paced drain) is answered as that gateway's protocol said: reconnect at once.
_HINT = re.compile(r"retry_ms=(\d+)")


def reconnect_delay_s(reason: str, rng: random.Random) -> float:
    """Seconds to wait before reconnecting after a server's 1001 with `reason`."""
    hint = _HINT.search(reason)
    return rng.uniform(0, int(hint.group(1)) / 1000) if hint else 0.0


@dataclass(frozen=True)
class ClientSpec:
    """One client connection: who it is and where it connects."""

    user_id: str
    url: str
    token: str
    fallback_url: str = ""
    """Where to reconnect when the server closes with 1001 (a draining node); "" = stay closed."""
    local_host: str | None = None
    """Source address to bind (127.0.0.2, …): one address has ~28k ports towards one listener."""


@dataclass
class Received:
    """What one worker's clients received since the last reset."""

    latency: Histogram = field(default_factory=Histogram)
    receivers: dict[str, int] = field(default_factory=dict)
    """notification id -> number of distinct clients that received it."""
    last_receive_ns: dict[str, int] = field(default_factory=dict)
    """notification id -> receive latency of the last client to get it (ns)."""
    duplicates: int = 0
    frames: int = 0
    last_frame_ns: int = 0
    catchup: Histogram = field(default_factory=Histogram)
    """Connect start to `catchup.done`, per connection opened since the last reset (µs)."""
    catchups: int = 0
    replayed: int = 0
    """Sum of the `count` of every `catchup.done` marker."""
    gaps: int = 0
    connected_at: list[float] = field(default_factory=list)
    """Wall clock of every `catchup.done` (connects per second)."""
    opened_at: list[float] = field(default_factory=list)
    """Wall clock of every connect attempt's start (the rate offered to the nodes)."""
    reconnect_failures: int = 0
    first_reconnect_errors: list[str] = field(default_factory=list)
    """Why the first clients that gave up reconnecting failed (their last attempt's error)."""
    failed_attempts: dict[str, int] = field(default_factory=dict)
    """Every failed reconnect attempt by its error's type (those that succeeded later too)."""


# Only the fields the load generator reads; msgspec skips the rest without building objects.
class _Data(msgspec.Struct):
    t_pub_ns: int | None = None


class _Notification(msgspec.Struct):
    id: str
    data: _Data = msgspec.field(default_factory=_Data)


class _Frame(msgspec.Struct):
    type: str
    notification: _Notification | None = None
    count: int = 0
    gap: bool = False


class Worker:
    """The connections of one worker process and what they received."""

    def __init__(self) -> None:
        self.sockets: dict[str, WsClient] = {}
        self.received = Received()
        self.seen: set[tuple[str, str]] = set()
        self.decoder = msgspec.json.Decoder(_Frame)
        self.last_ids: dict[str, str] = {}
        """The last notification id each user received: its `last_id` when it reconnects."""
        self.reconnecting: set[asyncio.Task[None]] = set()
        self.rng = random.Random()

    async def connect(self, specs: list[ClientSpec]) -> dict[str, Any]:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        failures: list[str] = []

        async def one(spec: ClientSpec) -> None:
            async with gate:
                try:
                    await self._open(spec)
                except (OSError, TimeoutError, AssertionError) as exc:
                    failures.append(f"{spec.user_id}: {exc!r}")

        started = time.monotonic()
        await asyncio.gather(*(one(s) for s in specs))
        return {
            "connected": len(self.sockets),
            "opened": [s.user_id for s in specs if s.user_id in self.sockets],
            "failures": len(failures),
            "first_failures": failures[:3],
            "seconds": round(time.monotonic() - started, 3),
        }

    async def storm(self, specs: list[ClientSpec], seconds: float) -> dict[str, Any]:
        """Open `specs` spread evenly over `seconds` (no concurrency cap), each with its user's
        `last_id`: the reconnect storm of S8. Every upgrade request is built before the first
        connect; each connect is a bare socket (wsclient.dial) and its outcome a callback, so
        what the storm costs this process is little more than the clients' own sockets."""
        loop = asyncio.get_running_loop()
        failures: list[str] = []
        clients = [(spec, self._client(spec)) for spec in specs]
        finished: asyncio.Future[None] = loop.create_future()
        pending = len(clients)

        def opened(spec: ClientSpec, client: WsClient, hello: asyncio.Future[bytes]) -> None:
            nonlocal pending
            try:
                self._check_hello(spec, client, hello.result())
            except (OSError, AssertionError) as exc:
                failures.append(f"{spec.user_id}: {exc!r}")
            pending -= 1
            if pending == 0 and not finished.done():
                finished.set_result(None)

        started = time.monotonic()
        pace = seconds / max(1, len(clients))
        # one wake-up opens every client whose time has come (a busy loop wakes late)
        due = 0
        while due < len(clients):
            now = time.monotonic()
            while due < len(clients) and started + due * pace <= now:
                spec, client = clients[due]
                self._dial(spec, client)
                client.first_text.add_done_callback(functools.partial(opened, spec, client))
                due += 1
            if due < len(clients):
                await asyncio.sleep(started + due * pace - now)
        if clients:
            try:
                await asyncio.wait_for(finished, HELLO_TIMEOUT_S)
            except TimeoutError:
                failures.append(f"{pending} clients: no hello within {HELLO_TIMEOUT_S} s")
        return {
            "connected": len(self.sockets),
            "failures": len(failures),
            "first_failures": failures[:3],
            "seconds": round(time.monotonic() - started, 3),
        }

    async def _open(self, spec: ClientSpec) -> None:
        client = self._client(spec)
        self._dial(spec, client)
        try:
            hello = await asyncio.wait_for(client.first_text, HELLO_TIMEOUT_S)
        except TimeoutError:
            client.close()
            raise
        self._check_hello(spec, client, hello)

    def _client(self, spec: ClientSpec) -> WsClient:
        """The protocol of one connection, its upgrade request built (with the user's last_id)."""
        url = urlsplit(spec.url)
        path = url.path or "/"
        last_id = self.last_ids.get(spec.user_id)
        if last_id is not None:
            path += "?last_id=" + quote(last_id, safe="")

        def on_text(payload: bytes, now_ns: int) -> None:
            frame = self.decoder.decode(payload)
            if frame.type == "notification" and frame.notification is not None:
                self._record(spec.user_id, frame.notification, now_ns)
            elif frame.type == "catchup.done":
                r = self.received
                r.catchup.record((time.monotonic() - client.dialed_at) * 1e6)
                r.catchups += 1
                r.replayed += frame.count
                r.gaps += frame.gap
                r.connected_at.append(time.time())

        client = WsClient(url.netloc, path, spec.token, on_text)
        return client

    def _dial(self, spec: ClientSpec, client: WsClient) -> None:
        """Start connecting; the connect time counts from here (`client.dialed_at`)."""
        url = urlsplit(spec.url)
        self.received.opened_at.append(time.time())
        dial(client, url.hostname or "127.0.0.1", url.port or 80, spec.local_host)

    def _check_hello(self, spec: ClientSpec, client: WsClient, hello: bytes) -> None:
        if b'"hello"' not in hello:
            client.close()
            raise AssertionError(f"expected hello, got {hello[:120]!r}")
        self.sockets[spec.user_id] = client
        if spec.fallback_url:
            client.closed.add_done_callback(lambda _: self._on_closed(spec, client))

    def _on_closed(self, spec: ClientSpec, client: WsClient) -> None:
        """A draining node closed the socket (1001): reconnect to the other node, as told."""
        if client.closed_by_us or client.close_code != CLOSE_GOING_AWAY:
            return
        if self.sockets.get(spec.user_id) is client:
            del self.sockets[spec.user_id]
        delay_s = reconnect_delay_s(client.close_reason, self.rng)
        moved = ClientSpec(spec.user_id, spec.fallback_url, spec.token, fallback_url=spec.url)
        task = asyncio.get_running_loop().create_task(self._reconnect(moved, delay_s))
        self.reconnecting.add(task)
        task.add_done_callback(self.reconnecting.discard)

    async def _reconnect(self, spec: ClientSpec, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        error = ""
        for attempt in range(RECONNECT_ATTEMPTS):
            try:
                await self._open(spec)
                return
            except (OSError, TimeoutError, AssertionError) as exc:
                error = f"{spec.user_id}: {exc!r}"
                kind = type(exc).__name__
                self.received.failed_attempts[kind] = self.received.failed_attempts.get(kind, 0) + 1
                await asyncio.sleep(RECONNECT_BACKOFF_S * 2**attempt)
        self.received.reconnect_failures += 1
        if len(self.received.first_reconnect_errors) < 3:
            self.received.first_reconnect_errors.append(error)

    async def settle(self, timeout_s: float) -> dict[str, Any]:
        """Wait for the reconnects under way (a drain's) to finish."""
        if self.reconnecting:
            await asyncio.wait(set(self.reconnecting), timeout=timeout_s)
        return {"connected": len(self.sockets), "reconnecting": len(self.reconnecting)}

    def _record(self, user_id: str, notification: _Notification, now_ns: int) -> None:
        r = self.received
        r.frames += 1
        r.last_frame_ns = now_ns
        nid = notification.id
        self.last_ids[user_id] = nid
        key = (user_id, nid)
        if key in self.seen:
            r.duplicates += 1
            return
        self.seen.add(key)
        r.receivers[nid] = r.receivers.get(nid, 0) + 1
        t_pub_ns = notification.data.t_pub_ns
        if t_pub_ns is not None:
            latency_ns = now_ns - t_pub_ns
            r.latency.record(latency_ns / 1000)
            if latency_ns > r.last_receive_ns.get(nid, -1):
                r.last_receive_ns[nid] = latency_ns

    async def disconnect(self, user_ids: list[str] | None) -> dict[str, Any]:
        targets = list(self.sockets) if user_ids is None else [u for u in user_ids if u in self.sockets]
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def close(client: WsClient) -> None:
            async with gate:
                client.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(client.closed, CLOSE_TIMEOUT_S)

        await asyncio.gather(*(close(self.sockets.pop(u)) for u in targets))
        return {"closed": len(targets), "connected": len(self.sockets)}

    def reset(self) -> dict[str, Any]:
        self.received = Received()
        self.seen = set()
        return {"connected": len(self.sockets)}

    def progress(self) -> dict[str, Any]:
        r = self.received
        return {
            "frames": r.frames,
            "last_frame_ns": r.last_frame_ns,
            "catchups": r.catchups,
            "connected": len(self.sockets),
        }

    async def close(self) -> None:
        for task in list(self.reconnecting):
            task.cancel()
        await asyncio.gather(*self.reconnecting, return_exceptions=True)
        await self.disconnect(None)


async def _serve(conn: Connection) -> None:
    worker = Worker()
    loop = asyncio.get_running_loop()
    try:
        while True:
            command, arg = await loop.run_in_executor(None, conn.recv)
            reply: Any
            match command:
                case "connect":
                    reply = await worker.connect(arg)
                case "storm":
                    reply = await worker.storm(*arg)
                case "settle":
                    reply = await worker.settle(arg)
                case "disconnect":
                    reply = await worker.disconnect(arg)
                case "reset":
                    reply = worker.reset()
                case "progress":
                    reply = worker.progress()
                case "report":
                    reply = worker.received
                case "exit":
                    conn.send(None)
                    return
                case _:
                    reply = ValueError(f"unknown command {command!r}")
            conn.send(reply)
    finally:
        await worker.close()


def worker_main(conn: Connection) -> None:
    """Entry point of a client worker process."""
    raise_nofile_limit()
    asyncio.run(_serve(conn))


class ClientPool:
    """Client connections spread over `workers` processes (user i goes to worker i % workers)."""

    def __init__(self, workers: int = 2) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[mp.process.BaseProcess] = []
        for i in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child,), name=f"bench-clients-{i + 1}", daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(proc)
        self.connected: list[str] = []

    @property
    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.processes if p.pid is not None}

    def _ask_all(self, command: str, args: list[Any]) -> list[Any]:
        for pipe, arg in zip(self.pipes, args, strict=True):
            pipe.send((command, arg))
        replies = [pipe.recv() for pipe in self.pipes]
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _same(self, command: str, arg: Any = None) -> list[Any]:
        return self._ask_all(command, [arg] * len(self.pipes))

    def connect(self, specs: list[ClientSpec]) -> dict[str, Any]:
        shares: list[list[ClientSpec]] = [[] for _ in self.pipes]
        for i, spec in enumerate(specs):
            shares[i % len(self.pipes)].append(spec)
        replies = self._ask_all("connect", shares)
        self.connected += [u for r in replies for u in r["opened"]]
        return {
            "connected": sum(r["connected"] for r in replies),
            "failures": sum(r["failures"] for r in replies),
            "first_failures": [f for r in replies for f in r["first_failures"]][:3],
            "seconds": max(r["seconds"] for r in replies),
        }

    def storm(self, specs: list[ClientSpec], seconds: float) -> dict[str, Any]:
        """Open `specs` (each with its user's last_id) spread over `seconds` in every worker at once."""
        shares: list[list[ClientSpec]] = [[] for _ in self.pipes]
        for i, spec in enumerate(specs):
            shares[i % len(self.pipes)].append(spec)
        replies = self._ask_all("storm", [(share, seconds) for share in shares])
        self.connected += [s.user_id for s in specs]
        return {
            "connected": sum(r["connected"] for r in replies),
            "failures": sum(r["failures"] for r in replies),
            "first_failures": [f for r in replies for f in r["first_failures"]][:3],
            "seconds": max(r["seconds"] for r in replies),
        }

    def settle(self, timeout_s: float) -> dict[str, int]:
        """Wait for every worker's reconnects under way; totals of connected and still reconnecting."""
        replies = self._same("settle", timeout_s)
        return {k: sum(int(r[k]) for r in replies) for k in ("connected", "reconnecting")}

    def progress(self) -> dict[str, int]:
        replies = self._same("progress")
        return {k: sum(int(r[k]) for r in replies) for k in ("frames", "catchups", "connected")}

    def disconnect(self, user_ids: list[str]) -> int:
        replies = self._same("disconnect", user_ids)
        gone = set(user_ids)
        self.connected = [u for u in self.connected if u not in gone]
        return sum(int(r["connected"]) for r in replies)

    def reset(self) -> None:
        self._same("reset")

    def frames(self) -> int:
        return sum(int(r["frames"]) for r in self._same("progress"))

    def report(self) -> Received:
        merged = Received()
        for part in self._same("report"):
            merged.latency.merge(part.latency)
            for nid, n in part.receivers.items():
                merged.receivers[nid] = merged.receivers.get(nid, 0) + n
            for nid, ns in part.last_receive_ns.items():
                merged.last_receive_ns[nid] = max(ns, merged.last_receive_ns.get(nid, 0))
            merged.duplicates += part.duplicates
            merged.frames += part.frames
            merged.catchup.merge(part.catchup)
            merged.catchups += part.catchups
            merged.replayed += part.replayed
            merged.gaps += part.gaps
            merged.connected_at += part.connected_at
            merged.opened_at += part.opened_at
            merged.reconnect_failures += part.reconnect_failures
            merged.first_reconnect_errors += part.first_reconnect_errors
            for kind, n in part.failed_attempts.items():
                merged.failed_attempts[kind] = merged.failed_attempts.get(kind, 0) + n
            merged.last_frame_ns = max(merged.last_frame_ns, part.last_frame_ns)
        return merged

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, EOFError):
                pipe.send(("exit", None))
                pipe.recv()
        for proc in self.processes:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
