"""The WebSocket framing the gateway speaks after its upgrade (ws_protocol.py), checked byte by
byte with a raw TCP client: what the handshake negotiates, fragments, masks, control frames,
protocol errors and the closing handshake; and that an open socket holds no task."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from devstack.polling import wait_until
from gateway.ws_protocol import WebSocket
from gwkit import GatewayFactory, RunningGateway, connect_live, make_token

KEY = base64.b64encode(b"0123456789abcdef").decode()
ACCEPT = "BACScCJPNqyz+UBoqMH89VmURoA="  # SHA-1 of KEY and the RFC 6455 GUID, base64


@dataclass
class Raw:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    head: str

    async def send(
        self, opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv: int = 0
    ) -> None:
        self.writer.write(frame(opcode, payload, fin, mask, rsv))
        await self.writer.drain()

    async def receive(self, timeout: float = 10.0) -> tuple[int, bytes]:
        """The next frame from the server (unmasked, unfragmented): opcode and payload."""
        async with asyncio.timeout(timeout):
            b0, b1 = await self.reader.readexactly(2)
            assert b1 & 0x80 == 0, "server frames are not masked"
            length = b1 & 0x7F
            if length == 126:
                length = int.from_bytes(await self.reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await self.reader.readexactly(8), "big")
            return b0 & 0x0F, await self.reader.readexactly(length)

    async def receive_json(self) -> dict[str, object]:
        opcode, payload = await self.receive()
        assert opcode == 0x1, (opcode, payload)
        result: dict[str, object] = json.loads(payload)
        return result

    async def close_code(self) -> int:
        """Skip to the server's close frame; its code."""
        while True:
            opcode, payload = await self.receive()
            if opcode == 0x8:
                return int.from_bytes(payload[:2], "big")

    async def hung_up(self) -> bool:
        async with asyncio.timeout(10):
            return await self.reader.read(1) == b""


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv: int = 0) -> bytes:
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def upgrade_request(port: int, query: str = "", extra_headers: str = "", token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"GET /ws{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
        f"{auth}{extra_headers}\r\n"
    ).encode()


async def open_raw(gw: RunningGateway, request: bytes) -> Raw:
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(request)
    await writer.drain()
    async with asyncio.timeout(10):
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
    return Raw(reader, writer, head)


@pytest.fixture
async def raw(gateway: RunningGateway) -> AsyncIterator[Raw]:
    client = await open_raw(gateway, upgrade_request(gateway.port, token=make_token("raw")))
    assert (await client.receive_json())["type"] == "hello"
    assert (await client.receive_json())["type"] == "catchup.done"
    try:
        yield client
    finally:
        client.writer.close()


async def test_the_upgrade_negotiates_no_extension_and_no_subprotocol(gateway: RunningGateway) -> None:
    offer = "Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Protocol: chat, v2\r\n"
    client = await open_raw(
        gateway, upgrade_request(gateway.port, extra_headers=offer, token=make_token("u"))
    )
    lines = client.head.lower().split("\r\n")
    assert lines[0] == "http/1.1 101 switching protocols"
    assert "upgrade: websocket" in lines
    assert "connection: upgrade" in lines
    assert f"sec-websocket-accept: {ACCEPT}".lower() in lines
    assert not any(line.startswith(("sec-websocket-extensions", "sec-websocket-protocol")) for line in lines)
    client.writer.close()


async def test_a_bad_upgrade_request_is_refused_with_400(gateway: RunningGateway) -> None:
    bad = upgrade_request(gateway.port).replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 99")
    client = await open_raw(gateway, bad)
    assert client.head.startswith("HTTP/1.1 400")
    client.writer.close()


async def test_an_auth_frame_sent_with_the_upgrade_request_is_read(gateway: RunningGateway) -> None:
    auth = json.dumps({"type": "auth", "token": make_token("eager")}).encode()
    client = await open_raw(gateway, upgrade_request(gateway.port) + frame(0x1, auth))
    assert (await client.receive_json())["type"] == "hello"
    client.writer.close()


async def test_100_kib_sent_with_the_upgrade_request_are_read(gateway_factory: GatewayFactory) -> None:
    # More than aiohttp's read buffer (64 KiB): it pauses reading while it holds such a tail.
    gw = await gateway_factory(max_frame_bytes=256 * 1024)
    auth = json.dumps({"type": "auth", "token": make_token("eager")}).encode()
    client = await open_raw(gw, upgrade_request(gw.port) + frame(0x1, auth) + frame(0x2, b"x" * 100_000))
    assert (await client.receive_json())["type"] == "hello"
    assert (await client.receive_json())["type"] == "catchup.done"
    assert (await client.receive_json())["code"] == "bad_frame"  # the binary frame, read whole
    client.writer.close()


async def test_fragmented_and_unmasked_text_is_reassembled(raw: Raw) -> None:
    await raw.send(0x1, b'{"type":', fin=False)
    await raw.send(0x9, b"between")  # a control frame may come between fragments
    await raw.send(0x0, b'"pi', fin=False, mask=False)
    await raw.send(0x0, b'ng"}')
    assert await raw.receive() == (0xA, b"between")
    assert await raw.receive_json() == {"type": "pong"}


async def test_a_large_frame_within_the_limit_is_read(raw: Raw) -> None:
    await raw.send(0x1, json.dumps({"type": "ping", "pad": "x" * 10_000}).encode())
    assert (await raw.receive_json())["type"] == "error"  # strict decoding refuses `pad`; not a close


async def test_a_binary_frame_is_answered_with_an_error_and_the_socket_stays(raw: Raw) -> None:
    await raw.send(0x2, b"\x00\x01")
    assert (await raw.receive_json())["code"] == "bad_frame"
    await raw.send(0x1, b'{"type":"ping"}')
    assert await raw.receive_json() == {"type": "pong"}


@pytest.mark.parametrize(
    ("opcode", "payload", "rsv", "code"),
    [
        (0x1, b"\xff\xfe", 0, 1007),  # invalid UTF-8
        (0x1, b"{}", 0x40, 1002),  # RSV1 without a negotiated extension
        (0x3, b"", 0, 1002),  # reserved opcode
        (0x0, b"x", 0, 1002),  # continuation with nothing to continue
        (0x9, b"x" * 126, 0, 1002),  # control frame over 125 bytes
        (0x8, (1005).to_bytes(2, "big"), 0, 1002),  # a close code no endpoint may send
    ],
)
async def test_a_protocol_error_closes_with_its_code_then_waits_for_the_hang_up(
    raw: Raw, opcode: int, payload: bytes, rsv: int, code: int
) -> None:
    await raw.send(opcode, payload, rsv=rsv)
    assert await raw.close_code() == code
    raw.writer.close()


async def test_a_client_close_is_answered_and_the_server_hangs_up(raw: Raw) -> None:
    await raw.send(0x8, (1000).to_bytes(2, "big") + b"bye")
    assert await raw.close_code() == 1000
    assert await raw.hung_up()


async def test_after_its_close_frame_the_server_reads_until_the_clients_close(
    gateway_factory: GatewayFactory,
) -> None:
    gw = await gateway_factory(max_frame_bytes=1024)
    client = await open_raw(gw, upgrade_request(gw.port, token=make_token("big")))
    await client.send(0x1, b"x" * 5000)
    assert await client.close_code() == 1009
    for _ in range(20):  # frames the client wrote before it read the close: discarded
        await client.send(0x1, b'{"type":"ping"}')
    await client.send(0x8, (1009).to_bytes(2, "big"))
    assert await client.hung_up()  # the TCP close only after the client's close frame
    client.writer.close()


async def test_an_open_socket_holds_no_task_and_no_aiohttp_handler(
    gateway: RunningGateway, http: aiohttp.ClientSession
) -> None:
    sockets = [await connect_live(http, gateway, make_token(f"idle-{i}")) for i in range(20)]
    await wait_until(lambda: not _connection_tasks(), what="no task per open socket")
    assert gateway.running.runner.server is not None
    assert gateway.running.runner.server.connections == []
    assert len(gateway.node.sockets) == 20
    for ws in sockets:
        await ws.send_str('{"type":"ping"}')
        assert (await ws.receive_json(timeout=10))["type"] == "pong"
        await ws.close()
    await wait_until(lambda: len(gateway.node.sockets) == 0, what="sessions closed")


def _connection_tasks() -> list[str]:
    """Tasks of aiohttp's request handling or of the endpoint (the node's own loops are not)."""
    names = [task.get_coro().__qualname__ for task in asyncio.all_tasks()]  # type: ignore[union-attr]
    return [n for n in names if n.startswith(("RequestHandler.", "WebSocketEndpoint."))]


class Wire(asyncio.Transport):
    """The server's side of a socket, in memory: what the protocol wrote, and whether it closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class NoEndpoint:
    def received(self, socket: WebSocket) -> None:
        pass

    def ended(self, socket: WebSocket) -> None:
        pass


async def test_a_refused_frame_cut_inside_its_mask_key_is_skipped_whole() -> None:
    wire = Wire()
    socket = WebSocket(wire, NoEndpoint(), max_bytes=1024)
    big = frame(0x1, b"x" * 5000)  # header: 2 + 2 length bytes, then the 4-byte mask key
    socket.data_received(big[:6])
    assert wire.written == bytes((0x88, 17)) + (1009).to_bytes(2, "big") + b"frame too large"
    socket.data_received(big[6:] + frame(0x8, (1000).to_bytes(2, "big")))
    assert wire.closed  # the client's close frame was found right after the skipped payload
