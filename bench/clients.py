"""WebSocket clients in worker processes: connect, record what arrives, report back.

Each worker is a separate process (so the load generator is not the bottleneck on two cores)
running one asyncio loop that holds its share of the connections. The parent sends commands
over a pipe; every reply is plain data (picklable).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import msgspec

from bench.histogram import Histogram
from bench.procstats import raise_nofile_limit
from bench.wsclient import WsClient

# Handshakes (and closes) in flight per worker process: a steady reconnect wave, not a thundering
# herd (a herd once exhausted the gateway's Redis pool; the pool now waits instead).
CONNECT_CONCURRENCY = 24
HELLO_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ClientSpec:
    """One client connection: who it is and where it connects."""

    user_id: str
    url: str
    token: str
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


# Only the fields the load generator reads; msgspec skips the rest without building objects.
class _Data(msgspec.Struct):
    t_pub_ns: int | None = None


class _Notification(msgspec.Struct):
    id: str
    data: _Data = msgspec.field(default_factory=_Data)


class _Frame(msgspec.Struct):
    type: str
    notification: _Notification | None = None


class Worker:
    """The connections of one worker process and what they received."""

    def __init__(self) -> None:
        self.sockets: dict[str, WsClient] = {}
        self.received = Received()
        self.seen: set[tuple[str, str]] = set()
        self.decoder = msgspec.json.Decoder(_Frame)

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

    async def _open(self, spec: ClientSpec) -> None:
        url = urlsplit(spec.url)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        loop = asyncio.get_running_loop()

        def on_text(payload: bytes, now_ns: int) -> None:
            frame = self.decoder.decode(payload)
            if frame.type == "notification" and frame.notification is not None:
                self._record(spec.user_id, frame.notification, now_ns)

        _, client = await loop.create_connection(
            lambda: WsClient(f"{host}:{port}", url.path or "/", spec.token, on_text),
            host,
            port,
            local_addr=(spec.local_host, 0) if spec.local_host else None,
        )
        hello = await asyncio.wait_for(client.first_text, HELLO_TIMEOUT_S)
        if b'"hello"' not in hello:
            client.close()
            raise AssertionError(f"expected hello, got {hello[:120]!r}")
        self.sockets[spec.user_id] = client

    def _record(self, user_id: str, notification: _Notification, now_ns: int) -> None:
        r = self.received
        r.frames += 1
        r.last_frame_ns = now_ns
        nid = notification.id
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
        return {"frames": self.received.frames, "last_frame_ns": self.received.last_frame_ns}

    async def close(self) -> None:
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
